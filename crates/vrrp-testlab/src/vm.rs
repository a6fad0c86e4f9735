//! What the test binaries run in the VM (`scripts/vm-test.sh`, the `*_vm` targets) share:
//! the guard that makes them fail on the host, and bounded commands that name themselves
//! when they fail.

use std::process::{Command, Output};
use std::time::Duration;

use crate::run_bounded;

/// Fails unless the VM runner started the test: the host kernel has no IPVS, and a test
/// that cannot run must fail, not pass. `target` is what `--cargo` takes to run it.
pub fn require_vm(target: &str) {
    assert!(
        std::env::var_os("VRRPD_IN_VM").is_some(),
        "this test needs a kernel with IPVS: run it with `scripts/vm-test.sh --cargo {target}`"
    );
}

/// Runs `prog args` within `bound`, whatever its exit status; panics naming the command
/// when it cannot be run or outlives the bound.
pub fn run(prog: &str, args: &[&str], bound: Duration) -> Output {
    let mut cmd = Command::new(prog);
    cmd.args(args);
    run_bounded(cmd, bound).unwrap_or_else(|e| panic!("{prog} {args:?}: {e}"))
}

/// Like [`run`], and the command must succeed: its standard output.
pub fn run_ok(prog: &str, args: &[&str], bound: Duration) -> String {
    let out = run(prog, args, bound);
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
