//! Ctrl-C and time limits for the lab's own programs (demos, benchmarks): SIGINT and
//! SIGTERM only set a flag, and every wait checks it (and the run's deadline), so that a
//! run always returns to the code that drops its [`Lab`](crate::Lab) and cleans up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set the flag [`interrupted`] reads instead of killing the
/// process.
pub fn catch_interrupts() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Whether SIGINT or SIGTERM came since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A run's time limit: waits end at it, or at Ctrl-C, with an error.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// When the run must stop.
    pub end: Instant,
}

impl Budget {
    /// A budget of `d` from now.
    pub fn new(d: Duration) -> Budget {
        Budget {
            end: Instant::now() + d,
        }
    }

    /// `Err` once interrupted or out of time.
    pub fn check(&self) -> Result<(), String> {
        if interrupted() {
            return Err("interrupted".into());
        }
        if Instant::now() >= self.end {
            return Err("run budget exhausted".into());
        }
        Ok(())
    }

    /// Polls `cond` every `poll` until it holds, `timeout`, the budget or Ctrl-C.
    pub fn wait(
        &self,
        what: &str,
        timeout: Duration,
        poll: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let start = Instant::now();
        let end = (start + timeout).min(self.end);
        loop {
            self.check()?;
            if cond() {
                return Ok(());
            }
            if Instant::now() >= end {
                break;
            }
            std::thread::sleep(poll);
        }
        if cond() {
            return Ok(());
        }
        Err(format!(
            "timed out after {:.2} s waiting for {what}",
            start.elapsed().as_secs_f64()
        ))
    }

    /// Sleeps in short steps, so that Ctrl-C ends the run promptly.
    pub fn sleep(&self, d: Duration) -> Result<(), String> {
        let end = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}
