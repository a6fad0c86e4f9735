//! `global_defs` keywords about how the VRRP side is scheduled: `vrrp_priority` (nice),
//! `vrrp_rt_priority` (SCHED_RR), `vrrp_rlimit_rttime`, `vrrp_no_swap` (mlockall) and
//! `vrrp_cpu_affinity`. Applied once at start (see docs/config.md).

/// keepalived's default RLIMIT_RTTIME, in microseconds, when `vrrp_rt_priority` is set
/// (`RT_RLIMIT_DEFAULT` in keepalived's lib/process.h).
pub(crate) const RLIMIT_RTTIME_DEFAULT_US: u64 = 10_000;

/// `checker_priority` and `checker_no_swap`: keepalived's checker process is vrrpd's load
/// balancer thread (and the checks it starts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckerSched {
    /// `checker_priority N` (-20..19): nice value of the load balancer's thread.
    pub nice: Option<i32>,
    /// `checker_no_swap`: mlockall, as `vrrp_no_swap` (one process: both lock it all).
    pub no_swap: bool,
}

/// How the VRRP side of the daemon is scheduled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrrpSched {
    /// `vrrp_priority N` (-20..19): nice value of the daemon's threads.
    pub nice: Option<i32>,
    /// `vrrp_rt_priority N` (1..99): SCHED_RR priority of the protocol thread.
    pub rt_priority: Option<u8>,
    /// `vrrp_rlimit_rttime N` (microseconds): RLIMIT_RTTIME hard limit, set only with
    /// `vrrp_rt_priority` (default [`RLIMIT_RTTIME_DEFAULT_US`]).
    pub rlimit_rttime: Option<u64>,
    /// `vrrp_no_swap`: mlockall(MCL_CURRENT | MCL_FUTURE).
    pub no_swap: bool,
    /// `vrrp_cpu_affinity CPU...`: the CPUs the daemon runs on (empty: any).
    pub cpu_affinity: Vec<usize>,
}

impl VrrpSched {
    /// The RLIMIT_RTTIME to set, in microseconds: only under a real-time priority.
    pub fn rttime_limit(&self) -> Option<u64> {
        self.rt_priority
            .map(|_| self.rlimit_rttime.unwrap_or(RLIMIT_RTTIME_DEFAULT_US))
    }
}
