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
//! Two system calls per park (those and the thread's CPU clock): a sleep uses no CPU, so the
//! CPU time at a park also begins the next span, and the unpark hook only reads the vDSO
//! clock (except under real time, below).
//!
//! Under the real-time policy the protocol thread also *breathes* ([`breathe`]): a span
//! that has run a fifth of `vrrp_rlimit_rttime` (at most 2 ms) sleeps 20 µs, which restarts
//! the kernel's count, so that a burst of work (100 instances at 10 ms whose advertisements
//! fall due together, a flood of packets) is not what the watchdog kills.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use nix::time::{ClockId, clock_gettime};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::{debug, warn};

/// Upper bounds (seconds) of the busy-span histogram: up to two scheduler ticks at HZ=250.
pub(crate) const BUCKETS: [f64; 7] = [100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 4e-3, 8e-3];

/// How long a breath sleeps: long enough that the timer cannot expire before the thread is
/// off the CPU (a sleep that never blocks would not restart the kernel's count).
const BREATH: Duration = Duration::from_micros(20);

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
    /// Spans cut short by a breath under the real-time policy.
    pub breaths: u64,
}

#[derive(Default)]
struct Meter {
    stats: BusySpans,
    /// The clocks (monotonic, thread CPU) when the span under way began.
    began: Option<(Duration, Duration)>,
    /// The span's (wall, CPU) length at the last park, committed once a sleep is seen.
    pending: Option<(Duration, Duration)>,
    /// The thread's CPU time and voluntary context switches at the last park.
    parked_cpu: Duration,
    switches: i64,
    /// Monotonic time of the last unpark: where a span begins if that park slept.
    unparked: Duration,
    /// When a long span was last warned about (monotonic).
    warned: Option<Duration>,
}

static METER: LazyLock<Mutex<Meter>> = LazyLock::new(Mutex::default);
static HISTOGRAM: LazyLock<Histogram> = LazyLock::new(|| Histogram::new(BUCKETS));
/// Spans longer than this in wall time (µs) are logged; 0: never. Set with the real-time
/// policy, where a long span is what the kernel kills for.
static WARN_OVER_MICROS: AtomicU64 = AtomicU64::new(0);
/// Spans longer than this (ns of wall time) breathe; 0: never (not real time).
static BREATHE_AFTER_NANOS: AtomicU64 = AtomicU64::new(0);
/// Monotonic ns when the span under way began, for [`breathe`]'s check without the lock.
static SPAN_BEGAN_NANOS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the protocol thread by [`restart`]: only it breathes (code shared with other
    /// threads may call [`breathe`]; it must not sleep them nor count their time here).
    static PROTOCOL_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The last call of [`breathe`]: when, and before what, to name a unit of work that ran
    /// long by itself (which no breath can split).
    static LAST_UNIT: std::cell::Cell<(u64, Unit)> = const { std::cell::Cell::new((0, Unit::Input)) };
}

/// The units of work between which the protocol thread breathes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    /// An input to the engine (a packet, the timer, a tracker, a link).
    Input,
    /// A packet read after the timer woke late.
    Receive,
    /// One output of the node (an advertisement sent, a transition logged, a job queued).
    Output,
}

fn meter() -> MutexGuard<'static, Meter> {
    // Only the protocol thread writes; a poisoned lock still holds valid figures.
    METER.lock().unwrap_or_else(|e| e.into_inner())
}

fn clock(id: ClockId) -> Duration {
    clock_gettime(id).map(Duration::from).unwrap_or_default()
}

/// The calling thread's voluntary context switches.
fn switches() -> i64 {
    // SAFETY: getrusage writes the struct it is given, which is valid and outlives the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is the calling thread.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_nvcsw
}

/// The calling thread's CPU time and voluntary context switches. The CPU time is the
/// thread clock's: getrusage's own is only brought up to date at scheduler ticks.
fn thread_usage() -> (Duration, i64) {
    (clock(ClockId::CLOCK_THREAD_CPUTIME_ID), switches())
}

