//! SMTP_CHECK: the 220 banner, `HELO name`, 250, `QUIT` and its answer, whatever its code
//! (`check_smtp.c`). Hand-written: the dialogue is three lines, and mail crates are for
//! sending mail, not for probing a server.

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use vrrp_lb::check::CheckOutcome;

use crate::http::excerpt;
use crate::net::{Target, connect_tcp, io_reason};
use crate::{Stage, Verdict};

/// The longest reply accepted (all lines of a multi-line reply together).
const REPLY_LIMIT: usize = 16 * 1024;

pub(crate) async fn probe(helo_name: &str, target: &Target, stage: &Stage) -> Verdict {
    if helo_name.contains(['\r', '\n']) {
        return Err(format!("invalid HELO name {helo_name:?}"));
    }
    let mut s = connect_tcp(target, stage).await?;
    stage.set("waiting for the SMTP banner");
    let mut pending = Vec::new();
    expect(&mut s, &mut pending, 220, "banner").await?;
    stage.set("waiting for the answer to HELO");
    let helo = format!("HELO {helo_name}\r\n");
    s.write_all(helo.as_bytes())
        .await
        .map_err(|e| format!("sending HELO: {}", io_reason(&e)))?;
    expect(&mut s, &mut pending, 250, "answer to HELO").await?;
    stage.set("waiting for the answer to QUIT");
    s.write_all(b"QUIT\r\n")
        .await
        .map_err(|e| format!("sending QUIT: {}", io_reason(&e)))?;
    reply_code(&mut s, &mut pending)
        .await
        .map_err(|e| format!("SMTP answer to QUIT: {e}"))?;
    Ok(CheckOutcome::Up)
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect<S: AsyncRead + Unpin>(
    s: &mut S,
    pending: &mut Vec<u8>,
    want: u16,
    what: &str,
) -> Result<(), String> {
    let code = reply_code(s, pending)
        .await
        .map_err(|e| format!("SMTP {what}: {e}"))?;
    if code != want {
        return Err(format!("SMTP {what}: code {code}, expected {want}"));
    }
    Ok(())
}

/// The code of the next reply: lines `NNN-text` continue it, `NNN text` ends it.
pub(crate) async fn reply_code<S: AsyncRead + Unpin>(
    s: &mut S,
    pending: &mut Vec<u8>,
) -> Result<u16, String> {
    let mut chunk = [0u8; 2048];
    loop {
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            let bad = || format!("not an SMTP reply: {}", excerpt(&line));
            if line.len() < 4 || !line[..3].iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            match line[3] {
                b'-' => continue,
                b' ' | b'\r' | b'\n' => {
                    let code = std::str::from_utf8(&line[..3]).map_err(|_| bad())?;
                    return code.parse().map_err(|_| bad());
                }
                _ => return Err(bad()),
            }
        }
        if pending.len() > REPLY_LIMIT {
            return Err(format!("reply line longer than {} KiB", REPLY_LIMIT / 1024));
        }
        let n = s.read(&mut chunk).await.map_err(|e| io_reason(&e))?;
        if n == 0 {
            return Err("connection closed by the server".to_string());
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}
