//! The client: every PROBE_PERIOD it asks who has the VIP (ARP / Neighbour
//! Solicitation) and sends an echo request and a TCP SYN to the MAC last announced for
//! it, as a client with a fresh neighbour entry would. Its answers are timed at the
//! routers' bridge ports (`ports`), not here.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::frames::{Probe, echo_req, owner_of, resolve_req, syn};
use crate::benchkit::{Res, Worker, in_netns, packet_socket, poll_in, recv_stamped, send_frame};

/// The client's probe period (one resolution, one echo, one SYN each).
pub(crate) const PROBE_PERIOD: Duration = Duration::from_millis(1);

pub(crate) struct Client {
    _worker: Worker,
}

impl Client {
    pub(crate) fn start(ns: &str, probe: Probe, max: Duration) -> Res<Client> {
        let sock = in_netns(ns, || packet_socket("eth0"))?.0;
        let worker = Worker::spawn("outage-client", move |stop| {
            client_loop(&sock, &probe, max, stop)
        })?;
        Ok(Client { _worker: worker })
    }
}

fn client_loop(sock: &OwnedFd, p: &Probe, max: Duration, stop: &AtomicBool) {
    let start = Instant::now();
    let mut next = start;
    let mut owner: Option<[u8; 6]> = None;
    let mut seq: u16 = 0;
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::SeqCst) && start.elapsed() < max {
        let now = Instant::now();
        if now >= next {
            send_frame(sock, &resolve_req(p));
            if let Some(m) = owner {
                send_frame(sock, &echo_req(p, &m, seq));
                send_frame(sock, &syn(p, &m, seq));
            }
            seq = seq.wrapping_add(1);
            next += PROBE_PERIOD;
            if next < now {
                next = now + PROBE_PERIOD;
            }
        }
        let wait = next.saturating_duration_since(Instant::now());
        poll_in(&[sock], wait);
        while let Some(s) = recv_stamped(sock, &mut buf) {
            let f = &buf[..s.len];
            if s.pkttype == libc::PACKET_OUTGOING || f.len() < 14 || f[6..12] == p.mac {
                continue;
            }
            if let Some(m) = owner_of(p, f) {
                owner = Some(m);
            }
        }
    }
}
