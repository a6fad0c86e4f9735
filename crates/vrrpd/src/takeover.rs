//! The takeover path, step by step: from the moment the protocol queued a new Master's
//! addresses (its takeover advertisement leaves in the same turn, right after) to the
//! requests to the kernel, its acknowledgements and the first gratuitous ARPs / unsolicited
//! NAs. Recorded by the address worker, exported as `vrrp_takeover_seconds{step}` and
//! logged (debug) once per takeover after its first burst: a few clock reads per address,
//! nothing written before the burst. Also the path's readiness: the address worker kept
//! awake just before a Backup may take over ([`Readiness`]).

use std::collections::VecDeque;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tracing::debug;
use vrrp_core::Timestamp;

use crate::addresses::Job;

/// How long before a Backup's Master_Down_Timer the address worker is woken and kept
/// polling its jobs. Woken from sleep by the takeover itself, it took 77–381 µs (median
/// 166) to pick the addresses up (docs/benchmarks.md, "Outage seen by a client").
const READY_LEAD: Duration = Duration::from_millis(1);
/// How long past that deadline it keeps polling (the timer may fire late).
const READY_AFTER: Duration = Duration::from_millis(2);

/// Readies the address path ahead of a possible takeover: the protocol thread wakes
/// [`READY_LEAD`] before a deadline that may make a member Master and sends
/// [`Job::Ready`]. With a live Master that deadline stays intervals away, so this costs
/// nothing until the Master goes silent.
#[derive(Default)]
pub(crate) struct Readiness {
    /// The deadline the worker was readied for.
    readied: Option<Timestamp>,
}

impl Readiness {
    /// When to wake for the node's next deadline `next`: earlier if it may take over
    /// and the worker is not readied for it yet; readies it once within the lead.
    pub(crate) fn wake_at(
        &mut self,
        now: Timestamp,
        next: Option<Timestamp>,
        may_take_over: bool,
        jobs: &UnboundedSender<Job>,
    ) -> Option<Timestamp> {
        let Some(deadline) = next.filter(|_| may_take_over) else {
            return next;
        };
        if self.readied == Some(deadline) {
            return next;
        }
        let ahead = deadline.saturating_duration_since(now);
        if ahead > READY_LEAD {
            let lead = u64::try_from(READY_LEAD.as_nanos()).unwrap_or(u64::MAX);
            return Some(Timestamp::from_nanos(
                deadline.as_nanos().saturating_sub(lead),
            ));
        }
        self.readied = Some(deadline);
        let _ = jobs.send(Job::Ready(Instant::now() + ahead + READY_AFTER));
        next
    }
}

/// The worker's side of [`Readiness`]: polls for jobs, yielding the CPU between polls (the
/// protocol thread may share it), until one comes or `until`. It runs between jobs, so no
/// request of the worker's is in flight; the thread's other tasks (the netlink connection,
/// paced announcements) wait meanwhile, at most READY_LEAD + READY_AFTER.
pub(crate) fn poll_jobs(
    jobs: &mut UnboundedReceiver<Job>,
    queued: &mut VecDeque<Job>,
    until: Instant,
) {
    while Instant::now() < until {
        match jobs.try_recv() {
            Ok(job) => {
                queued.push_back(job);
                return;
            }
            Err(TryRecvError::Empty) => std::thread::yield_now(),
            Err(TryRecvError::Disconnected) => return,
        }
    }
}

/// Upper bounds (seconds): one address takes tens of µs, 10,000 take tenths of a second.
const BUCKETS: [f64; 12] = [
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 250e-3, 1.0,
];

type Steps = Family<Vec<(&'static str, &'static str)>, Histogram, fn() -> Histogram>;

static STEPS: LazyLock<Steps> =
    LazyLock::new(|| Family::new_with_constructor(|| Histogram::new(BUCKETS)));

/// One instance's takeover, times since its addresses were queued.
pub(crate) struct Trace {
    queued: Instant,
    requested: Option<Instant>,
    first_ack: Option<Instant>,
    last_ack: Option<Instant>,
    first_announce: Option<Instant>,
    last_announce: Option<Instant>,
    addresses: usize,
}

impl Trace {
    pub(crate) fn new(queued: Instant) -> Trace {
        Trace {
            queued,
            requested: None,
            first_ack: None,
            last_ack: None,
            first_announce: None,
            last_announce: None,
            addresses: 0,
        }
    }

    /// The first address request is handed to the netlink thread.
    pub(crate) fn requested(&mut self) {
        self.requested.get_or_insert_with(Instant::now);
    }

    /// The kernel acknowledged an address.
    pub(crate) fn acknowledged(&mut self) {
        let now = Instant::now();
        self.first_ack.get_or_insert(now);
        self.last_ack = Some(now);
        self.addresses += 1;
    }

    /// A gratuitous ARP / unsolicited NA of the first round went out.
    pub(crate) fn announced(&mut self) {
        let now = Instant::now();
        self.first_announce.get_or_insert(now);
        self.last_announce = Some(now);
    }

    /// The first round is out: records the steps.
    pub(crate) fn finish(&self, name: &str) {
        let steps = [
            ("requested", self.requested),
            ("first_ack", self.first_ack),
            ("acknowledged", self.last_ack),
            ("first_announce", self.first_announce),
            ("announced", self.last_announce),
        ];
        for (step, at) in steps {
            if let Some(at) = at {
                STEPS
                    .get_or_create(&vec![("step", step)])
                    .observe(at.duration_since(self.queued).as_secs_f64());
            }
        }
        let us = |at: Option<Instant>| {
            at.map_or(u128::MAX, |t| {
                t.duration_since(self.queued)
                    .max(Duration::ZERO)
                    .as_micros()
            })
        };
        debug!(
            "{name}: takeover trace: {} addresses; µs after the takeover: requested {}, first ack {}, last ack {}, first GARP/NA {}, first round sent {}",
            self.addresses,
            us(self.requested),
            us(self.first_ack),
            us(self.last_ack),
            us(self.first_announce),
            us(self.last_announce),
        );
    }
}

/// `vrrp_takeover_seconds{step}`.
pub(crate) fn register_metrics(registry: &mut Registry) {
    registry.register(
        "vrrp_takeover_seconds",
        "From queueing a new Master's addresses to each step: requested, first_ack, acknowledged (all), first_announce, announced (first round sent)",
        STEPS.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readies_the_worker_once_a_lead_before_a_takeover_deadline() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut r = Readiness::default();
        let ms = Timestamp::from_millis;
        let down = ms(100);
        // Far ahead: wake a lead early, nothing sent yet.
        assert_eq!(r.wake_at(ms(10), Some(down), true, &tx), Some(ms(99)));
        assert!(rx.try_recv().is_err());
        // Within the lead: the worker is readied, and the wake-up is the deadline.
        assert_eq!(r.wake_at(ms(99), Some(down), true, &tx), Some(down));
        assert!(matches!(rx.try_recv(), Ok(Job::Ready(_))));
        // Once per deadline.
        let later = Timestamp::from_micros(99_500);
        assert_eq!(r.wake_at(later, Some(down), true, &tx), Some(down));
        assert!(rx.try_recv().is_err());
        // Other deadlines (a Master's advertisement timer) and none: untouched.
        assert_eq!(r.wake_at(ms(10), Some(ms(300)), false, &tx), Some(ms(300)));
        assert_eq!(r.wake_at(ms(10), None, true, &tx), None);
        assert!(rx.try_recv().is_err());
    }
}
