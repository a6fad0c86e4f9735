//! The scheduling keywords of `global_defs` (`vrrp_priority`, `vrrp_cpu_affinity`,
//! `vrrp_no_swap`, `vrrp_rt_priority`, `vrrp_rlimit_rttime`), applied once at start.
//!
//! Linux schedules threads: a nice value, an affinity or a policy set by a thread is its own
//! and is inherited by the threads it starts afterwards. So the process-wide settings are
//! applied on the main thread before the other threads start ([`apply_process`]; only the
//! log writer's thread, started with the logging, keeps the defaults), and the
//! real-time policy on the protocol thread alone ([`apply_protocol_thread`]), with
//! SCHED_RESET_ON_FORK so that the threads and scripts it starts later stay SCHED_OTHER.
//! A refusal of the kernel (no CAP_SYS_NICE, RLIMIT_MEMLOCK too low) is a warning: the daemon
//! runs without the setting, as keepalived does.

use std::io;

use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;
use tracing::{debug, info, warn};
use vrrp_config::{CheckerSched, VrrpSched};

/// Nice value, CPU affinity and memory locking: on the main thread, before the runtime and
/// every other thread start, so that all of them inherit the first two.
pub(crate) fn apply_process(s: &VrrpSched, checker: &CheckerSched) {
    if let Some(nice) = s.nice {
        // SAFETY: setpriority takes plain integers; on Linux, PRIO_PROCESS with 0 is the
        // calling thread, which every later thread inherits from.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
        report("vrrp_priority", &format!("nice {nice}"), rc);
    }
    if !s.cpu_affinity.is_empty() {
        match cpu_set(&s.cpu_affinity).and_then(|set| sched_setaffinity(Pid::from_raw(0), &set)) {
            Ok(()) => info!("vrrp_cpu_affinity: CPUs {:?}", s.cpu_affinity),
            Err(e) => warn!(
                "vrrp_cpu_affinity: cannot run on CPUs {:?}: {e}; running on any CPU",
                s.cpu_affinity
            ),
        }
    }
    if s.no_swap || checker.no_swap {
        unlimit_memlock();
        // SAFETY: mlockall takes flags only and changes no memory.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if rc == 0 {
            info!("vrrp_no_swap: memory locked (mlockall)");
        } else {
            warn!(
                "vrrp_no_swap: cannot lock the memory: {}; running unlocked \
                 (needs CAP_IPC_LOCK or a higher RLIMIT_MEMLOCK, systemd: LimitMEMLOCK=infinity)",
                io::Error::last_os_error()
            );
        }
    }
}

/// RLIMIT_MEMLOCK raised to infinity while the daemon may (root, CAP_SYS_RESOURCE): with
/// MCL_FUTURE every later allocation is locked, and once CAP_IPC_LOCK is dropped a finite
/// limit would make allocations fail. Without the right, the limit stays as it is.
fn unlimit_memlock() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
        debug!(
            "vrrp_no_swap: RLIMIT_MEMLOCK stays as it is: {}",
            io::Error::last_os_error()
        );
    }
}

/// SCHED_RR and RLIMIT_RTTIME for the calling thread, the protocol thread: its timers are
/// the ones whose lateness makes a Backup take over.
pub(crate) fn apply_protocol_thread(s: &VrrpSched) {
    let Some(priority) = s.rt_priority else {
        return;
    };
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is the calling
    // thread (Linux schedules threads).
    let rc =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if rc != 0 {
        warn!(
            "vrrp_rt_priority: cannot put the protocol thread in SCHED_RR {priority}: {}; \
             it stays SCHED_OTHER (needs CAP_SYS_NICE or RLIMIT_RTPRIO)",
            io::Error::last_os_error()
        );
        return;
    }
    info!("vrrp_rt_priority: protocol thread in SCHED_RR {priority}");
    let Some(hard) = s.rttime_limit() else {
        return;
    };
    // A busy span of half the limit is logged: the kernel's own warning, SIGXCPU at the
    // soft limit, is checked only from the tick after it, which at HZ=250 and 10 ms is the
    // tick of the SIGKILL. Long spans breathe well before.
    crate::busy::real_time(hard);
    // keepalived's limits: SIGXCPU (logged) at half, SIGKILL at the limit.
    let limit = libc::rlimit {
        rlim_cur: hard / 2,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &limit) };
    report(
        "vrrp_rlimit_rttime",
        &format!("RLIMIT_RTTIME {hard} us"),
        rc,
    );
}

/// `checker_priority`: the nice value of the calling thread, the load balancer's, which its
/// checks inherit.
pub(crate) fn apply_checker_thread(nice: Option<i32>) {
    if let Some(nice) = nice {
        // SAFETY: as in apply_process: the calling thread only.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
        report(
            "checker_priority",
            &format!("load balancer thread at nice {nice}"),
            rc,
        );
    }
}

fn cpu_set(cpus: &[usize]) -> nix::Result<CpuSet> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    Ok(set)
}

fn report(keyword: &str, what: &str, rc: i32) {
    if rc == 0 {
        info!("{keyword}: {what}");
    } else {
        warn!(
            "{keyword}: cannot set {what}: {}; running without it",
            io::Error::last_os_error()
        );
    }
}
