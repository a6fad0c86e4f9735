//! The control socket: a Unix stream socket speaking a small versioned JSON protocol
//! (`docs/control.md`), served on its own thread so that a slow or hostile client can never
//! delay the protocol thread.
//!
//! Each request is one JSON line; each answer one JSON line. The control thread forwards
//! requests to the protocol thread over a channel and relays the answer; `watch` streams the
//! events the protocol thread publishes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

/// The protocol version in every request and answer.
pub(crate) const PROTOCOL_VERSION: u64 = 1;
/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// What a client asks of the protocol thread.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    Status,
    Show {
        instance: String,
    },
    /// Temporary priority (`None`: back to the configured priority and trackers).
    Priority {
        instance: String,
        priority: Option<u8>,
    },
    Maintenance {
        instance: String,
        on: bool,
    },
    Reload,
    /// A snapshot for the metrics endpoint.
    Metrics,
}

/// A request on its way to the protocol thread, with who asked and where to answer.
#[derive(Debug)]
pub(crate) struct ControlRequest {
    pub request: Request,
    /// "uid U pid P" of the client, for the log of operator actions.
    pub who: String,
    pub reply: oneshot::Sender<Result<Value, String>>,
}

/// Starts the control thread listening on `path`.
pub(crate) fn spawn(
    path: &Path,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Sender<String>,
    metrics: Option<(
        std::net::SocketAddr,
        prometheus_client::metrics::histogram::Histogram,
    )>,
) -> Result<()> {
    let path = path.to_path_buf();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory of {}", path.display()))?;
    }
    // A socket file left by a killed daemon: the pid file lock already proved no daemon
    // with our pid file runs, so it is ours to replace.
    if path.exists() {
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let std_listener = std::os::unix::net::UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    std_listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("vrrpd-control".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    warn!("control socket disabled: cannot start its runtime: {e}");
                    return;
                }
            };
            runtime.block_on(async move {
                if let Some((addr, lateness)) = metrics {
                    tokio::spawn(crate::metrics::serve(addr, requests.clone(), lateness));
                }
                serve(std_listener, path, requests, events).await
            });
        })
        .context("cannot start the control thread")?;
    Ok(())
}

async fn serve(
    std_listener: std::os::unix::net::UnixListener,
    path: PathBuf,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Sender<String>,
) {
    let listener = match UnixListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            warn!("control socket {} disabled: {e}", path.display());
            return;
        }
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let our_uid = unsafe { libc::geteuid() };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!("control socket: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let requests = requests.clone();
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = client(stream, our_uid, requests, events).await {
                debug!("control client: {e}");
            }
        });
    }
}

async fn client(
    stream: UnixStream,
    our_uid: u32,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Sender<String>,
) -> std::io::Result<()> {
    let cred = stream.peer_cred()?;
    let who = format!(
        "uid {} pid {}",
        cred.uid(),
        cred.pid()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "?".into())
    );
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if cred.uid() != 0 && cred.uid() != our_uid {
        // Read (and ignore) the request first: a client whose write fails on a closed
        // socket would not see the answer.
        let mut ignored = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            (&mut reader)
                .take(MAX_REQUEST as u64 + 1)
                .read_until(b'\n', &mut ignored),
        )
        .await;
        let answer = error_answer(&format!("permission denied for uid {}", cred.uid()));
        write.write_all(answer.as_bytes()).await?;
        return Ok(());
    }
    loop {
        // Read at most one request's worth: a line without an end must not grow forever.
        let mut raw = Vec::new();
        let n = (&mut reader)
            .take(MAX_REQUEST as u64 + 1)
            .read_until(b'\n', &mut raw)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if raw.len() > MAX_REQUEST {
            write
                .write_all(error_answer("request too long").as_bytes())
                .await?;
            return Ok(());
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = match parse_request(line) {
            Ok(p) => p,
            Err(e) => {
                write.write_all(error_answer(&e).as_bytes()).await?;
                continue;
            }
        };
        let request = match parsed {
            Parsed::Watch => return watch(write, events.subscribe()).await,
            Parsed::Request(r) => r,
        };
        let (reply, answer) = oneshot::channel();
        let sent = requests
            .send(ControlRequest {
                request,
                who: who.clone(),
                reply,
            })
            .await;
        let text = match (sent, answer.await) {
            (Ok(()), Ok(Ok(result))) => {
                json!({"v": PROTOCOL_VERSION, "ok": true, "result": result}).to_string() + "\n"
            }
            (Ok(()), Ok(Err(e))) => error_answer(&e),
            _ => error_answer("the daemon is shutting down"),
        };
        write.write_all(text.as_bytes()).await?;
    }
}

