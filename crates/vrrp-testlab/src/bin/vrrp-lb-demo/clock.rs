//! The timeline printer, the demo's clock and deadline (Ctrl-C: `vrrp_testlab::budget`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vrrp_testlab::budget::interrupted;

/// Demo time: seconds since the start, printed in front of every line.
pub(crate) struct Clock {
    pub(crate) t0: Instant,
    /// The wall clock at `t0`, to place the client's log lines on the timeline.
    epoch: f64,
    deadline: Instant,
}

impl Clock {
    pub(crate) fn new(budget: Duration) -> Clock {
        Clock::since(Instant::now(), budget)
    }

    pub(crate) fn since(t0: Instant, budget: Duration) -> Clock {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        Clock {
            t0,
            epoch: now - t0.elapsed().as_secs_f64(),
            deadline: t0 + budget,
        }
    }

    /// The wall-clock time (Unix seconds) of demo time 0.
    pub(crate) fn t0_epoch(&self) -> f64 {
        self.epoch
    }

    /// Demo time now.
    pub(crate) fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    pub(crate) fn say(&self, msg: impl AsRef<str>) {
        let t = self.now();
        let mut first = true;
        for line in msg.as_ref().lines() {
            if first {
                println!("[{t:7.3}s] {line}");
                first = false;
            } else {
                println!("           {line}");
            }
        }
    }

    /// Polls `cond` until true, `timeout`, the global deadline or Ctrl-C.
    pub(crate) fn wait(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let end = (start + timeout).min(self.deadline);
        loop {
            if interrupted() {
                return Err("interrupted".into());
            }
            if cond() {
                return Ok(start.elapsed());
            }
            if Instant::now() >= end {
                return Err(format!(
                    "timed out after {:.1} s waiting for: {what}",
                    start.elapsed().as_secs_f64()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn pause(&self, d: Duration) -> Result<(), String> {
        let end = Instant::now() + d;
        self.wait("a pause", d + Duration::from_secs(1), || {
            Instant::now() >= end
        })
        .map(|_| ())
    }
}
