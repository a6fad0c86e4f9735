//! What a lab test needs, and what happens when this machine does not have it.
//!
//! A test that cannot run must never pass as if it had run. Under
//! `VRRPD_LAB_REQUIRED=1` (set by `scripts/test.sh`, so in CI) a missing need is a test
//! failure that names it. Without it (a developer's machine without root) the test prints
//! `SKIPPED: ...` and returns; the plain nextest profile does not select the lab test
//! binaries at all, so nextest counts them as skipped (`.config/nextest.toml`).

use std::path::{Path, PathBuf};

/// The environment variable under which a lab test that cannot run fails.
pub const LAB_REQUIRED_VAR: &str = "VRRPD_LAB_REQUIRED";

/// True when lab tests must run (`VRRPD_LAB_REQUIRED=1`).
pub fn lab_required() -> bool {
    std::env::var_os(LAB_REQUIRED_VAR).is_some_and(|v| v == "1")
}

/// True when running as root (the lab needs CAP_NET_ADMIN and CAP_SYS_ADMIN).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Finds `name` in `$PATH`, `/usr/sbin` and `/sbin`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Returns `None` when the lab can run here with `tools`, or what is missing.
pub fn skip_reason(tools: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("needs root (network namespaces)".into());
    }
    for t in ["ip"].iter().chain(tools) {
        if find_tool(t).is_none() {
            return Some(format!(
                "`{t}` is not installed (scripts/setup.sh installs it)"
            ));
        }
    }
    None
}

/// Reports that a test (or a check inside one) cannot run: a failure naming `why` under
/// `VRRPD_LAB_REQUIRED=1`, else `SKIPPED: why` on stderr.
#[track_caller]
pub fn skip(why: &str) {
    if lab_required() {
        panic!("cannot run here, and {LAB_REQUIRED_VAR}=1 makes that a failure: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// True when the lab and `tools` are here; otherwise reports the skip ([`skip`]).
#[track_caller]
pub fn lab_ready(tools: &[&str]) -> bool {
    match skip_reason(tools) {
        None => true,
        Some(why) => {
            skip(&why);
            false
        }
    }
}

/// True when `ok`; otherwise reports `why` as a skip ([`skip`]). For needs other than
/// root and programs (a Python module, a kernel feature).
#[track_caller]
pub fn need(ok: bool, why: &str) -> bool {
    if !ok {
        skip(why);
    }
    ok
}

/// Returns from the calling test unless the lab and the named programs are here:
/// `require!("nft", "ping");`. Under `VRRPD_LAB_REQUIRED=1` a missing one fails the test.
#[macro_export]
macro_rules! require {
    ($($tool:expr),* $(,)?) => {
        if !$crate::lab_ready(&[$($tool),*]) {
            return;
        }
    };
}
