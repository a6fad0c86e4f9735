//! The hardening of `contrib/vrrpd.service` does not regress: `systemd-analyze security
//! --offline=true` rates its exposure at most [`RECORDED`] (docs/reliability.md, "Least
//! privilege", has the figure beside Debian's keepalived unit's). Needs no root; without
//! `systemd-analyze` (Debian's `systemd` package, scripts/setup.sh) it prints `SKIPPED`, a
//! failure under `VRRPD_LAB_REQUIRED=1`.

use std::path::Path;
use std::process::Command;

use vrrp_testlab::{find_tool, skip};

/// The exposure measured when the unit was hardened (0 safe .. 10 unsafe).
const RECORDED: f64 = 3.7;

/// The overall exposure in `systemd-analyze security`'s output ("... level for X: 3.7 OK").
fn exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let (_, rest) = line.rsplit_once(": ")?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn unit_exposure_does_not_rise() {
    let Some(analyze) = find_tool("systemd-analyze") else {
        skip("`systemd-analyze` is not installed (Debian's systemd package, scripts/setup.sh)");
        return;
    };
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/vrrpd.service");
    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    let report = String::from_utf8_lossy(&out.stdout);
    let Some(score) = exposure(&report) else {
        panic!(
            "no overall exposure in:\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert!(
        score <= RECORDED,
        "contrib/vrrpd.service exposure {score} is above the recorded {RECORDED}:\n{report}"
    );
}

#[test]
fn exposure_is_read_from_the_summary_line() {
    let line = "→ Overall exposure level for vrrpd.service: 3.7 OK 🙂";
    assert_eq!(exposure(line), Some(3.7));
    assert_eq!(exposure("nothing"), None);
}
