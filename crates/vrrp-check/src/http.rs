//! HTTP_GET and SSL_GET: one `GET` per `url`, as keepalived words it, over a fresh
//! connection; the response is read by hand (see docs/checkers.md for why not hyper).
//!
//! Bounds: the header may be at most [`HEADER_LIMIT`]; the body is read to the end of the
//! connection, to its `Content-Length` (which bounds the digest, as for keepalived) or to
//! the deadline, only when a `digest` or `regex` needs it, and then streamed through MD5
//! while only its first [`BODY_PREFIX_LIMIT`] bytes are kept for the regex.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use md5::{Digest as _, Md5};
use regex::bytes::{Regex, RegexBuilder};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use vrrp_lb::check::{CheckOutcome, HttpCheck, HttpVersion, UrlCheck};

use crate::net::{Target, connect_tcp, io_reason};
use crate::tls::Tls;
use crate::{Stage, Verdict};

/// How much of a body `regex` sees (and `genhash` keeps): its first MiB. keepalived
/// matches buffer by buffer; a pattern beyond the first MiB is not found here.
pub const BODY_PREFIX_LIMIT: usize = 1 << 20;

/// The largest response header accepted.
pub(crate) const HEADER_LIMIT: usize = 64 * 1024;

/// The request keepalived sends (`check_http.c`, `request_template`): the Host header is the
/// virtual host, else the address and port.
pub(crate) fn request(
    path: &str,
    vhost: Option<&str>,
    addr: SocketAddr,
    version: HttpVersion,
) -> Vec<u8> {
    let minor = if version == HttpVersion::V1_1 { 1 } else { 0 };
    let close = match version {
        HttpVersion::V1_0 => "",
        HttpVersion::V1_0Close | HttpVersion::V1_1 => "Connection: close\r\n",
    };
    let host = match vhost {
        Some(v) => v.to_string(),
        None => addr.to_string(),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n"
    )
    .into_bytes()
}

/// A response as read.
#[derive(Debug)]
pub(crate) struct Response {
    /// The raw header, status line included, up to the blank line.
    pub(crate) header: Vec<u8>,
    /// The status code.
    pub(crate) status: u16,
    /// MD5 of the body (of nothing when the body was not read).
    pub(crate) digest: [u8; 16],
    /// The body's first [`BODY_PREFIX_LIMIT`] bytes.
    pub(crate) body_prefix: Vec<u8>,
    /// The body's length.
    pub(crate) body_len: u64,
}

