//! keepalived's e-mail alerts end to end: vrrpd nodes on a LAN (network namespaces,
//! `vrrp-testlab`) mail a recording aiosmtpd server in another node.
//!
//! * A Master change mails keepalived's subjects, from the right nodes, to every
//!   recipient, from the configured sender.
//! * A dead SMTP server costs a log line and a counter, never an advert.
//! * A real server that dies mails the checker alert, and its service the quorum alert.
//!
//! Without root every test prints `SKIPPED: ...` (a failure under `VRRPD_LAB_REQUIRED=1`);
//! the lab kills what it started and deletes its namespaces on drop, also on a panic.

#[path = "balancer/common.rs"]
mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{POLL, ROTATION, Rs, START, config, setup, start_vrrpd, wait_rotation};
use vrrp_testlab::{Lab, Mail, Smtpd, require, wait_until};

const PORT: u16 = 2525;
/// Alerts of a transition reach the server within this (they are sent at once).
const MAIL: Duration = Duration::from_secs(15);

fn global_defs(router: &str, smtp: Ipv4Addr, extra: &str) -> String {
    format!(
        "global_defs {{\n    router_id {router}\n    notification_email {{\n        ops@example.com\n        \
         \"On call <oncall@example.com>\"\n    }}\n    notification_email_from vrrpd@{router}.example.com\n    \
         smtp_server {smtp} {PORT}\n    smtp_helo_name {router}.example.com\n    smtp_connect_timeout 2\n{extra}}}\n"
    )
}

fn instance(priority: u8, vip: Ipv4Addr) -> String {
    instance_n(1, priority, vip)
}

/// `VI_n` (VRID 60 + n) holding `vip`, with `smtp_alert`.
fn instance_n(n: u8, priority: u8, vip: Ipv4Addr) -> String {
    format!(
        "vrrp_instance VI_{n} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {}\n    \
         priority {priority}\n    advert_int 0.1\n    version 3\n    smtp_alert\n    \
         virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n",
        60 + u16::from(n)
    )
}

/// Whether aiosmtpd is importable (python3-aiosmtpd); a skip (or a failure under
/// `VRRPD_LAB_REQUIRED=1`) otherwise.
fn aiosmtpd() -> bool {
    let ok = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    vrrp_testlab::need(
        ok,
        "needs /usr/bin/python3 with aiosmtpd (python3-aiosmtpd)",
    )
}

fn subjects(mails: &[Mail]) -> Vec<String> {
    mails.iter().filter_map(|m| m.header("Subject")).collect()
}

#[track_caller]
fn wait_mail(smtpd: &Smtpd, subject: &str) -> Mail {
    let found = wait_until(MAIL, POLL, || {
        subjects(&smtpd.mails()).iter().any(|s| s == subject)
    });
    assert!(
        found,
        "no mail `{subject}`; got {:?}",
        subjects(&smtpd.mails())
    );
    smtpd
        .mails()
        .into_iter()
        .find(|m| m.header("Subject").as_deref() == Some(subject))
        .expect("the mail")
}