fn begin(m: &mut Meter, wall: Duration, cpu: Duration) {
    m.began = Some((wall, cpu));
    SPAN_BEGAN_NANOS.store(
        u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// The runtime's `on_thread_park` hook. A sleep since the last look (in the last park's
/// wait) completed the span measured at that park; the span under way is measured to now.
pub(crate) fn on_park() {
    let wall = clock(ClockId::CLOCK_MONOTONIC);
    let (cpu, switches) = thread_usage();
    let mut m = meter();
    if switches != m.switches {
        let (unparked, parked_cpu) = (m.unparked, m.parked_cpu);
        new_span(&mut m, switches, unparked, parked_cpu);
    }
    if let Some((w0, c0)) = m.began {
        let span = (wall.saturating_sub(w0), cpu.saturating_sub(c0));
        m.stats.max_wall = m.stats.max_wall.max(span.0);
        m.stats.max_cpu = m.stats.max_cpu.max(span.1);
        m.pending = Some(span);
    }
    m.parked_cpu = cpu;
}

/// The runtime's `on_thread_unpark` hook: notes the time; whether the park slept is seen at
/// the next park (the span's CPU time then includes the end of the wait's system call), or
/// here under the real-time policy, where [`breathe`] needs to know when the span under way
/// began (two more system calls per wake-up).
pub(crate) fn on_unpark() {
    let wall = clock(ClockId::CLOCK_MONOTONIC);
    let mut m = meter();
    m.unparked = wall;
    if BREATHE_AFTER_NANOS.load(Ordering::Relaxed) > 0 {
        // The CPU clock afresh: the wait's own system call (two context switches, tens of
        // µs on a busy VM) is not the new span's.
        let (cpu, switches) = thread_usage();
        if switches != m.switches {
            new_span(&mut m, switches, wall, cpu);
        }
    }
}

/// The thread slept: the span measured at the last park is complete, a new one began at
/// (`wall`, `cpu`).
fn new_span(m: &mut Meter, switches: i64, wall: Duration, cpu: Duration) {
    if let Some((w, c)) = m.pending.take() {
        commit(m, w, c);
    }
    begin(m, wall, cpu);
    m.switches = switches;
}

/// Under the real-time policy, sleeps briefly when the span under way has run long: called
/// before each unit of work (`next`). Costs a clock read otherwise.
pub(crate) fn breathe(next: Unit) {
    let after = BREATHE_AFTER_NANOS.load(Ordering::Relaxed);
    if after == 0 || !PROTOCOL_THREAD.get() {
        return;
    }
    let now = clock(ClockId::CLOCK_MONOTONIC);
    let now_nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
    let began = SPAN_BEGAN_NANOS.load(Ordering::Relaxed);
    let (last, unit) = LAST_UNIT.replace((now_nanos, next));
    let alone = now_nanos.saturating_sub(last.max(began));
    if alone >= after {
        debug!(
            "the protocol thread ran {} µs from one breath check to the next (the first before \
             a unit of kind {unit:?}): work no breath can split",
            alone / 1_000
        );
    }
    if now_nanos.saturating_sub(began) < after {
        return;
    }
    // The span ends before the sleep, whose own system call (the timer armed, two context
    // switches: tens of µs on a VM) is not the span's.
    let ended_cpu = clock(ClockId::CLOCK_THREAD_CPUTIME_ID);
    std::thread::sleep(BREATH);
    let wall = clock(ClockId::CLOCK_MONOTONIC);
    let (cpu, switches) = thread_usage();
    let mut m = meter();
    if let Some((w0, c0)) = m.began {
        let span = (now.saturating_sub(w0), ended_cpu.saturating_sub(c0));
        m.stats.max_wall = m.stats.max_wall.max(span.0);
        m.stats.max_cpu = m.stats.max_cpu.max(span.1);
        commit(&mut m, span.0, span.1);
    }
    m.pending = None;
    m.stats.breaths += 1;
    begin(&mut m, wall, cpu);
    // The next park compares with this: the breath's switch is accounted for.
    m.switches = switches;
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
/// start-up (configuration, sockets, before any real-time policy) is not counted. Called on
/// the protocol thread, which it marks as the one that breathes.
pub(crate) fn restart() {
    PROTOCOL_THREAD.set(true);
    let wall = clock(ClockId::CLOCK_MONOTONIC);
    let (cpu, switches) = thread_usage();
    let mut m = meter();
    *m = Meter::default();
    begin(&mut m, wall, cpu);
    m.parked_cpu = cpu;
    m.unparked = wall;
    m.switches = switches;
}

/// The real-time policy is on with `vrrp_rlimit_rttime` = `rttime_micros`: spans over half
/// of it are logged (at most one line in 10 s), and spans breathe after a fifth of it, at
/// most 2 ms: within one scheduler tick at HZ=250, so the kernel's count never reaches two.
pub(crate) fn real_time(rttime_micros: u64) {
    WARN_OVER_MICROS.store(rttime_micros / 2, Ordering::Relaxed);
    let breathe_micros = (rttime_micros / 5).clamp(100, 2_000);
    BREATHE_AFTER_NANOS.store(breathe_micros * 1_000, Ordering::Relaxed);
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

    /// Spins for `d` of the thread's CPU time (a loaded machine preempts it meanwhile),
    /// calling `each` as it goes.
    fn spin(d: Duration, each: impl Fn()) {
        let t = clock(ClockId::CLOCK_THREAD_CPUTIME_ID);
        while clock(ClockId::CLOCK_THREAD_CPUTIME_ID).saturating_sub(t) < d {
            each();
            std::hint::black_box(0);
        }
    }

    // One test: the meter is the process's, so the two cases must not run in parallel.
    #[test]
    fn a_sleep_ends_a_span_a_busy_loop_does_not_and_real_time_breathes() {
        restart();
        on_unpark();
        spin(Duration::from_millis(3), || {});
        // A park that returns at once: no sleep, the span goes on.
        on_park();
        on_unpark();
        spin(Duration::from_millis(3), || {});
        on_park();
        std::thread::sleep(Duration::from_millis(2));
        on_unpark();
        on_park();
        let s = snapshot();
        assert_eq!(s.spans, 1, "{s:?}");
        assert!(s.max_cpu >= Duration::from_millis(5), "{s:?}");
        assert!(s.max_wall >= s.max_cpu, "{s:?}");
        assert_eq!(s.buckets.iter().sum::<u64>(), 1);
        assert_eq!(s.breaths, 0);

        // Real time with a 1 ms limit: spans breathe after 200 µs, and really sleep.
        real_time(1_000);
        restart();
        let (_, switches) = thread_usage();
        spin(Duration::from_millis(3), || breathe(Unit::Input));
        let s = snapshot();
        let (_, after) = thread_usage();
        assert!(s.breaths >= 5, "{s:?}");
        assert!(
            after - switches >= i64::try_from(s.breaths).unwrap_or(0),
            "{s:?}"
        );
        assert!(s.max_cpu < Duration::from_millis(1), "{s:?}");
        assert!(s.max_cpu <= s.max_wall + Duration::from_micros(50), "{s:?}");
        // Parks that sleep, under real time: spans still no longer in CPU than in wall time.
        for _ in 0..20 {
            on_park();
            std::thread::sleep(Duration::from_micros(200));
            on_unpark();
            spin(Duration::from_micros(300), || breathe(Unit::Input));
        }
        on_park();
        let s = snapshot();
        assert!(s.max_cpu <= s.max_wall + Duration::from_micros(50), "{s:?}");
        BREATHE_AFTER_NANOS.store(0, Ordering::Relaxed);
        WARN_OVER_MICROS.store(0, Ordering::Relaxed);
    }
}
