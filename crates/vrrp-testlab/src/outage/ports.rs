//! Watches what each router sends out of its bridge port, with kernel time stamps: the
//! origin of a frame is the port, so the new Master's answers are told from the old
//! one's even when both use the same virtual MAC.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::frames::{Probe, Seen, classify};
use crate::benchkit::{
    Res, Worker, enable_stamps, in_netns, lock, packet_socket, poll_in, recv_stamped,
};

/// Which router sent a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Router {
    /// r1, the Master that goes away.
    Old,
    /// r2, the Backup that takes over.
    New,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) t: i64,
    pub(crate) from: Router,
    pub(crate) seen: Seen,
}

pub(crate) struct PortWatch {
    events: Arc<Mutex<Vec<Event>>>,
    probe: Arc<Mutex<Option<Probe>>>,
    _worker: Worker,
}

impl PortWatch {
    /// Watches the bridge ports `old` (r1) and `new` (r2) in namespace `bridge_ns`.
    pub(crate) fn start(bridge_ns: &str, old: &str, new: &str, max: Duration) -> Res<PortWatch> {
        let (old, new) = (old.to_string(), new.to_string());
        let socks = in_netns(bridge_ns, move || {
            let a = packet_socket(&old)?.0;
            let b = packet_socket(&new)?.0;
            enable_stamps(&a)?;
            enable_stamps(&b)?;
            Ok([a, b])
        })?;
        let events = Arc::new(Mutex::new(Vec::new()));
        let probe = Arc::new(Mutex::new(None));
        let (e, p) = (events.clone(), probe.clone());
        let worker = Worker::spawn("outage-ports", move |stop| {
            watch_loop(&socks, max, stop, &e, &p)
        })?;
        Ok(PortWatch {
            events,
            probe,
            _worker: worker,
        })
    }

    /// Forgets past events and classifies from now on for `probe`.
    pub(crate) fn reset(&self, probe: Probe) {
        *lock(&self.probe) = Some(probe);
        lock(&self.events).clear();
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
}

fn watch_loop(
    socks: &[OwnedFd; 2],
    max: Duration,
    stop: &AtomicBool,
    events: &Mutex<Vec<Event>>,
    probe: &Mutex<Option<Probe>>,
) {
    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::SeqCst) && start.elapsed() < max {
        poll_in(&[&socks[0], &socks[1]], Duration::from_millis(50));
        let Some(p) = *lock(probe) else { continue };
        for (sock, from) in socks.iter().zip([Router::Old, Router::New]) {
            for _ in 0..1024 {
                let Some(s) = recv_stamped(sock, &mut buf) else {
                    break;
                };
                // On the bridge side, what the router sent arrives; what the bridge
                // forwards to the router leaves (PACKET_OUTGOING).
                if s.pkttype == libc::PACKET_OUTGOING {
                    continue;
                }
                let Some(seen) = classify(&p, &buf[..s.len]) else {
                    continue;
                };
                lock(events).push(Event { t: s.t, from, seen });
            }
        }
    }
}
