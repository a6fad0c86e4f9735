//! `vrrpd -t` and `--strict`: exit codes and what is printed. No network, any user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vrrp_testlab::run_bounded;

/// A configuration file in a directory of its own, removed on drop.
struct Conf {
    dir: PathBuf,
    path: PathBuf,
}

impl Conf {
    fn new(tag: &str, text: &str) -> Conf {
        let dir = std::env::temp_dir().join(format!("vrrpd-check-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, text).expect("write");
        Conf { dir, path }
    }
}

impl Drop for Conf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `vrrpd -t [--strict] -f PATH`: exit status, standard output, standard error.
fn check(path: &Path, strict: bool) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vrrpd"));
    cmd.arg("-t").arg("-f").arg(path);
    if strict {
        cmd.arg("--strict");
    }
    let out: Output = run_bounded(cmd, Duration::from_secs(30)).expect("run vrrpd -t");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An instance tracking a script and with a notify hook, neither installed; its VRRPv3
/// authentication (as OpenStack Octavia writes it) and `nopreempt 1` are accepted too.
const NOT_DEPLOYED: &str = "\
vrrp_script chk {
    script /nonexistent/vrrpd-test/chk.sh
}
vrrp_instance VI_1 {
    version 3
    interface eth0
    virtual_router_id 51
    nopreempt 1
    authentication {
        auth_type PASS
        auth_pass secret
    }
    notify_master /nonexistent/vrrpd-test/master.sh
    track_script {
        chk
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
";

#[test]
fn scripts_not_installed_are_warnings_unless_strict() {
    let conf = Conf::new("missing", NOT_DEPLOYED);
    let (ok, stdout, stderr) = check(&conf.path, false);
    assert!(ok, "refused:\n{stdout}{stderr}");
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    let p = conf.path.display();
    // Located diagnostics with the source line and the caret, before the summary line.
    for (at, what) in [
        ("2:5", "/nonexistent/vrrpd-test/chk.sh"),
        ("9:5", "VRRP version 3 does not support authentication"),
        ("13:5", "/nonexistent/vrrpd-test/master.sh"),
    ] {
        let head = format!("{p}:{at}: warning: ");
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no warning at {at}:\n{stderr}"));
        assert!(line.contains(what), "{line}");
    }
    assert!(
        stderr.contains(
            "   13 |     notify_master /nonexistent/vrrpd-test/master.sh\n      |     ^^^^^^^^^^^^^"
        ),
        "{stderr}"
    );
    // 3, and one more where scripts would run as root (no keepalived_script user).
    let warnings = stderr.matches(": warning: ").count();
    assert!(
        stderr
            .trim_end()
            .ends_with(&format!("{p}: 0 errors, {warnings} warnings")),
        "the summary comes last:\n{stderr}"
    );

    let (ok, _, stderr) = check(&conf.path, true);
    assert!(!ok, "--strict accepted missing scripts:\n{stderr}");
    assert!(stderr.contains(&format!("{p}:2:5: error: ")), "{stderr}");
    assert!(stderr.contains(&format!("{p}:13:5: error: ")), "{stderr}");
    assert!(stderr.contains(&format!("{p}: 2 errors, ")), "{stderr}");
}

#[test]
fn every_error_in_one_pass_with_the_scripts() {
    // A syntax error, a bad value and a script user that does not exist: all three at once.
    let conf = Conf::new(
        "onepass",
        "\
vrrp_script chk {
    script /bin/true
    user no-such-user-vrrpd-test
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 300
    authentication {
        auth_type AH
    }
    track_script {
        chk
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
",
    );
    let (ok, _, stderr) = check(&conf.path, false);
    assert!(!ok, "accepted:\n{stderr}");
    let p = conf.path.display();
    assert!(stderr.contains(&format!("{p}:7:23: error: ")), "{stderr}");
    // One error for `auth_type AH`, not a second one for the missing type.
    assert_eq!(stderr.matches(&format!("{p}:9:")).count(), 1, "{stderr}");
    assert!(!stderr.contains("needs `auth_type PASS`"), "{stderr}");
    assert!(
        stderr.contains("no-such-user-vrrpd-test"),
        "the script check should run in the same pass:\n{stderr}"
    );
    assert!(stderr.contains(&format!("{p}: 3 errors")), "{stderr}");
}

#[test]
fn load_balancer_refusals_and_script_errors_come_together() {
    // `lc` needs IPVS (the nftables data path is chosen) and the hook's user does not
    // exist: both in one pass, each once, with `lb_dataplane` unset and set.
    for dataplane in ["", "    lb_dataplane nftables\n"] {
        let conf = Conf::new(
            "lb",
            &format!(
                "global_defs {{\n{dataplane}}}\nvirtual_server 192.0.2.1 80 {{\n    lb_algo lc\n    quorum_up \"/bin/true\" no-such-user-vrrpd-test\n    real_server 192.0.2.2 80 {{\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n}}\n"
            ),
        );
        let (ok, _, stderr) = check(&conf.path, false);
        assert!(!ok, "accepted:\n{stderr}");
        assert_eq!(stderr.matches("lvs_sched lc").count(), 1, "{stderr}");
        assert_eq!(
            stderr
                .matches("\"no-such-user-vrrpd-test\" does not exist")
                .count(),
            1,
            "{stderr}"
        );
        let p = conf.path.display();
        assert!(stderr.contains(&format!("{p}: 2 errors")), "{stderr}");
    }
}