/// Sends `req` on `s` and reads the response; the body only when `read_body`.
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    req: &[u8],
    read_body: bool,
    stage: &Stage,
) -> Result<Response, String> {
    stage.set("sending the request");
    s.write_all(req)
        .await
        .map_err(|e| format!("sending the request: {}", io_reason(&e)))?;
    s.flush()
        .await
        .map_err(|e| format!("sending the request: {}", io_reason(&e)))?;
    stage.set("reading the HTTP header");
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let header_end = loop {
        if let Some(end) = header_end(&buf) {
            break end;
        }
        if buf.len() > HEADER_LIMIT {
            return Err(format!(
                "HTTP header longer than {} KiB",
                HEADER_LIMIT / 1024
            ));
        }
        let n = read(s, &mut chunk)
            .await
            .map_err(|e| format!("reading the HTTP header: {}", io_reason(&e)))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "connection closed by the server before any response".to_string()
            } else {
                format!(
                    "connection closed inside the HTTP header: {}",
                    excerpt(&buf)
                )
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let status = status_code(&buf)?;
    let rest = buf.split_off(header_end);
    let mut body = Body {
        md5: Md5::new(),
        prefix: Vec::new(),
        len: 0,
        left: content_length(&buf).unwrap_or(u64::MAX),
    };
    if read_body {
        stage.set("reading the body");
        body.take(&rest);
        while body.left > 0 {
            let n = read(s, &mut chunk)
                .await
                .map_err(|e| format!("reading the body: {}", io_reason(&e)))?;
            if n == 0 {
                break;
            }
            body.take(&chunk[..n]);
        }
    }
    Ok(Response {
        header: buf,
        status,
        digest: body.md5.finalize().into(),
        body_prefix: body.prefix,
        body_len: body.len,
    })
}

/// A body being read: digested whole, kept in part.
struct Body {
    md5: Md5,
    prefix: Vec<u8>,
    len: u64,
    /// What is left of the `Content-Length`.
    left: u64,
}

impl Body {
    fn take(&mut self, data: &[u8]) {
        let data = &data[..usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(data.len())];
        self.left -= data.len() as u64;
        self.md5.update(data);
        self.len += data.len() as u64;
        let room = BODY_PREFIX_LIMIT.saturating_sub(self.prefix.len());
        self.prefix.extend_from_slice(&data[..room.min(data.len())]);
    }
}

/// A read where a TLS peer closing without close_notify is an ordinary end, as for
/// keepalived (servers commonly do it).
async fn read<S: AsyncRead + Unpin>(s: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    match s.read(buf).await {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        r => r,
    }
}

/// The offset just past the blank line ending the header (CRLF or bare LF lines).
pub(crate) fn header_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The `Content-Length` of a header, when it has a valid one.
fn content_length(header: &[u8]) -> Option<u64> {
    header.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

/// The status code of `HTTP/x.y NNN reason`.
fn status_code(header: &[u8]) -> Result<u16, String> {
    let line_end = header
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(header.len());
    let line = &header[..line_end];
    let bad = || format!("not an HTTP status line: {}", excerpt(line));
    if !line.starts_with(b"HTTP/") {
        return Err(bad());
    }
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let _version = words.next();
    let code = words.next().ok_or_else(bad)?;
    let code = code.strip_suffix(b"\r").unwrap_or(code);
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)
}

/// At most 60 bytes of `b`, printable.
pub(crate) fn excerpt(b: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&b[..b.len().min(60)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("{s:?}")
}

/// Lower-case hex, as genhash prints a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Compiled `regex` patterns, so that a checker does not compile its pattern at every probe.
#[derive(Debug, Default)]
pub(crate) struct Regexes(Mutex<HashMap<String, Result<Arc<Regex>, String>>>);

impl Regexes {
    /// More patterns than any configuration has: past it, the cache starts again (patterns
    /// of configurations gone by are dropped).
    const MAX: usize = 1024;

    fn get(&self, pattern: &str) -> Result<Arc<Regex>, String> {
        let compile = || {
            RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map(Arc::new)
                .map_err(|e| format!("regex {pattern:?}: {e}"))
        };
        let Ok(mut cache) = self.0.lock() else {
            return compile();
        };
        if let Some(r) = cache.get(pattern) {
            return r.clone();
        }
        if cache.len() >= Self::MAX {
            cache.clear();
        }
        let r = compile();
        cache.insert(pattern.to_string(), r.clone());
        r
    }
}

/// Runs every `url` of an HTTP_GET (`tls` None) or SSL_GET checker: all must pass.
pub(crate) async fn probe(
    h: &HttpCheck,
    target: &Target,
    tls: Option<&Tls>,
    regexes: &Regexes,
    stage: &Stage,
) -> Verdict {
    if h.urls.is_empty() {
        return Err("no url to check".to_string());
    }
    for url in &h.urls {
        let vhost = url.virtualhost.as_deref().or(h.virtualhost.as_deref());
        // Both go into the request line and a header: no room for a second request.
        if !is_token(&url.path) {
            return Err(format!("invalid url path {:?}", url.path));
        }
        if let Some(v) = vhost.filter(|v| !is_token(v)) {
            return Err(format!("invalid virtualhost {v:?}"));
        }
        let req = request(&url.path, vhost, target.addr, h.version);
        let read_body = url.digest.is_some() || url.regex.is_some();
        let tcp = connect_tcp(target, stage).await?;
        let resp = match tls {
            None => {
                let mut tcp = tcp;
                exchange(&mut tcp, &req, read_body, stage).await
            }
            Some(tls) => {
                let sni = h.sni.as_deref();
                let mut s = tls.connect(tcp, sni, target.addr.ip(), stage).await?;
                let resp = exchange(&mut s, &req, read_body, stage).await;
                if h.tls_compliant {
                    stage.set("closing TLS");
                    let _ = s.shutdown().await;
                }
                resp
            }
        };
        let resp = resp.map_err(|e| format!("{}: {e}", url.path))?;
        check_url(url, &resp, regexes).map_err(|e| format!("{}: {e}", url.path))?;
    }
    Ok(CheckOutcome::Up)
}

/// Non-empty, without spaces or control characters.
fn is_token(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `resp` satisfies `url`'s status codes, digest and regex.
pub(crate) fn check_url(url: &UrlCheck, resp: &Response, regexes: &Regexes) -> Result<(), String> {
    let default = [200..=299];
    let ranges: &[RangeInclusive<u16>] = if url.status_codes.is_empty() {
        &default
    } else {
        &url.status_codes
    };
    if !ranges.iter().any(|r| r.contains(&resp.status)) {
        let list: Vec<String> = ranges
            .iter()
            .map(|r| match r.start() == r.end() {
                true => r.start().to_string(),
                false => format!("{}-{}", r.start(), r.end()),
            })
            .collect();
        return Err(format!(
            "HTTP status {} not in {}",
            resp.status,
            list.join(" ")
        ));
    }
    if let Some(want) = url.digest
        && want != resp.digest
    {
        return Err(format!(
            "digest {} != expected {}",
            hex(&resp.digest),
            hex(&want)
        ));
    }
    if let Some(pattern) = &url.regex {
        let re = regexes.get(pattern)?;
        let found = re.is_match(&resp.body_prefix);
        match (found, url.regex_no_match) {
            (true, true) => return Err(format!("body matches regex {pattern:?}")),
            (false, false) => return Err(format!("body does not match regex {pattern:?}")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_as_keepalived_words_it() {
        let a: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        let r = request("/x", None, a, HttpVersion::V1_0);
        assert_eq!(
            r,
            b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.1:8080\r\n\r\n"
        );
        let a6: SocketAddr = "[fd99::1]:80".parse().unwrap();
        let r = request("/", Some("www"), a6, HttpVersion::V1_1);
        assert_eq!(
            r,
            b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www\r\n\r\n"
        );
        let r = request("/", None, a6, HttpVersion::V1_0Close);
        assert!(r.ends_with(b"Connection: close\r\nHost: [fd99::1]:80\r\n\r\n"));
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(status_code(b"HTTP/1.0 503\r\n"), Ok(503));
        assert!(status_code(b"HTTP/1.1 20 OK\r\n").is_err());
        assert!(status_code(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status_code(b"").is_err());
    }

    #[test]
    fn content_lengths() {
        let h = b"HTTP/1.1 200 OK\r\nContent-length: 12\r\n\r\n";
        assert_eq!(content_length(h), Some(12));
        assert_eq!(
            content_length(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            None
        );
        assert_eq!(content_length(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }
}
