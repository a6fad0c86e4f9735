//! One checker's schedule and state, after keepalived's checker epilogues (`check_tcp.c`
//! `tcp_epilog` and its siblings): a failure while up is retried `retry` times,
//! `delay_before_retry` apart, before the checker fails; one success brings it back; the
//! next regular check is `delay_loop` after the previous one ended.

use std::time::Duration;

use vrrp_core::Timestamp;

use crate::check::{CheckKind, CheckOutcome, CheckerSpec};

/// Added to a probe's own timeout before the core stops waiting for the driver's answer: the
/// driver enforces the timeout, this only keeps a lost answer from wedging the checker.
pub(crate) const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// The shortest time between two probes of a checker: a `delay_loop 0` must not make a
/// driver that answers at once spin at one instant.
pub(crate) const MIN_DELAY: Duration = Duration::from_millis(1);

/// Where a checker is in its cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not running (its service is suspended, or the balancer stopped).
    Idle,
    /// The next probe starts at this time.
    Waiting(Timestamp),
    /// A probe is out; past this time it counts as failed.
    Probing(Timestamp),
}

/// What a finished probe changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The checker changed state: `Some(true)` up, `Some(false)` down.
    pub(crate) changed: Option<bool>,
    /// The probe failed without a state change (for `log_all_failures`).
    pub(crate) failed_quietly: bool,
    /// The weight the probe set (`misc_dynamic`).
    pub(crate) weight: Option<u32>,
    /// The offset from the configured weight the probe set (FILE_CHECK).
    pub(crate) offset: Option<i64>,
    /// The first probe of a checker that started failed (`alpha`) failed too: keepalived
    /// runs the real server's down notification once then, so scripts learn of a server that
    /// was never up (`update_svr_checker_state`, `!has_run`).
    pub(crate) confirmed_down: bool,
}

/// A checker as it runs.
#[derive(Clone, Debug)]
pub(crate) struct Checker {
    pub(crate) spec: CheckerSpec,
    pub(crate) up: bool,
    /// A probe has completed since the start (keepalived's `has_run`).
    pub(crate) has_run: bool,
    /// Retries done in the current failure run (keepalived's `retry_it`).
    pub(crate) retry_it: u32,
    pub(crate) consecutive_failures: u32,
    pub(crate) last_failure: Option<String>,
    pub(crate) last_check: Option<Timestamp>,
    pub(crate) last_latency: Option<Duration>,
    /// Probes launched: the number of the last one.
    pub(crate) probes: u64,
    pub(crate) phase: Phase,
}

impl Checker {
    /// A new checker, failed when `alpha` (its own or its real server's).
    pub(crate) fn new(spec: CheckerSpec, alpha: bool) -> Self {
        let up = !(alpha || spec.timing.alpha);
        Checker {
            spec,
            up,
            has_run: false,
            retry_it: 0,
            consecutive_failures: 0,
            last_failure: None,
            last_check: None,
            last_latency: None,
            probes: 0,
            phase: Phase::Idle,
        }
    }

    /// The same checker across a reload: the same kind probing the same target.
    pub(crate) fn same_probe(&self, spec: &CheckerSpec) -> bool {
        self.spec.kind == spec.kind && self.spec.target == spec.target
    }

    /// How long a probe may take before the driver gives up on it.
    pub(crate) fn probe_timeout(&self) -> Duration {
        match &self.spec.kind {
            CheckKind::Misc(misc) => misc.timeout.unwrap_or(self.spec.timing.delay_loop),
            _ => self.spec.timing.connect_timeout,
        }
    }

