//! The notify FIFO (`notify_fifo`, `vrrp_notify_fifo`) and its reader script.
//!
//! Lines, in keepalived's format (`vrrp_notify.c`), one per event, in order:
//!
//! ```text
//! INSTANCE "VI_1" MASTER 100
//! INSTANCE "VI_1" BACKUP 100
//! GROUP "G1" FAULT 0
//! INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100
//! INSTANCE "VI_1" MASTER_PRIORITY 90          (notify_priority_changes)
//! ```
//!
//! and vrrpd's observer line, written when the Master heard by an instance changes:
//!
//! ```text
//! INSTANCE "VI_1" MASTER_CHANGE 10.99.0.2 150
//! INSTANCE "VI_1" MASTER_CHANGE none 0        (no Master heard any more)
//! ```
//!
//! The FIFO is created with `mkfifo` (mode 0600, then owned by the given user) when absent,
//! and opened read-write and non-blocking, as keepalived does: holding a read end means the
//! open never waits for a reader, a write never fails with EPIPE, and lines written while no
//! reader is attached wait in the pipe (64 KiB) for the next reader. One writer task writes
//! the lines in order; when the pipe is full it waits (without blocking anyone: pushing is
//! a channel send), and beyond [`MAX_QUEUED`] waiting lines new ones are dropped and counted.

use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use tokio::io::AsyncWriteExt as _;
use tokio::net::unix::pipe;
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{info, warn};

use crate::notify::{NotifyState, Scope};
use crate::script::{self, RunAs, ScriptCommand};

/// Lines waiting to be written beyond which new lines are dropped.
pub const MAX_QUEUED: usize = 10_000;

/// The event of a FIFO line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoState {
    /// A state change (`MASTER`, `BACKUP`, `FAULT`, `STOP`, `DELETED`).
    State(NotifyState),
    /// `MASTER_RX_LOWER_PRI`: a Master heard a lower-priority advertisement.
    MasterRxLowerPri,
    /// `MASTER_PRIORITY`: a Master's priority changed (`notify_priority_changes`).
    MasterPriority,
    /// `BACKUP_PRIORITY`: a Backup's priority changed (`notify_priority_changes`).
    BackupPriority,
}

impl FifoState {
    /// The word written on the FIFO line.
    pub fn as_str(self) -> &'static str {
        match self {
            FifoState::State(s) => s.as_str(),
            FifoState::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
            FifoState::MasterPriority => "MASTER_PRIORITY",
            FifoState::BackupPriority => "BACKUP_PRIORITY",
        }
    }
}

/// `INSTANCE "VI_1" MASTER 100` (with the newline).
pub fn state_line(scope: Scope, name: &str, state: FifoState, priority: u8) -> String {
    let priority = if scope == Scope::Group { 0 } else { priority };
    format!(
        "{} \"{name}\" {} {priority}\n",
        scope.as_str(),
        state.as_str()
    )
}

/// `INSTANCE "VI_1" MASTER_CHANGE 10.99.0.2 150`, or `... MASTER_CHANGE none 0` (with the
/// newline).
pub fn master_change_line(instance: &str, master: Option<IpAddr>, priority: u8) -> String {
    match master {
        Some(a) => format!("INSTANCE \"{instance}\" MASTER_CHANGE {a} {priority}\n"),
        None => format!("INSTANCE \"{instance}\" MASTER_CHANGE none 0\n"),
    }
}

/// Creates the FIFO at `path` if absent (mode 0600, owner `owner`), or checks that the
/// existing file is a FIFO.
pub fn create_fifo(path: &Path, owner: Option<RunAs>) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => return Ok(()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a FIFO", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("mkfifo {}: {e}", path.display()),
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if let Some(o) = owner {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(o.uid)),
            Some(nix::unistd::Gid::from_raw(o.gid)),
        )
        .map_err(io::Error::from)?;
    }
    Ok(())
}

struct Shared {
    queued: AtomicUsize,
    dropped: AtomicUsize,
    idle: Notify,
}

/// An open notify FIFO. Cheap to clone; writing never blocks and keeps the order of calls.
#[derive(Clone)]
pub struct NotifyFifo {
    path: PathBuf,
    tx: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
}

impl NotifyFifo {
    /// Creates (if needed) and opens the FIFO, and starts its writer on the current runtime.
    pub fn open(path: &Path, owner: Option<RunAs>) -> io::Result<NotifyFifo> {
        Self::open_on(&Handle::current(), path, owner)
    }

