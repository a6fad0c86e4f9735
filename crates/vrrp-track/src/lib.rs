//! Trackers and hooks for vrrpd, off the protocol thread.
//!
//! * [`script`]: runs one command as a given user, in its own process group, with a hard
//!   timeout that kills the whole group; never leaves zombies.
//! * [`tracker`]: `vrrp_script` (rise/fall, init_fail) and the [`TrackerEvent`] channel
//!   every tracker reports on.
//! * [`file`](mod@file): `track_file`, with inotify on the file's directory.
//! * [`process`]: `vrrp_track_process`, by polling `/proc`.
//! * [`weights`]: keepalived's weight rules for every tracker kind, as a pure function.
//! * [`security`]: `script_user`, `enable_script_security` checks at config load.
//! * [`notify`]: per-instance ordered notify hooks with timeouts.
//! * [`fifo`]: the notify FIFO and its reader script.
//!
//! Everything here runs on its own thread with its own tokio runtime
//! ([`TrackingThread`]), so a slow or hung script never delays the protocol thread; the
//! protocol thread only sends (hooks, FIFO lines) and receives ([`TrackerEvent`]s) on
//! channels. See `docs/tracking.md` for the wiring.

pub mod fifo;
pub mod file;
pub mod notify;
pub mod process;
pub mod script;
pub mod security;
pub mod tracker;
/// keepalived's weight rules live in the protocol core, which applies them.
pub use vrrp_core::weights;

use std::io;
use std::thread;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub use fifo::{FifoScript, FifoState, NotifyFifo};
pub use file::{FileInit, FileSpec, FileTracker};
pub use notify::{Hook, HookScript, NotifyQueue, NotifyScripts, NotifyState, Scope};
pub use process::{ParamMatch, ProcessSpec};
pub use script::{Outcome, RunAs, ScriptCommand, ScriptResult};
pub use tracker::{ScriptSpec, TrackerEvent, TrackerKind, TrackerStatus};
pub use weights::{Adjustment, TrackState, Tracked, effective_priority, priority_adjustment};

/// A thread running a current-thread tokio runtime for trackers, hooks and the FIFO.
///
/// Spawn work on it with [`TrackingThread::handle`]. Dropping it (or [`TrackingThread::stop`])
/// stops the runtime: running trackers and hooks are dropped, which kills their process
/// groups.
pub struct TrackingThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    join: Option<thread::JoinHandle<()>>,
}

impl TrackingThread {
    /// Starts the thread (named `vrrp-track`).
    pub fn start() -> io::Result<TrackingThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("vrrp-track-blocking")
            .build()?;
        let handle = runtime.handle().clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let join = thread::Builder::new()
            .name("vrrp-track".to_string())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stop_rx.await;
                });
                // Dropping the runtime drops every task (killing script process groups)
                // and waits for blocking work (a /proc scan) to end.
                drop(runtime);
            })?;
        Ok(TrackingThread {
            handle,
            stop: Some(stop_tx),
            join: Some(join),
        })
    }

    /// The runtime's handle, to spawn trackers and start queues on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for TrackingThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}
