//! The rtnetlink connection's own thread.
//!
//! The kernel serves a netlink request in the context of the thread that sends it, within
//! `sendmsg`, under the RTNL lock: a waiter spins on that lock while its owner runs on
//! another CPU (any `ip`, interface teardown or namespace deletion on the host may hold it for
//! milliseconds), then sleeps. On the real-time protocol thread that spin counted against
//! `vrrp_rlimit_rttime` and got the daemon killed (docs/reliability.md, "Chaos on the LAN").
//! So the connection task, which does the socket I/O, runs here, SCHED_OTHER; the protocol
//! thread only passes requests and answers through its channels.

use std::io;

use vrrp_linux::netlink::Netlink;

/// Starts the thread and opens the connection on it. Called on the protocol thread after
/// the capability drop (the thread inherits the kept set) and before the real-time policy
/// (it stays SCHED_OTHER).
pub(crate) fn spawn() -> io::Result<Netlink> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("vrrpd-netlink".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let _ = tx.send(Netlink::new());
                // Serves the connection as long as the process lives.
                std::future::pending::<()>().await;
            });
        })?;
    rx.recv()
        .map_err(|_| io::Error::other("the netlink thread ended at start"))?
}
