//! The `global_defs` scheduling keywords of the VRRP side: `vrrp_priority`,
//! `vrrp_rt_priority`, `vrrp_rlimit_rttime` (old name `vrrp_rlimit_rtime`), `vrrp_no_swap`,
//! `vrrp_cpu_affinity`; and `checker_priority`, `checker_no_swap`.

use super::{Parser, Stmt, word};
use crate::value;

/// The highest CPU number `vrrp_cpu_affinity` takes (glibc's CPU_SETSIZE - 1).
const MAX_CPU: i64 = 1023;

impl<'t> Parser<'t, '_> {
    pub(super) fn vrrp_sched(&mut self, s: &Stmt<'t>) {
        match s.name {
            "vrrp_priority" => {
                if let Some(v) = self.value(s, |w| value::int(w, -20, 19)) {
                    self.global.defs.vrrp_sched.nice = i32::try_from(v.v).ok();
                }
            }
            "vrrp_rt_priority" => {
                if let Some(v) = self.value(s, |w| value::int(w, 1, 99)) {
                    self.global.defs.vrrp_sched.rt_priority = u8::try_from(v.v).ok();
                }
            }
            "vrrp_rlimit_rttime" | "vrrp_rlimit_rtime" => {
                // keepalived's soft limit is half of it: at least 2 microseconds.
                let max = i64::from(u32::MAX);
                if let Some(v) = self.value(s, |w| value::int(w, 2, max)) {
                    self.global.defs.vrrp_sched.rlimit_rttime = u64::try_from(v.v).ok();
                }
            }
            "checker_priority" => {
                if let Some(v) = self.value(s, |w| value::int(w, -20, 19)) {
                    self.global.defs.checker_sched.nice = i32::try_from(v.v).ok();
                }
            }
            "checker_no_swap" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.checker_sched.no_swap = v.v;
                }
            }
            "vrrp_no_swap" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.vrrp_sched.no_swap = v.v;
                }
            }
            _ => self.cpu_affinity(s),
        }
    }

    /// `vrrp_cpu_affinity CPU...`: CPU numbers as in /proc/cpuinfo's `processor`.
    fn cpu_affinity(&mut self, s: &Stmt<'t>) {
        if s.args.is_empty() {
            self.d.error_hint(
                s.span(),
                format!("`{}` needs at least one CPU number", s.name),
                "write the CPU numbers, e.g. `vrrp_cpu_affinity 0 1`",
            );
            return;
        }
        let mut cpus = Vec::with_capacity(s.args.len());
        for a in &s.args {
            match value::int(word(a), 0, MAX_CPU) {
                Ok(n) => cpus.extend(usize::try_from(n).ok()),
                Err(reason) => {
                    self.d.error_hint(
                        a.span,
                        format!("invalid CPU `{}`: {reason}", word(a)),
                        "CPU numbers are those of /proc/cpuinfo's `processor` lines",
                    );
                    return;
                }
            }
        }
        cpus.sort_unstable();
        cpus.dedup();
        self.global.defs.vrrp_sched.cpu_affinity = cpus;
    }
}
