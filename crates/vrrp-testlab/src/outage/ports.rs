//! Watches what each router sends out of its bridge port, with kernel time stamps: the
//! origin of a frame is the port, so the new Master's answers are told from the old
//! one's even when both use the same virtual MAC.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frames::{Probe, Seen, classify};
use crate::benchkit::{
    Res, enable_stamps, err, in_netns, lock, packet_socket, poll_in, recv_stamped,
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
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<Event>>>,
    probe: Arc<Mutex<Option<Probe>>>,
    pub(crate) fallbacks: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
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
        let w = PortWatch {
            stop: Arc::new(AtomicBool::new(false)),
            events: Arc::new(Mutex::new(Vec::new())),
            probe: Arc::new(Mutex::new(None)),
            fallbacks: Arc::new(AtomicU64::new(0)),
            handle: None,
        };
        let (s, e, p, f) = (
            w.stop.clone(),
            w.events.clone(),
            w.probe.clone(),
            w.fallbacks.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("outage-ports".into())
            .spawn(move || watch_loop(&socks, max, &s, &e, &p, &f))
            .map_err(err("port watch thread"))?;
        let mut w = w;
        w.handle = Some(handle);
        Ok(w)
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

impl Drop for PortWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn watch_loop(
    socks: &[OwnedFd; 2],
    max: Duration,
    stop: &AtomicBool,
    events: &Mutex<Vec<Event>>,
    probe: &Mutex<Option<Probe>>,
    fallbacks: &AtomicU64,
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
                if s.fallback {
                    fallbacks.fetch_add(1, Ordering::Relaxed);
                }
                lock(events).push(Event { t: s.t, from, seen });
            }
        }
    }
}
