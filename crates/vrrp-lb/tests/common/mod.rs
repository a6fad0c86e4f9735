//! Spec builders and a test driver that plays the daemon: it answers probes, applies the
//! data-path changes to its own copy and checks the core's invariants on every step.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use vrrp_lb::check::{CheckKind, CheckOutcome, CheckTarget, CheckTiming, CheckerSpec};
use vrrp_lb::dataplane::{DesiredState, apply};
use vrrp_lb::spec::{
    BalancerSpec, Forwarding, Protocol, RealServerKey, RealServerSpec, Scheduler, SchedulerFlags,
    ServiceAddr, ServiceId, ServiceKey, ServiceSpec,
};
use vrrp_lb::{Balancer, CheckerId, Event, Input, Output, Timestamp};

pub(crate) const VIP: &str = "10.99.0.100:80";

pub(crate) fn ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

pub(crate) fn sid() -> ServiceId {
    ServiceId {
        key: ServiceKey::Socket(VIP.parse().unwrap()),
        protocol: Protocol::Tcp,
    }
}

pub(crate) fn key(n: u8) -> RealServerKey {
    RealServerKey {
        addr: IpAddr::from([10, 99, 1, n]),
        port: 80,
    }
}

pub(crate) fn tcp(
    delay_loop_ms: u64,
    retry: u32,
    before_retry_ms: u64,
    warmup_ms: u64,
) -> CheckerSpec {
    CheckerSpec {
        kind: CheckKind::Tcp,
        timing: CheckTiming {
            delay_loop: Duration::from_millis(delay_loop_ms),
            connect_timeout: Duration::from_secs(3),
            retry,
            delay_before_retry: Duration::from_millis(before_retry_ms),
            warmup: Duration::from_millis(warmup_ms),
            alpha: false,
            log_all_failures: false,
        },
        target: CheckTarget::default(),
    }
}

pub(crate) fn real_server(n: u8, weight: u32, checkers: Vec<CheckerSpec>) -> RealServerSpec {
    RealServerSpec {
        key: key(n),
        weight,
        forwarding: Forwarding::Nat,
        inhibit_on_failure: false,
        upper_threshold: 0,
        lower_threshold: 0,
        alpha: false,
        has_notify: false,
        checkers,
    }
}

pub(crate) fn service(real_servers: Vec<RealServerSpec>) -> ServiceSpec {
    let sa: SocketAddr = VIP.parse().unwrap();
    ServiceSpec {
        id: sid(),
        addrs: vec![ServiceAddr::Socket(sa)],
        scheduler: Scheduler::Wrr,
        flags: SchedulerFlags::default(),
        forwarding: Forwarding::Nat,
        persistence: None,
        quorum: 1,
        hysteresis: 0,
        sorry_server: None,
        omega: false,
        ha_suspend: false,
        real_servers,
    }
}

pub(crate) fn one(service: ServiceSpec) -> BalancerSpec {
    BalancerSpec {
        services: vec![service],
    }
}

/// Plays the daemon around a balancer.
pub(crate) struct Driver {
    pub(crate) b: Balancer,
    pub(crate) now: Timestamp,
    /// The data path as the emitted changes built it.
    pub(crate) applied: DesiredState,
    pub(crate) events: Vec<(Timestamp, Event)>,
    /// Probes asked and not yet answered.
    pub(crate) outstanding: HashMap<CheckerId, u64>,
    /// Every `DataPath` output, with its time.
    pub(crate) changes: usize,
}

impl Driver {
    pub(crate) fn new(spec: BalancerSpec, seed: u64) -> Self {
        let b = Balancer::new(spec, ms(0), seed);
        let mut d = Driver {
            b,
            now: ms(0),
            applied: DesiredState::default(),
            events: Vec::new(),
            outstanding: HashMap::new(),
            changes: 0,
        };
        d.drain();
        d
    }

    /// Drains the outputs, checking the invariants; returns the probes asked.
    pub(crate) fn drain(&mut self) -> Vec<CheckerId> {
        let mut asked = Vec::new();
        while let Some(out) = self.b.poll_output() {
            match out {
                Output::RunCheck { checker, probe, .. } => {
                    assert!(
                        self.outstanding.insert(checker.clone(), probe).is_none(),
                        "a second probe for {checker:?} while one is out"
                    );
                    asked.push(checker);
                }
                Output::DataPath(changes) => {
                    assert!(!changes.is_empty(), "an empty change list");
                    self.changes += 1;
                    for c in &changes {
                        apply(&mut self.applied, c);
                    }
                }
                Output::Event(e) => self.events.push((self.now, e)),
            }
        }
        assert_eq!(
            &self.applied,
            self.b.desired(),
            "changes do not lead to desired()"
        );
        if let Some(t) = self.b.poll_timeout() {
            assert!(t > self.now, "deadline {t} is not after now {}", self.now);
        }
        asked
    }

    pub(crate) fn input(&mut self, input: Input) -> Vec<CheckerId> {
        self.b.handle(self.now, input);
        self.drain()
    }

    pub(crate) fn answer(&mut self, checker: CheckerId, outcome: CheckOutcome) -> Vec<CheckerId> {
        let probe = self.outstanding.remove(&checker).unwrap_or(0);
        self.input(Input::CheckDone {
            checker,
            probe,
            outcome,
            latency: Some(Duration::from_millis(1)),
        })
    }

    /// Runs until `until`, answering each probe at once with `oracle(checker, now)`.
    pub(crate) fn run_until(
        &mut self,
        until: Timestamp,
        mut oracle: impl FnMut(&CheckerId, Timestamp) -> CheckOutcome,
    ) {
        let mut asked: Vec<CheckerId> = self.outstanding.keys().cloned().collect();
        // Answered last first (`pop`): sorted so that runs are reproducible.
        asked.sort_by_key(|c| std::cmp::Reverse((c.service.clone(), c.real_server, c.index)));
        loop {
            while let Some(c) = asked.pop() {
                let outcome = oracle(&c, self.now);
                asked.extend(self.answer(c, outcome));
            }
            match self.b.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = t;
                    asked = self.input(Input::Timeout);
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// The weight of `rs` in the service's data path, if it is there.
    pub(crate) fn weight(&self, rs: RealServerKey) -> Option<u32> {
        self.b
            .desired()
            .services
            .get(&sid())
            .and_then(|s| s.destinations.get(&rs))
            .map(|d| d.weight)
    }

    pub(crate) fn fifo(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(_, e)| e.fifo_line())
            .collect()
    }
}

pub(crate) fn up_except(
    bad: RealServerKey,
    from: Timestamp,
) -> impl FnMut(&CheckerId, Timestamp) -> CheckOutcome {
    move |c, now| {
        if c.real_server == bad && now >= from {
            CheckOutcome::Down("connection refused".into())
        } else {
            CheckOutcome::Up
        }
    }
}
