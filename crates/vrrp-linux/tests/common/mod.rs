//! Network-namespace helpers for the root-only integration tests.
//!
//! Each test makes its own namespaces named `vl-<tag>-<pid>`; [`Netns`] deletes its namespace
//! on drop, also when the test panics. `ip` is used here, in tests only.
#![allow(dead_code)]

use std::fs::File;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// True when the tests can create namespaces; otherwise reports the skip (a failure under
/// `VRRPD_LAB_REQUIRED=1`, as in CI).
pub(crate) fn can_run(test: &str) -> bool {
    match vrrp_testlab::skip_reason(&[]) {
        None => true,
        Some(why) => {
            vrrp_testlab::skip(&format!("{test}: {why}"));
            false
        }
    }
}

/// Runs `ip ARGS`, panicking with its stderr on failure.
pub(crate) fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace, deleted on drop.
pub(crate) struct Netns {
    pub name: String,
}

impl Netns {
    pub(crate) fn new(tag: &str) -> Netns {
        let name = format!("vl-{tag}-{}", std::process::id());
        // A leftover from a killed run with the same pid would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS`.
    pub(crate) fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `f` on a fresh thread that has entered this namespace. Sockets and runtimes that
    /// `f` creates belong to the namespace.
    pub(crate) fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).expect("open netns file");
                setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Runs an async block on a current-thread tokio runtime inside this namespace.
    pub(crate) fn block_on<T: Send, F: Future<Output = T>>(
        &self,
        f: impl FnOnce() -> F + Send,
    ) -> T {
        self.run(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f())
        })
    }

    /// The index of interface `name` in this namespace.
    pub(crate) fn ifindex(&self, name: &str) -> u32 {
        self.run(|| nix::net::if_::if_nametoindex(name).expect("if_nametoindex"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair: `va` in `a` (10.99.N.1/24, fd99:N::1/64) and `vb` in
/// `b` (10.99.N.2/24, fd99:N::2/64), both up.
pub(crate) struct Pair {
    pub a: Netns,
    pub b: Netns,
    pub net: u8,
}

impl Pair {
    pub(crate) fn new(tag: &str, net: u8) -> Pair {
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        a.ip(&[
            "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b.name,
        ]);
        a.ip(&["addr", "add", &format!("10.99.{net}.1/24"), "dev", "va"]);
        b.ip(&["addr", "add", &format!("10.99.{net}.2/24"), "dev", "vb"]);
        a.ip(&[
            "addr",
            "add",
            &format!("fd99:{net}::1/64"),
            "dev",
            "va",
            "nodad",
        ]);
        b.ip(&[
            "addr",
            "add",
            &format!("fd99:{net}::2/64"),
            "dev",
            "vb",
            "nodad",
        ]);
        a.ip(&["link", "set", "va", "up"]);
        b.ip(&["link", "set", "vb", "up"]);
        // A veth carries traffic only once both ends have carrier; a packet sent before is
        // lost, which made single-packet tests flaky on a loaded machine.
        for (ns, ifname) in [(&a.name, "va"), (&b.name, "vb")] {
            wait_for("veth carrier", Duration::from_secs(5), || {
                let out = std::process::Command::new("ip")
                    .args(["-n", ns, "-o", "link", "show", ifname])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout);
                (text.contains("LOWER_UP") && text.contains("state UP")).then_some(())
            });
        }
        Pair { a, b, net }
    }
}

/// Polls `f` every 10 ms until it returns `Some`, or panics after `timeout`.
pub(crate) fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