#[test]
fn a_master_change_mails_keepalived_s_subjects_from_the_right_nodes() {
    require!();
    if !aiosmtpd() {
        return;
    }
    let mut lab = Lab::new("alerts").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let r2 = lab.add_router("r2").expect("r2");
    let mail = lab.add_host("mail").expect("mail");
    let smtpd = Smtpd::start_recording(&mail, PORT).expect("aiosmtpd");
    let vip = lab.vip4(61);
    let d1 = start_vrrpd(
        &r1,
        &format!(
            "{}{}",
            global_defs("r1", mail.ipv4(), ""),
            instance(150, vip)
        ),
    );
    let master = wait_mail(&smtpd, "[r1] VRRP Instance VI_1 - Entering MASTER state");
    assert_eq!(master.mail_from, "vrrpd@r1.example.com");
    assert_eq!(master.rcpt_to, ["ops@example.com", "oncall@example.com"]);
    assert_eq!(master.helo, "r1.example.com");
    assert_eq!(
        master.header("From").as_deref(),
        Some("vrrpd@r1.example.com")
    );
    assert_eq!(
        master.header("To").as_deref(),
        Some("ops@example.com, On call <oncall@example.com>")
    );
    assert_eq!(master.header("X-Mailer").as_deref(), Some("Keepalived"));
    assert!(master.header("Date").is_some_and(|d| d.ends_with("+0000")));
    assert_eq!(
        master.body().trim(),
        "=> VRRP Instance is now owning VRRP VIPs <="
    );

    let _d2 = start_vrrpd(
        &r2,
        &format!(
            "{}{}",
            global_defs("r2", mail.ipv4(), ""),
            instance(100, vip)
        ),
    );
    wait_mail(&smtpd, "[r2] VRRP Instance VI_1 - Entering BACKUP state");

    // r1 stops: it mails that, and r2 takes over and mails that.
    assert!(
        d1.stop(Duration::from_secs(10)).expect("stop r1"),
        "r1 did not exit"
    );
    wait_mail(&smtpd, "[r1] VRRP Instance VI_1 - Stopping");
    wait_mail(&smtpd, "[r2] VRRP Instance VI_1 - Entering MASTER state");
    assert!(r2.has_address(vip));
    let from_r2 = smtpd
        .mails()
        .iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.starts_with("[r2]")))
        .all(|m| m.mail_from == "vrrpd@r2.example.com");
    assert!(from_r2, "a mail of r2 with another sender");
    // One mail per state: r2 was Backup once and Master once.
    let r2_mails = subjects(&smtpd.mails())
        .into_iter()
        .filter(|s| s.starts_with("[r2]"))
        .count();
    assert_eq!(r2_mails, 2, "{:?}", subjects(&smtpd.mails()));
}

#[test]
fn a_dead_smtp_server_costs_a_log_line_and_a_count_not_an_advert() {
    require!("curl");
    let mut lab = Lab::new("alerts-dead").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let r2 = lab.add_router("r2").expect("r2");
    let vip = lab.vip4(62);
    // Nobody has this address: each alert waits for its 2 s timeout.
    let nobody = lab.ipv4(250);
    let metrics = "    metrics_listen 127.0.0.1:9650\n";
    let d2 = start_vrrpd(
        &r2,
        &format!("{}{}", global_defs("r2", nobody, ""), instance(100, vip)),
    );
    let d1 = start_vrrpd(
        &r1,
        &format!(
            "{}{}",
            global_defs("r1", nobody, metrics),
            instance(150, vip)
        ),
    );
    assert!(
        wait_until(START, POLL, || r1.has_address(vip)),
        "r1 did not become Master:\n{}",
        d1.tail(30)
    );
    // While r1's alert waits on the dead server, r1 keeps advertising: r2 stays Backup.
    let held = !wait_until(Duration::from_secs(4), POLL, || r2.has_address(vip));
    assert!(
        held,
        "r2 took the VIP while r1's alert was pending:\n{}",
        d2.tail(30)
    );
    let logged = wait_until(MAIL, POLL, || {
        d1.tail(200)
            .contains("e-mail alert \"[r1] VRRP Instance VI_1 - Entering MASTER state\" not sent")
    });
    assert!(logged, "no failure logged:\n{}", d1.tail(30));
    let failed = wait_until(MAIL, POLL, || {
        r1.run("curl", &["-s", "http://127.0.0.1:9650/metrics"])
            .is_ok_and(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.lines().any(|l| {
                    l.strip_prefix("vrrpd_alerts_failed_total ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n >= 1)
                })
            })
    });
    assert!(failed, "vrrpd_alerts_failed_total did not count it");
    assert!(r1.has_address(vip) && !r2.has_address(vip));
}

