//! A cgroup made by hand for the daemon under test (PID 1 is not systemd here): its memory
//! and pids limits, and what the kernel counted. cgroup v2 when its memory controller is
//! available, else the v1 `memory` and `pids` hierarchies (hybrid hosts, such as this CI's,
//! bind memory to v1). Removed on drop, also when the test panics: what is still in it goes
//! back to the parent first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub(crate) struct Cgroup {
    v2: bool,
    /// The cgroup in the memory hierarchy (for v2, the only one).
    memory: PathBuf,
    /// The cgroup in the pids hierarchy (v2: the same directory).
    pids: Option<PathBuf>,
}

/// `(mount point, fstype, options)` of the cgroup file systems.
fn cgroup_mounts() -> Vec<(PathBuf, String, String)> {
    let text = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dir, fstype, opts) = (f.get(1)?, f.get(2)?, f.get(3)?);
            fstype
                .starts_with("cgroup")
                .then(|| (PathBuf::from(dir), fstype.to_string(), opts.to_string()))
        })
        .collect()
}

/// Our own cgroup path in the v1 hierarchy of `controller` (`/proc/self/cgroup`).
fn own_v1_path(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, names, path) = (f.next()?, f.next()?, f.next()?);
        names
            .split(',')
            .any(|n| n == controller)
            .then(|| path.to_string())
    })
}

fn join(mount: &Path, own: &str) -> PathBuf {
    mount.join(own.trim_start_matches('/'))
}

impl Cgroup {
    /// A new cgroup with the memory controller (and pids where available), or why not.
    pub(crate) fn create(tag: &str) -> Result<Cgroup, String> {
        let name = format!(
            "vrrpd-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mounts = cgroup_mounts();
        let v2 = mounts.iter().find(|(dir, t, _)| {
            t == "cgroup2"
                && fs::read_to_string(dir.join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))
        });
        if let Some((root, _, _)) = v2 {
            // The root is exempt from "no internal processes": children of it may have
            // controllers while we (in some cgroup) hold processes.
            let controllers =
                fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            let mut enable = "+memory".to_string();
            if controllers.split_whitespace().any(|w| w == "pids") {
                enable.push_str(" +pids");
            }
            fs::write(root.join("cgroup.subtree_control"), &enable).map_err(|e| {
                format!(
                    "cgroup v2: cannot enable {enable} at {}: {e}",
                    root.display()
                )
            })?;
            let dir = root.join(&name);
            fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            let pids = dir.join("pids.max").exists().then(|| dir.clone());
            return Ok(Cgroup {
                v2: true,
                memory: dir,
                pids,
            });
        }
        let v1 = |controller: &str| {
            let (mount, _, _) = mounts
                .iter()
                .find(|(_, t, o)| t == "cgroup" && o.split(',').any(|w| w == controller))?;
            Some(join(mount, &own_v1_path(controller)?).join(&name))
        };
        let Some(memory) = v1("memory") else {
            return Err(
                "no cgroup memory controller: neither cgroup v2 with memory in \
                        cgroup.controllers nor a v1 memory hierarchy"
                    .into(),
            );
        };
        fs::create_dir(&memory).map_err(|e| format!("mkdir {}: {e}", memory.display()))?;
        let pids = v1("pids").filter(|p| fs::create_dir(p).is_ok());
        Ok(Cgroup {
            v2: false,
            memory,
            pids,
        })
    }

    pub(crate) fn version(&self) -> &'static str {
        if self.v2 { "v2" } else { "v1" }
    }

    fn dirs(&self) -> Vec<&PathBuf> {
        let mut d = vec![&self.memory];
        if let Some(p) = self.pids.as_ref().filter(|p| **p != self.memory) {
            d.push(p);
        }
        d
    }

    /// Shell commands that move the shell running them (`$$`) into this cgroup, also from
    /// inside `ip netns exec` (which mounts a sysfs of its own, without the cgroup file
    /// systems): through our mount namespace's root in /proc.
    pub(crate) fn enter_commands(&self) -> String {
        let me = std::process::id();
        self.dirs()
            .iter()
            .map(|d| format!("echo $$ > /proc/{me}/root{}/cgroup.procs", d.display()))
            .collect::<Vec<_>>()
            .join(" && ")
    }

    /// `memory.max` (v1: `memory.limit_in_bytes`).
    pub(crate) fn set_memory_max(&self, bytes: u64) -> io::Result<()> {
        let file = if self.v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        fs::write(self.memory.join(file), bytes.to_string())
    }

    /// `memory.high` (v2 only: v1 has no throttling threshold).
    pub(crate) fn set_memory_high(&self, bytes: u64) -> io::Result<()> {
        if self.v2 {
            fs::write(self.memory.join("memory.high"), bytes.to_string())?;
        }
        Ok(())
    }

    /// `pids.max`: a number or "max".
    pub(crate) fn set_pids_max(&self, value: &str) -> io::Result<()> {
        let dir = self
            .pids
            .as_ref()
            .ok_or_else(|| io::Error::other("no pids controller"))?;
        fs::write(dir.join("pids.max"), value)
    }

    pub(crate) fn has_pids(&self) -> bool {
        self.pids.is_some()
    }

    fn read_u64(path: &Path) -> u64 {
        fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    pub(crate) fn memory_current(&self) -> u64 {
        let file = if self.v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        Self::read_u64(&self.memory.join(file))
    }

    pub(crate) fn pids_current(&self) -> u64 {
        self.pids
            .as_ref()
            .map_or(0, |d| Self::read_u64(&d.join("pids.current")))
    }

    /// A `KEY VALUE` field of a flat-keyed file of the memory cgroup.
    fn field(&self, file: &str, key: &str) -> u64 {
        let text = fs::read_to_string(self.memory.join(file)).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Processes the OOM killer killed in this cgroup.
    pub(crate) fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.field(file, "oom_kill ")
    }

    /// What the kernel counted, on one line: v2 `memory.events` (+ `pids.events`), v1
    /// `memory.failcnt`, `oom_kill` and the peak usage.
    pub(crate) fn events(&self) -> String {
        let flat = |p: PathBuf| {
            fs::read_to_string(p)
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let pids = self
            .pids
            .as_ref()
            .map(|d| format!("; pids.events: {}", flat(d.join("pids.events"))))
            .unwrap_or_default();
        if self.v2 {
            format!(
                "memory.events: {}{pids}",
                flat(self.memory.join("memory.events"))
            )
        } else {
            format!(
                "memory.failcnt {}, oom_kill {}, max_usage {} MiB{pids}",
                Self::read_u64(&self.memory.join("memory.failcnt")),
                self.oom_kills(),
                Self::read_u64(&self.memory.join("memory.max_usage_in_bytes")) >> 20
            )
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in self.dirs() {
            let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
            // Killed processes take a moment to leave; what still runs goes to the parent.
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                for pid in fs::read_to_string(dir.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                {
                    let _ = fs::write(parent.join("cgroup.procs"), pid);
                }
                if fs::remove_dir(dir).is_ok() || !dir.exists() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
