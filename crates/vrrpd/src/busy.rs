//! The protocol thread's busy spans: how long it runs between two real sleeps.
//!
//! Under `vrrp_rt_priority` the kernel counts, per real-time thread, the scheduler ticks at
//! which it was found running since it last slept (woke from a wait), and kills the daemon
//! when they add up to `vrrp_rlimit_rttime` (the RLIMIT_RTTIME watchdog). A busy span is
//! the same stretch seen from the thread: from a wake-up after a real sleep to the next real
//! sleep, measured in the thread's CPU time (what the ticks sample) and in wall time.
//!
//! Measured by the protocol runtime's park hooks: each park (the runtime has nothing to do
//! and waits in epoll) may return at once when an event is already there, so the thread's
//! voluntary context switches (`getrusage(RUSAGE_THREAD)`) tell whether it really slept.
//! Four system calls per wake-up, no allocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use nix::time::{ClockId, clock_gettime};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::warn;

/// Upper bounds (seconds) of the busy-span histogram: up to two scheduler ticks at HZ=250.
pub(crate) const BUCKETS: [f64; 7] = [100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 4e-3, 8e-3];

/// The busy spans over the daemon's life.
#[derive(Debug, Default, Clone)]
pub(crate) struct BusySpans {
    /// Spans ended by a sleep.
    pub spans: u64,
    /// The longest span in CPU time, and the longest in wall time (also while under way).
    pub max_cpu: Duration,
    pub max_wall: Duration,
    /// Counts of spans by CPU time, at most each of [`BUCKETS`], and longer.
    pub buckets: [u64; 8],
}

#[derive(Default)]
struct Meter {
    stats: BusySpans,
    /// The clocks (monotonic, thread CPU) when the span under way began.
    began: Option<(Duration, Duration)>,
    /// The span's (wall, CPU) length at the last park, committed once a sleep is seen.
    pending: Option<(Duration, Duration)>,
    /// Voluntary context switches at the last park.
    switches: i64,
    /// When a long span was last warned about (monotonic).
    warned: Option<Duration>,
}

static METER: LazyLock<Mutex<Meter>> = LazyLock::new(Mutex::default);
static HISTOGRAM: LazyLock<Histogram> = LazyLock::new(|| Histogram::new(BUCKETS));
/// Spans longer than this in wall time (µs) are logged; 0: never. Set with the real-time
/// policy, where a long span is what the kernel kills for.
static WARN_OVER_MICROS: AtomicU64 = AtomicU64::new(0);

fn meter() -> MutexGuard<'static, Meter> {
    // Only the protocol thread writes; a poisoned lock still holds valid figures.
    METER.lock().unwrap_or_else(|e| e.into_inner())
}

fn clock(id: ClockId) -> Duration {
    clock_gettime(id).map(Duration::from).unwrap_or_default()
}

fn voluntary_switches() -> i64 {
    // SAFETY: getrusage writes the struct it is given, which is valid and outlives the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is the calling thread.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_nvcsw
}

/// The runtime's `on_thread_park` hook: the span so far, and the switches to compare with.
pub(crate) fn on_park() {
    let (wall, cpu) = (
        clock(ClockId::CLOCK_MONOTONIC),
        clock(ClockId::CLOCK_THREAD_CPUTIME_ID),
    );
    let switches = voluntary_switches();
    let mut m = meter();
    if let Some((w0, c0)) = m.began {
        let span = (wall.saturating_sub(w0), cpu.saturating_sub(c0));
        m.stats.max_wall = m.stats.max_wall.max(span.0);
        m.stats.max_cpu = m.stats.max_cpu.max(span.1);
        m.pending = Some(span);
    }
    m.switches = switches;
}

/// The runtime's `on_thread_unpark` hook: after a real sleep, the last span is complete and
/// a new one begins; otherwise the span goes on.
pub(crate) fn on_unpark() {
    let slept = voluntary_switches();
    let mut m = meter();
    if m.began.is_some() && slept == m.switches {
        return;
    }
    if let Some((wall, cpu)) = m.pending.take() {
        commit(&mut m, wall, cpu);
    }
    m.began = Some((
        clock(ClockId::CLOCK_MONOTONIC),
        clock(ClockId::CLOCK_THREAD_CPUTIME_ID),
    ));
}

fn commit(m: &mut Meter, wall: Duration, cpu: Duration) {
    m.stats.spans += 1;
    let micros = u64::try_from(cpu.as_micros()).unwrap_or(u64::MAX);
    let i = BUCKETS
        .iter()
        .position(|b| micros as f64 <= b * 1e6)
        .unwrap_or(BUCKETS.len());
    m.stats.buckets[i] += 1;
    HISTOGRAM.observe(cpu.as_secs_f64());
    // The kernel samples at its ticks whether the thread is running: wall time is what it
    // sees (CPU time plus interrupts, plus the time the hypervisor took the CPU away).
    let limit = WARN_OVER_MICROS.load(Ordering::Relaxed);
    let wall_micros = u64::try_from(wall.as_micros()).unwrap_or(u64::MAX);
    let now = clock(ClockId::CLOCK_MONOTONIC);
    let quiet = m
        .warned
        .is_some_and(|t| now.saturating_sub(t) < Duration::from_secs(10));
    if limit > 0 && wall_micros > limit && !quiet {
        m.warned = Some(now);
        warn!(
            "the protocol thread ran {wall_micros} µs without sleeping ({micros} µs of CPU); \
             the kernel kills a real-time thread that runs vrrp_rlimit_rttime without sleeping"
        );
    }
}

/// Starts the figures afresh, with a span beginning now: once the daemon is set up, so that
/// start-up (configuration, sockets, before any real-time policy) is not counted.
pub(crate) fn restart() {
    let mut m = meter();
    *m = Meter::default();
    m.began = Some((
        clock(ClockId::CLOCK_MONOTONIC),
        clock(ClockId::CLOCK_THREAD_CPUTIME_ID),
    ));
    m.switches = voluntary_switches();
}

/// Logs spans over `micros` of wall time (at most one line in 10 s).
pub(crate) fn warn_over(micros: u64) {
    WARN_OVER_MICROS.store(micros, Ordering::Relaxed);
}

/// The figures so far.
pub(crate) fn snapshot() -> BusySpans {
    meter().stats.clone()
}

/// `vrrp_protocol_busy_seconds`: the histogram of busy spans in CPU time.
pub(crate) fn register_metrics(registry: &mut Registry) {
    registry.register(
        "vrrp_protocol_busy_seconds",
        "CPU time the protocol thread ran between two sleeps (busy spans)",
        HISTOGRAM.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_ends_a_span_and_a_busy_loop_does_not() {
        on_unpark();
        // Spins for `d` of the thread's CPU time (a loaded machine preempts it meanwhile).
        let spin = |d: Duration| {
            let t = clock(ClockId::CLOCK_THREAD_CPUTIME_ID);
            while clock(ClockId::CLOCK_THREAD_CPUTIME_ID).saturating_sub(t) < d {
                std::hint::black_box(0);
            }
        };
        spin(Duration::from_millis(3));
        // A park that returns at once: no sleep, the span goes on.
        on_park();
        on_unpark();
        spin(Duration::from_millis(3));
        on_park();
        std::thread::sleep(Duration::from_millis(2));
        on_unpark();
        let s = snapshot();
        assert_eq!(s.spans, 1, "{s:?}");
        assert!(s.max_cpu >= Duration::from_millis(5), "{s:?}");
        assert!(s.max_wall >= s.max_cpu, "{s:?}");
        assert_eq!(s.buckets.iter().sum::<u64>(), 1);
    }
}