    /// The time this checker next needs the core.
    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::Idle => None,
            Phase::Waiting(t) | Phase::Probing(t) => Some(t),
        }
    }

    /// Starts the probe (the caller emits `RunCheck`); returns its attempt number (0: the
    /// regular check, n: the nth retry).
    pub(crate) fn launch(&mut self, now: Timestamp) -> u32 {
        self.phase = Phase::Probing(now + self.probe_timeout() + ANSWER_MARGIN);
        self.probes += 1;
        self.retry_it
    }

    /// A probe's answer (or its loss), at `now`.
    pub(crate) fn finish(
        &mut self,
        now: Timestamp,
        outcome: CheckOutcome,
        latency: Option<Duration>,
    ) -> Verdict {
        let timing = &self.spec.timing;
        self.last_check = Some(now);
        self.last_latency = latency;
        let mut weight = None;
        let mut offset = None;
        let success = match outcome {
            CheckOutcome::Up => true,
            CheckOutcome::WeightOffset(o) => {
                offset = Some(o);
                true
            }
            CheckOutcome::Weight(w) => {
                weight = Some(w);
                true
            }
            CheckOutcome::Down(reason) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_failure = Some(reason);
                false
            }
        };
        if success {
            self.consecutive_failures = 0;
        }
        let mut verdict = Verdict {
            changed: None,
            failed_quietly: false,
            weight,
            offset,
            confirmed_down: !self.has_run && !self.up && !success,
        };
        let mut delay = timing.delay_loop;
        // keepalived's test: a success, or a failure of an up (or never run) checker whose
        // retries are spent, settles the state; an up checker with retries left retries.
        if success || ((self.up || !self.has_run) && self.retry_it >= timing.retry) {
            self.retry_it = 0;
            if success != self.up {
                self.up = success;
                verdict.changed = Some(success);
            } else if !success {
                verdict.failed_quietly = true;
            }
        } else {
            if self.up {
                delay = timing.delay_before_retry;
                self.retry_it += 1;
            }
            verdict.failed_quietly = true;
        }
        self.has_run = true;
        self.phase = Phase::Waiting(now + delay.max(MIN_DELAY));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckTarget, CheckTiming};

    fn tcp(retry: u32) -> CheckerSpec {
        CheckerSpec {
            kind: CheckKind::Tcp,
            timing: CheckTiming {
                delay_loop: Duration::from_secs(10),
                retry,
                delay_before_retry: Duration::from_secs(2),
                ..CheckTiming::default()
            },
            target: CheckTarget::default(),
        }
    }

    fn at(s: u64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    fn down() -> CheckOutcome {
        CheckOutcome::Down("refused".into())
    }

    #[test]
    fn failure_is_retried_then_fails_and_one_success_recovers() {
        let mut c = Checker::new(tcp(2), false);
        assert_eq!(c.launch(at(0)), 0);
        assert_eq!(c.finish(at(0), down(), None).changed, None);
        assert_eq!(c.phase, Phase::Waiting(at(2)));
        assert_eq!(c.launch(at(2)), 1);
        assert_eq!(c.finish(at(2), down(), None).changed, None);
        assert_eq!(c.launch(at(4)), 2);
        assert_eq!(c.finish(at(4), down(), None).changed, Some(false));
        assert_eq!(c.phase, Phase::Waiting(at(14)));
        assert_eq!(c.consecutive_failures, 3);
        // Down: failures come every delay_loop, no retries.
        c.launch(at(14));
        assert_eq!(c.finish(at(14), down(), None).changed, None);
        assert_eq!(c.phase, Phase::Waiting(at(24)));
        c.launch(at(24));
        assert_eq!(c.finish(at(24), CheckOutcome::Up, None).changed, Some(true));
        assert_eq!(c.consecutive_failures, 0);
    }

    #[test]
    fn a_success_during_retries_resets_them() {
        let mut c = Checker::new(tcp(1), false);
        c.launch(at(0));
        c.finish(at(0), down(), None);
        c.launch(at(2));
        c.finish(at(2), CheckOutcome::Up, None);
        assert_eq!(c.retry_it, 0);
        c.launch(at(12));
        assert_eq!(c.finish(at(12), down(), None).changed, None);
        assert!(c.up);
    }

    #[test]
    fn alpha_starts_failed_and_needs_one_success() {
        let mut c = Checker::new(tcp(3), true);
        assert!(!c.up);
        c.launch(at(0));
        let verdict = c.finish(at(0), down(), None);
        assert_eq!((verdict.changed, verdict.confirmed_down), (None, true));
        assert_eq!(c.phase, Phase::Waiting(at(10)));
        c.launch(at(10));
        let verdict = c.finish(at(10), CheckOutcome::Weight(7), None);
        assert_eq!((verdict.changed, verdict.weight), (Some(true), Some(7)));
        assert!(!verdict.confirmed_down);
    }
}