    /// The same, on the runtime of `handle`.
    pub fn open_on(handle: &Handle, path: &Path, owner: Option<RunAs>) -> io::Result<NotifyFifo> {
        create_fifo(path, owner)?;
        let sender = {
            let _guard = handle.enter();
            pipe::OpenOptions::new()
                .read_write(true)
                .open_sender(path)?
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            idle: Notify::new(),
        });
        handle.spawn(writer(sender, rx, Arc::clone(&shared), path.to_path_buf()));
        Ok(NotifyFifo {
            path: path.to_path_buf(),
            tx,
            shared,
        })
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one line (a newline is added if missing).
    pub fn write_line(&self, line: impl Into<String>) {
        let mut line = line.into();
        if !line.ends_with('\n') {
            line.push('\n');
        }
        if self.shared.queued.load(Ordering::SeqCst) >= MAX_QUEUED {
            let n = self.shared.dropped.fetch_add(1, Ordering::SeqCst);
            if n.is_power_of_two() || n == 0 {
                warn!(
                    "notify FIFO {}: no reader keeps up; {} lines dropped so far",
                    self.path.display(),
                    n + 1
                );
            }
            return;
        }
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(line).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// `INSTANCE|GROUP "NAME" STATE PRIORITY`.
    pub fn state(&self, scope: Scope, name: &str, state: FifoState, priority: u8) {
        self.write_line(state_line(scope, name, state, priority));
    }

    /// `INSTANCE "NAME" MASTER_CHANGE ADDRESS|none PRIORITY`.
    pub fn master_change(&self, instance: &str, master: Option<IpAddr>, priority: u8) {
        self.write_line(master_change_line(instance, master, priority));
    }

    /// Lines dropped because the queue was full.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Waits until every queued line is in the pipe, at most `timeout`.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.queued.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.shared.queued.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

async fn writer(
    mut sender: pipe::Sender,
    mut rx: mpsc::UnboundedReceiver<String>,
    shared: Arc<Shared>,
    path: PathBuf,
) {
    while let Some(line) = rx.recv().await {
        if let Err(e) = sender.write_all(line.as_bytes()).await {
            warn!("notify FIFO {}: write failed: {e}", path.display());
        }
        if shared.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            shared.idle.notify_waiters();
        }
    }
}

/// A running `notify_fifo_script` (`vrrp_notify_fifo_script`): started with the FIFO path as
/// its last argument, in its own process group, restarted (after 1 s, doubling up to 30 s)
/// when it exits. [`FifoScript::stop`] (or dropping it) kills its process group.
pub struct FifoScript {
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl FifoScript {
    /// Starts `argv FIFO_PATH` as `run_as` on the current runtime.
    pub fn start(argv: Vec<String>, run_as: Option<RunAs>, fifo: &Path) -> FifoScript {
        Self::start_on(&Handle::current(), argv, run_as, fifo)
    }

    /// The same, on the runtime of `handle`.
    pub fn start_on(
        handle: &Handle,
        mut argv: Vec<String>,
        run_as: Option<RunAs>,
        fifo: &Path,
    ) -> FifoScript {
        argv.push(fifo.display().to_string());
        let mut cmd = ScriptCommand::new(argv, Duration::MAX);
        cmd.run_as = run_as;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        handle.spawn(async move {
            supervise(cmd, stop_rx).await;
            let _ = done_tx.send(());
        });
        FifoScript {
            stop: Some(stop_tx),
            done: Some(done_rx),
        }
    }

    /// Kills the script's process group (SIGTERM, then SIGKILL after 2 s) and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = d.await;
        }
    }
}

impl Drop for FifoScript {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn supervise(cmd: ScriptCommand, mut stop: oneshot::Receiver<()>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let mut child = match script::spawn_in_group(&cmd) {
            Ok(c) => c,
            Err(e) => {
                warn!(
                    "notify_fifo_script {}: cannot start: {e}; retrying in {} s",
                    cmd.display(),
                    backoff.as_secs()
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = &mut stop => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        let pid = child.id();
        info!(
            "notify_fifo_script started: {} (pid {})",
            cmd.display(),
            pid.unwrap_or(0)
        );
        let started = tokio::time::Instant::now();
        tokio::select! {
            status = child.wait() => {
                if let Some(p) = pid {
                    script::kill_group(p, Signal::SIGKILL);
                }
                warn!("notify_fifo_script {} exited ({}); restarting in {} s",
                    cmd.display(),
                    status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    backoff.as_secs());
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_secs(1);
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = &mut stop => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            _ = &mut stop => {
                if let Some(p) = pid {
                    script::kill_group(p, Signal::SIGTERM);
                    if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
                        script::kill_group(p, Signal::SIGKILL);
                        let _ = child.wait().await;
                    }
                    script::kill_group(p, Signal::SIGKILL);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_line_format() {
        assert_eq!(
            state_line(
                Scope::Instance,
                "VI_1",
                FifoState::State(NotifyState::Master),
                100
            ),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(
            state_line(
                Scope::Group,
                "G1",
                FifoState::State(NotifyState::Backup),
                100
            ),
            "GROUP \"G1\" BACKUP 0\n"
        );
        assert_eq!(
            state_line(Scope::Instance, "VI_1", FifoState::MasterRxLowerPri, 100),
            "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\n"
        );
        assert_eq!(
            master_change_line("VI_1", Some("10.99.0.2".parse().unwrap()), 150),
            "INSTANCE \"VI_1\" MASTER_CHANGE 10.99.0.2 150\n"
        );
        assert_eq!(
            master_change_line("VI_1", None, 150),
            "INSTANCE \"VI_1\" MASTER_CHANGE none 0\n"
        );
    }
}
