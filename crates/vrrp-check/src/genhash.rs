//! `keepalived --genhash`: fetches one URL and reports its header, body and the MD5 digest a
//! `digest` line needs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use vrrp_lb::check::HttpVersion;

use crate::http::{exchange, hex, request};
use crate::net::{Target, connect_tcp};
use crate::tls::Tls;
use crate::{SetupError, Stage, secs};

/// What to fetch (genhash's options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenhashRequest {
    /// `-s`: the server.
    pub server: IpAddr,
    /// `-p`: its port.
    pub port: u16,
    /// `-u`: the path.
    pub path: String,
    /// `-V`: the Host header (else the address and port).
    pub vhost: Option<String>,
    /// `-S`: over TLS (no verification of the server).
    pub ssl: bool,
    /// `-I`: the TLS server name (none: no SNI).
    pub sni: Option<String>,
    /// `-t`: the deadline of the whole fetch.
    pub timeout: Duration,
    /// `-P`: the HTTP version.
    pub version: HttpVersion,
    /// `-m`: the fwmark of its packets.
    pub fwmark: Option<u32>,
}

/// What the server sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenhashReport {
    /// The status line, without its line end.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// The raw header, status line and blank line included.
    pub header: Vec<u8>,
    /// The first [`crate::BODY_PREFIX_LIMIT`] bytes of the body.
    pub body: Vec<u8>,
    /// The whole body's length.
    pub body_len: u64,
    /// The body's MD5 (up to its `Content-Length`).
    pub digest: [u8; 16],
}

impl GenhashReport {
    /// The digest in lower-case hex: what `digest` takes, and all genhash prints by default.
    pub fn digest_hex(&self) -> String {
        hex(&self.digest)
    }
}

/// Why genhash failed.
#[derive(Debug, thiserror::Error)]
pub enum GenhashError {
    /// The TLS context could not be made.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The fetch failed, and why.
    #[error("{0}")]
    Fetch(String),
}

/// Fetches `req.path` and digests the body, within `req.timeout`.
pub async fn genhash(req: GenhashRequest) -> Result<GenhashReport, GenhashError> {
    let tls = if req.ssl { Some(Tls::new(None)?) } else { None };
    let addr = SocketAddr::new(req.server, req.port);
    let target = Target::plain(addr, req.fwmark);
    let stage = Stage::new("connecting");
    let bytes = request(&req.path, req.vhost.as_deref(), addr, req.version);
    let fetch = async {
        let mut tcp = connect_tcp(&target, &stage).await?;
        match &tls {
            None => exchange(&mut tcp, &bytes, true, &stage).await,
            Some(tls) => {
                let mut s = tls
                    .connect(tcp, req.sni.as_deref(), req.server, &stage)
                    .await?;
                exchange(&mut s, &bytes, true, &stage).await
            }
        }
    };
    let resp = match tokio::time::timeout(req.timeout, fetch).await {
        Ok(r) => r.map_err(GenhashError::Fetch)?,
        Err(_) => {
            return Err(GenhashError::Fetch(format!(
                "{addr}: timeout after {} {}",
                secs(req.timeout),
                stage.get()
            )));
        }
    };
    let line_end = resp
        .header
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(resp.header.len());
    let status_line = String::from_utf8_lossy(&resp.header[..line_end])
        .trim_end()
        .to_string();
    Ok(GenhashReport {
        status_line,
        status: resp.status,
        header: resp.header,
        body: resp.body_prefix,
        body_len: resp.body_len,
        digest: resp.digest,
    })
}

const DELIM_BEGIN: &str = "-----------------------[";
const DELIM_END: &str = "]-----------------------";

/// genhash's verbose layout (`-v`): the header as a hex dump and as text, the body as a hex
/// dump (its first [`crate::BODY_PREFIX_LIMIT`] bytes), the digest as a hex dump, then the digest.
impl fmt::Display for GenhashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{DELIM_BEGIN}    HTTP Header Buffer    {DELIM_END}")?;
        dump(f, &self.header)?;
        writeln!(f, "{DELIM_BEGIN} HTTP Header Ascii Buffer {DELIM_END}")?;
        writeln!(f, "{}", String::from_utf8_lossy(&self.header))?;
        writeln!(f, "{DELIM_BEGIN}        HTML Buffer        {DELIM_END}")?;
        dump(f, &self.body)?;
        writeln!(f)?;
        writeln!(f, "{DELIM_BEGIN}    HTML hash resulting    {DELIM_END}")?;
        dump(f, &self.digest)?;
        writeln!(f, "{DELIM_BEGIN} HTML hash final resulting {DELIM_END}")?;
        writeln!(f, "{}", self.digest_hex())
    }
}

/// keepalived's `dump_buffer`: offset, 16 bytes in hex (a `-` after the eighth), then the
/// printable ones.
fn dump(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for (row, chunk) in bytes.chunks(16).enumerate() {
        write!(f, "{:04} ", (row * 16) & 0xffff)?;
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => write!(f, "{b:3.2x}")?,
                None => write!(f, "   ")?,
            }
            if i == 7 {
                write!(f, " -")?;
            }
        }
        write!(f, "   ")?;
        for i in 0..16 {
            let c = match chunk.get(i) {
                Some(&b) if (0x20..=0x7e).contains(&b) => char::from(b),
                Some(_) => '.',
                None => ' ',
            };
            write!(f, "{c}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}
