//! The takeover path, step by step: from the moment the protocol queued a new Master's
//! addresses (its takeover advertisement leaves in the same turn, right after) to the
//! requests to the kernel, its acknowledgements and the first gratuitous ARPs / unsolicited
//! NAs. Recorded by the address worker, exported as `vrrp_takeover_seconds{step}` and
//! logged (debug) once per takeover after its first burst: a few clock reads per address,
//! nothing written before the burst.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::debug;

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