#[test]
fn a_dead_real_server_mails_the_checker_and_quorum_alerts() {
    require!("nginx", "nft");
    if !aiosmtpd() {
        return;
    }
    let s = setup("alerts-lb", 1);
    let smtpd = Smtpd::start_recording(&s.client, PORT).expect("aiosmtpd");
    let globals: Vec<String> = global_defs("lb1", s.client.ipv4(), "")
        .lines()
        .skip(1)
        .take_while(|l| *l != "}")
        .map(str::trim)
        .map(str::to_owned)
        .collect();
    let servers = [Rs::new(s.rs(1), 1)];
    let conf = config(s.vip, 150, "rr", &globals, &["smtp_alert".into()], &servers);
    let d = start_vrrpd(&s.balancer, &conf);
    // Real servers alert by default (keepalived's default), but not for their first state.
    let rs = format!("[{}]:tcp:8080", s.rs(1));
    let vs = format!("[{}]:tcp:80", s.vip);
    wait_rotation(
        &s.balancer,
        &d,
        &[(s.rs(1), Some(1))],
        "rs1 in the rotation",
    );
    s.servers[0].1.kill().expect("kill nginx");
    let down = format!("[lb1] Realserver {rs} of virtual server {vs} - DOWN");
    let found = wait_until(ROTATION, POLL, || subjects(&smtpd.mails()).contains(&down));
    assert!(
        found,
        "no `{down}`: {:?}\n{}",
        subjects(&smtpd.mails()),
        d.tail(30)
    );
    let m = wait_mail(&smtpd, &down);
    assert!(
        m.body().starts_with("=> CHECK failed on service"),
        "{}",
        m.body()
    );
    let lost = wait_mail(&smtpd, &format!("[lb1] Virtualserver {vs} - DOWN"));
    assert!(
        lost.body().starts_with("=> Lost quorum 1+0=1 <= 0 <="),
        "{}",
        lost.body()
    );
}

#[test]
fn a_sync_group_mails_its_own_transitions() {
    require!();
    if !aiosmtpd() {
        return;
    }
    let mut lab = Lab::new("alerts-sg").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let mail = lab.add_host("mail").expect("mail");
    let smtpd = Smtpd::start_recording(&mail, PORT).expect("aiosmtpd");
    // The members have `smtp_alert` too: both kinds of alert come, each its own subject.
    let group =
        "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n    smtp_alert\n}\n";
    let conf = format!(
        "{}{}{}{group}",
        global_defs("r1", mail.ipv4(), ""),
        instance_n(1, 150, lab.vip4(63)),
        instance_n(2, 150, lab.vip4(64)),
    );
    let d = start_vrrpd(&r1, &conf);
    let g = wait_mail(&smtpd, "[r1] VRRP Group G - Entering MASTER state");
    assert_eq!(
        g.body().trim(),
        "=> All VRRP group instances are now in MASTER state <="
    );
    wait_mail(&smtpd, "[r1] VRRP Instance VI_2 - Entering MASTER state");
    assert!(
        d.stop(Duration::from_secs(10)).expect("stop"),
        "r1 did not exit"
    );
    wait_mail(&smtpd, "[r1] VRRP Group G - Stopping");
}

/// r1 runs without `smtp_alert`; a reload turns it on, and the next transition (r2, higher,
/// takes over) mails.
#[test]
fn a_reload_turns_alerts_on() {
    require!();
    if !aiosmtpd() {
        return;
    }
    let mut lab = Lab::new("alerts-rl").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let r2 = lab.add_router("r2").expect("r2");
    let mail = lab.add_host("mail").expect("mail");
    let smtpd = Smtpd::start_recording(&mail, PORT).expect("aiosmtpd");
    let vip = lab.vip4(65);
    let on = format!(
        "{}{}",
        global_defs("r1", mail.ipv4(), ""),
        instance(100, vip)
    );
    let off = on.replace("    smtp_alert\n", "");
    let d1 = start_vrrpd(&r1, &off);
    assert!(
        wait_until(START, POLL, || r1.has_address(vip)),
        "r1 did not become Master:\n{}",
        d1.tail(30)
    );
    std::fs::write(&d1.conf, &on).expect("write the configuration");
    common::ctl_json(&r1, &d1, &["reload"]);
    let _d2 = start_vrrpd(
        &r2,
        &format!(
            "{}{}",
            global_defs("r2", mail.ipv4(), ""),
            instance(150, vip)
        ),
    );
    wait_mail(&smtpd, "[r1] VRRP Instance VI_1 - Entering BACKUP state");
    let r1_mails = subjects(&smtpd.mails())
        .into_iter()
        .filter(|s| s.starts_with("[r1]"))
        .count();
    assert_eq!(
        r1_mails,
        1,
        "mails before the reload: {:?}",
        subjects(&smtpd.mails())
    );
}
