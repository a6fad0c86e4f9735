//! The protocol clock: CLOCK_MONOTONIC read with nanosecond resolution, and a timerfd that
//! wakes the protocol thread at an absolute deadline.
//!
//! tokio's own timer rounds every sleep up to a whole millisecond, which alone would make a
//! takeover up to 1 ms late (10% of VRRPv3's 10 ms minimum interval). A timerfd armed with
//! an absolute CLOCK_MONOTONIC time fires within the kernel's timer slack instead.

use std::cell::Cell;
use std::io;
use std::time::Duration;

use nix::sys::time::TimeSpec;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use vrrp_core::Timestamp;

/// Now, on CLOCK_MONOTONIC, as the core's time stamp.
pub(crate) fn now() -> Timestamp {
    // CLOCK_MONOTONIC cannot fail on Linux; fall back to the epoch rather than panic.
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => {
            let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
            let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
            Timestamp::from_nanos(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
        }
        Err(_) => Timestamp::ZERO,
    }
}

/// A one-shot timer at an absolute CLOCK_MONOTONIC deadline, awaitable on tokio.
/// tokio's `AsyncFd` wants `AsRawFd`, which nix's `TimerFd` does not implement.
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

pub(crate) struct ProtocolTimer {
    fd: AsyncFd<Fd>,
    armed: Cell<Option<Timestamp>>,
}

impl ProtocolTimer {
    pub(crate) fn new() -> io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        Ok(ProtocolTimer {
            // SAFETY: the timerfd is owned by the `AsyncFd` and stays open until it is dropped.
            fd: unsafe { AsyncFd::register_with_interest(Fd(timer), Interest::READABLE) }?,
            armed: Cell::new(None),
        })
    }

    /// Arm for `deadline`, or disarm with `None`. Cheap when the deadline is unchanged.
    pub(crate) fn arm(&self, deadline: Option<Timestamp>) -> io::Result<()> {
        if deadline == self.armed.get() {
            return Ok(());
        }
        match deadline {
            Some(at) => {
                // An all-zero time would disarm the timer; the epoch is never a real deadline.
                let nanos = at.as_nanos().max(1);
                let spec = TimeSpec::from_duration(Duration::from_nanos(nanos));
                self.fd
                    .get_ref()
                    .0
                    .set(
                        Expiration::OneShot(spec),
                        TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                    )
                    .map_err(io::Error::from)?;
            }
            None => self.fd.get_ref().0.unset().map_err(io::Error::from)?,
        }
        self.armed.set(deadline);
        Ok(())
    }

    /// Wait until the armed deadline has passed (returns at once if it already has), and
    /// return that deadline.
    ///
    /// The timerfd is not read: arming it again resets its count, and each expiry wakes
    /// epoll anew, so the read would only cost a system call per wake-up. Readiness left
    /// from an expiry before a re-arm is stale, which the clock tells (a vDSO read).
    pub(crate) async fn expired(&self) -> io::Result<Option<Timestamp>> {
        loop {
            let mut guard = self.fd.readable().await?;
            guard.clear_ready();
            if let Some(at) = self.armed.get()
                && now() >= at
            {
                return Ok(self.armed.replace(None));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_fires_at_absolute_deadline_with_sub_millisecond_precision() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let timer = ProtocolTimer::new().expect("timerfd");
            let deadline = now() + Duration::from_micros(2_500);
            timer.arm(Some(deadline)).expect("arm");
            timer.expired().await.expect("expired");
            let woke = now();
            assert!(woke >= deadline, "woke before the deadline");
            // Expired unseen, then re-armed later: the stale readiness must not fire it.
            timer
                .arm(Some(now() + Duration::from_millis(1)))
                .expect("arm");
            std::thread::sleep(Duration::from_millis(2));
            let later = now() + Duration::from_millis(3);
            timer.arm(Some(later)).expect("re-arm");
            assert_eq!(timer.expired().await.expect("expired"), Some(later));
            assert!(now() >= later, "fired early on stale readiness");
        });
    }
}
