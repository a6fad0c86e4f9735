//! The rtnetlink connection's own thread, and the address worker on it.
//!
//! The kernel serves a netlink request in the context of the thread that sends it, within
//! `sendmsg`, under the RTNL lock: a waiter spins on that lock while its owner runs on
//! another CPU (any `ip`, interface teardown or namespace deletion on the host may hold it for
//! milliseconds), then sleeps. On the real-time protocol thread that spin counted against
//! `vrrp_rlimit_rttime` and got the daemon killed (docs/reliability.md, "Chaos on the LAN").
//! So the connection task, which does the socket I/O, runs here, SCHED_OTHER; the protocol
//! thread only passes requests and answers through its channels.
//!
//! The address worker runs here too: a takeover's address requests and their
//! acknowledgements then stay on this thread (no hop back to the protocol thread before the
//! gratuitous ARPs), and bursts of thousands of GARP/NA do not count against the protocol
//! thread's real-time budget.

use std::io;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vrrp_linux::netlink::Netlink;

use crate::addresses::{self, Job};

/// Starts the thread, opens the connection on it and starts the address worker there on
/// `jobs`. Returns the connection (for the protocol thread's own requests) and the worker.
/// Called on the protocol thread after the capability drop (the thread inherits the kept
/// set) and before the real-time policy (it stays SCHED_OTHER).
pub(crate) fn spawn(jobs: mpsc::UnboundedReceiver<Job>) -> io::Result<(Netlink, JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("vrrpd-netlink".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                match Netlink::new() {
                    Ok(nl) => {
                        let worker = tokio::task::spawn_local(addresses::run(nl.clone(), jobs));
                        let _ = tx.send(Ok((nl, worker)));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                // Serves the connection and the worker as long as the process lives.
                std::future::pending::<()>().await;
            });
        })?;
    rx.recv()
        .map_err(|_| io::Error::other("the netlink thread ended at start"))?
}
