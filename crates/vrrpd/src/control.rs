//! The control socket: a Unix stream socket speaking a small versioned JSON protocol
//! (`docs/control.md`), served on its own thread so that a slow or hostile client can never
//! delay the protocol thread.
//!
//! Each request is one JSON line; each answer one JSON line, both of the typed contract in
//! `vrrp_control`. The control thread parses requests, forwards them (typed) to the protocol
//! thread over a channel and serializes its typed reply; `watch` streams the events the
//! protocol thread publishes.

pub(crate) mod gate;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};
use vrrp_control::{Answer, Event, Reply, Request, WatchLine};

use gate::{Endpoint, Gate, Refusal, Ticket};

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// Clients served at once (watchers included); beyond, the longest idle one makes room.
pub(crate) const MAX_CLIENTS: usize = 64;
/// How long a client may take to send a complete request (after connecting, or after its
/// previous answer).
pub(crate) const REQUEST_WAIT: Duration = Duration::from_secs(10);
/// How long a client may take to read one answer (or one watched event).
pub(crate) const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// What the control thread asks of the protocol thread.
#[derive(Debug)]
pub(crate) enum ControlRequest {
    /// A client's request (never `watch`, which the control thread serves itself).
    Client {
        request: Request,
        /// "uid U pid P" of the client, for the log of operator actions.
        who: String,
        reply: oneshot::Sender<Result<Reply, String>>,
    },
    /// A snapshot for the metrics endpoint (and the load balancer's answer to come).
    Metrics {
        reply: oneshot::Sender<crate::metrics::Scrape>,
    },
}

/// Makes `path` free for our control socket. A socket that answers belongs to a live
/// daemon (another one, with its own pid file): it is never taken over. A socket nothing
/// answers on was left by a killed daemon and is removed; one that vanished meanwhile (a
/// daemon starting beside us cleaned it up) is fine.
pub(crate) fn claim_socket(path: &Path) -> Result<()> {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => anyhow::bail!(
            "another daemon answers on the control socket {}; give this one its own with \
             --control-socket",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                Err(e).with_context(|| format!("cannot remove the stale socket {}", path.display()))
            }
        },
    }
}

/// Starts the control thread listening on `path`.
pub(crate) fn spawn(
    path: &Path,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Sender<Event>,
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
    // `claim_socket` ran at start-up: a live daemon's socket is not ours to replace.
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
    events: broadcast::Sender<Event>,
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
    let gate = Gate::new(Endpoint::Control, MAX_CLIENTS);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: wait rather than spin.
                warn!("control socket: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(ticket) = gate.admit() else {
            // A fresh socket's buffer takes one line without blocking.
            let busy = format!("too many clients ({} at most); try again", gate.cap());
            let _ = stream.try_write(error_answer(&busy).as_bytes());
            continue;
        };
        let requests = requests.clone();
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = client(stream, &ticket, our_uid, requests, events).await {
                debug!("control client: {e}");
            }
        });
    }
}

async fn client(
    stream: UnixStream,
    ticket: &Ticket,
    our_uid: u32,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Sender<Event>,
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
        return refuse_peer(&mut reader, &mut write, cred.uid()).await;
    }
    loop {
        let Some(raw) = next_request(&mut reader, &mut write, ticket).await? else {
            return Ok(());
        };
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let request = match Request::parse(line) {
            Ok(Request::Watch) => return watch(write, events.subscribe()).await,
            Ok(r) => r,
            Err(e) => {
                count(Refusal::Malformed);
                send(&mut write, &error_answer(&e)).await?;
                continue;
            }
        };
        let (reply, answer) = oneshot::channel();
        let sent = requests
            .send(ControlRequest::Client {
                request,
                who: who.clone(),
                reply,
            })
            .await;
        let text = match (sent, answer.await) {
            (Ok(()), Ok(result)) => Answer::from(result).to_line(),
            _ => error_answer("the daemon is shutting down"),
        };
        send(&mut write, &text).await?;
    }
}

/// Answers a peer that is neither root nor the daemon's user, and closes.
async fn refuse_peer(
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
    uid: u32,
) -> std::io::Result<()> {
    count(Refusal::Permission);
    // Read (and ignore) the request first: a client whose write fails on a closed socket
    // would not see the answer.
    let _ = tokio::time::timeout(Duration::from_secs(1), read_request(reader)).await;
    let answer = error_answer(&format!(
        "permission denied for uid {uid}: the control socket serves root and the daemon's user"
    ));
    send(write, &answer).await
}

/// The next request line, within the limits; `None` when the connection ends (the client
/// closed, or was told why it is closed).
async fn next_request(
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
    ticket: &Ticket,
) -> std::io::Result<Option<Vec<u8>>> {
    ticket.idle();
    let raw = tokio::select! {
        raw = tokio::time::timeout(REQUEST_WAIT, read_request(reader)) => raw,
        () = ticket.evicted() => {
            let why = format!("closed to make room for another client ({MAX_CLIENTS} at most)");
            send(write, &error_answer(&why)).await?;
            return Ok(None);
        }
    };
    ticket.busy();
    let Ok(raw) = raw else {
        count(Refusal::Idle);
        let why = format!("no complete request within {}s", REQUEST_WAIT.as_secs());
        send(write, &error_answer(&why)).await?;
        return Ok(None);
    };
    let raw = raw?;
    if raw.len() > MAX_REQUEST {
        count(Refusal::TooLong);
        let why = format!("request too long ({MAX_REQUEST} bytes at most)");
        send(write, &error_answer(&why)).await?;
        return Ok(None);
    }
    Ok((!raw.is_empty()).then_some(raw))
}

/// Reads at most one request's worth: a line without an end must not grow forever. Empty:
/// the client closed.
async fn read_request(reader: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    reader
        .take(MAX_REQUEST as u64 + 1)
        .read_until(b'\n', &mut raw)
        .await?;
    Ok(raw)
}

/// Writes one line, giving up on a client that does not read it in time.
async fn send(write: &mut OwnedWriteHalf, line: &str) -> std::io::Result<()> {
    match tokio::time::timeout(ANSWER_WAIT, write.write_all(line.as_bytes())).await {
        Ok(written) => written,
        Err(_) => {
            count(Refusal::SlowReader);
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client did not read its answer in time",
            ))
        }
    }
}

fn count(reason: Refusal) {
    gate::count(Endpoint::Control, reason);
}

/// Streams every event (one JSON line each) until the client goes away.
async fn watch(
    mut write: OwnedWriteHalf,
    mut events: broadcast::Receiver<Event>,
) -> std::io::Result<()> {
    send(&mut write, &Answer::Ok(Reply::Watching).to_line()).await?;
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => Event::Lagged { missed },
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        send(&mut write, &WatchLine::new(event).to_line()).await?;
    }
}

fn error_answer(message: &str) -> String {
    Answer::<Reply>::Error(message.to_string()).to_line()
}

/// Logs an operator action with who asked.
pub(crate) fn log_action(who: &str, what: &str) {
    info!("operator ({who}): {what}");
}
