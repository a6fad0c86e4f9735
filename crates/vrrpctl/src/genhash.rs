//! `vrrpctl genhash`: keepalived's `genhash` (`keepalived --genhash`): fetch one URL from a
//! real server and print the MD5 digest of its body, the value an HTTP_GET or SSL_GET
//! `digest` needs. The fetch itself is `vrrp_check::genhash`, the checkers' own code, so the
//! digest is the one the checker will compute.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use vrrp_check::{GenhashReport, GenhashRequest};
use vrrp_lb::check::HttpVersion;

/// Where to fetch from: a URL, or genhash's `--server --port --url` triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The real server's address.
    pub server: IpAddr,
    /// Its port.
    pub port: u16,
    /// The path (and query).
    pub path: String,
    /// Over TLS (`https://` or `--ssl`).
    pub ssl: bool,
    /// The host name of the URL when it was a name: the default Host header and SNI.
    pub host_name: Option<String>,
}

/// `http[s]://HOST[:PORT][/PATH]`; a host name is resolved here (the first address).
pub fn parse_url(url: &str) -> Result<Target, String> {
    let (ssl, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!(
            "{url}: want http://HOST[:PORT]/PATH or https://..."
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default_port = if ssl { 443 } else { 80 };
    // `[v6]:port`, `[v6]`, `host:port`, `host`
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed [ in the address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("{url}: bad port {p:?}"))?,
            None if after.is_empty() => default_port,
            None => return Err(format!("{url}: unexpected {after:?} after the address")),
        };
        (addr, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("{url}: bad port {p:?}"))?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let (server, host_name) = match host.parse::<IpAddr>() {
        Ok(ip) => (ip, None),
        Err(_) => {
            let ip = (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("{host}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host}: no address"))?
                .ip();
            (ip, Some(host.to_string()))
        }
    };
    Ok(Target {
        server,
        port,
        path,
        ssl,
        host_name,
    })
}

/// genhash's `-P`: `1.0`, `1.0C` or `1.1`.
pub fn parse_protocol(s: &str) -> Result<HttpVersion, String> {
    match s {
        "1.0" => Ok(HttpVersion::V1_0),
        "1.0C" | "1.0c" => Ok(HttpVersion::V1_0Close),
        "1.1" => Ok(HttpVersion::V1_1),
        other => Err(format!("protocol {other:?}: want 1.0, 1.0C or 1.1")),
    }
}

/// Everything `vrrpctl genhash` was told.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to fetch.
    pub target: Target,
    /// `--vhost`: the Host header (default: the URL's host name, else the address).
    pub vhost: Option<String>,
    /// `--sni`: the TLS server name (default: the URL's host name, else none).
    pub sni: Option<String>,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--protocol`.
    pub version: HttpVersion,
    /// `--fwmark`: mark the probe's packets.
    pub fwmark: Option<u32>,
    /// `--verbose`: the header and the body as genhash `-v` shows them.
    pub verbose: bool,
}

/// Fetches and renders: `MD5SUM = HEX` as genhash prints it, or genhash `-v`'s dump.
pub fn run(opts: Options) -> Result<String, String> {
    let request = GenhashRequest {
        server: opts.target.server,
        port: opts.target.port,
        path: opts.target.path,
        vhost: opts.vhost.or_else(|| opts.target.host_name.clone()),
        ssl: opts.target.ssl,
        sni: opts
            .sni
            .or_else(|| opts.target.host_name.filter(|_| opts.target.ssl)),
        timeout: opts.timeout,
        version: opts.version,
        fwmark: opts.fwmark,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let report = runtime
        .block_on(vrrp_check::genhash(request))
        .map_err(|e| e.to_string())?;
    Ok(render(&report, opts.verbose))
}

fn render(report: &GenhashReport, verbose: bool) -> String {
    if verbose {
        report.to_string().trim_end().to_string()
    } else {
        format!("MD5SUM = {}", report.digest_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://10.0.0.1/index.html").expect("url");
        assert_eq!(
            (t.server.to_string(), t.port, t.path.as_str(), t.ssl),
            ("10.0.0.1".into(), 80, "/index.html", false)
        );
        let t = parse_url("https://[fd00::1]:8443").expect("url");
        assert_eq!(
            (t.server.to_string(), t.port, t.path.as_str(), t.ssl),
            ("fd00::1".into(), 8443, "/", true)
        );
        let t = parse_url("http://localhost:8080/a?b=c").expect("url");
        assert_eq!(t.port, 8080);
        assert_eq!(t.path, "/a?b=c");
        assert_eq!(t.host_name.as_deref(), Some("localhost"));
        for bad in ["ftp://x/", "http://", "http://10.0.0.1:x/", "http://[::1/"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocols() {
        assert_eq!(parse_protocol("1.0C"), Ok(HttpVersion::V1_0Close));
        assert_eq!(parse_protocol("1.1"), Ok(HttpVersion::V1_1));
        assert!(parse_protocol("2").is_err());
    }
}