/// Streams every event (one JSON line each) until the client goes away.
async fn watch(
    mut write: tokio::net::unix::OwnedWriteHalf,
    mut events: broadcast::Receiver<String>,
) -> std::io::Result<()> {
    let hello = json!({"v": PROTOCOL_VERSION, "ok": true, "result": "watching"}).to_string() + "\n";
    write.write_all(hello.as_bytes()).await?;
    loop {
        match events.recv().await {
            Ok(event) => {
                write.write_all(event.as_bytes()).await?;
                write.write_all(b"\n").await?;
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let note =
                    json!({"v": PROTOCOL_VERSION, "event": {"type": "lagged", "missed": missed}});
                write
                    .write_all((note.to_string() + "\n").as_bytes())
                    .await?;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

fn error_answer(message: &str) -> String {
    json!({"v": PROTOCOL_VERSION, "ok": false, "error": message}).to_string() + "\n"
}

#[derive(Debug, PartialEq)]
enum Parsed {
    Watch,
    Request(Request),
}

fn parse_request(line: &str) -> Result<Parsed, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let version = value.get("v").and_then(Value::as_u64);
    if version != Some(PROTOCOL_VERSION) {
        return Err(format!(
            "unsupported protocol version {version:?}; this daemon speaks {PROTOCOL_VERSION}"
        ));
    }
    let command = value
        .get("command")
        .and_then(Value::as_str)
        .ok_or("missing \"command\"")?;
    let instance = || {
        value
            .get("instance")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{command} needs \"instance\""))
    };
    Ok(match command {
        "status" => Parsed::Request(Request::Status),
        "watch" => Parsed::Watch,
        "reload" => Parsed::Request(Request::Reload),
        "show" => Parsed::Request(Request::Show {
            instance: instance()?,
        }),
        "priority" => {
            let priority = match value.get("priority") {
                None | Some(Value::Null) => None,
                Some(p) => Some(
                    p.as_u64()
                        .and_then(|p| u8::try_from(p).ok())
                        .filter(|p| (1..=254).contains(p))
                        .ok_or("priority must be 1-254, or null to reset")?,
                ),
            };
            Parsed::Request(Request::Priority {
                instance: instance()?,
                priority,
            })
        }
        "maintenance" => {
            let on = value
                .get("on")
                .and_then(Value::as_bool)
                .ok_or("maintenance needs \"on\": true or false")?;
            Parsed::Request(Request::Maintenance {
                instance: instance()?,
                on,
            })
        }
        other => return Err(format!("unknown command {other:?}")),
    })
}

/// Logs an operator action with who asked.
pub(crate) fn log_action(who: &str, what: &str) {
    info!("operator ({who}): {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(
            parse_request(r#"{"v":1,"command":"status"}"#),
            Ok(Parsed::Request(Request::Status))
        );
        assert_eq!(
            parse_request(r#"{"v":1,"command":"watch"}"#),
            Ok(Parsed::Watch)
        );
        assert_eq!(
            parse_request(r#"{"v":1,"command":"priority","instance":"VI_1","priority":50}"#),
            Ok(Parsed::Request(Request::Priority {
                instance: "VI_1".into(),
                priority: Some(50)
            }))
        );
        assert_eq!(
            parse_request(r#"{"v":1,"command":"priority","instance":"VI_1","priority":null}"#),
            Ok(Parsed::Request(Request::Priority {
                instance: "VI_1".into(),
                priority: None
            }))
        );
        assert_eq!(
            parse_request(r#"{"v":1,"command":"maintenance","instance":"VI_1","on":true}"#),
            Ok(Parsed::Request(Request::Maintenance {
                instance: "VI_1".into(),
                on: true
            }))
        );
        assert!(parse_request(r#"{"v":2,"command":"status"}"#).is_err());
        assert!(
            parse_request(r#"{"v":1,"command":"priority","instance":"x","priority":255}"#).is_err()
        );
        assert!(parse_request(r#"{"v":1,"command":"show"}"#).is_err());
        assert!(parse_request("garbage").is_err());
    }
}
