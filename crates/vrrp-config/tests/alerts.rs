//! keepalived's e-mail alert keywords: values, defaults, which setting wins, and errors
//! located at the offending word.

use std::time::Duration;

use vrrp_config::{Alerts, Loaded, SmtpServer, parse_str};

const INSTANCE: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n}\n";

fn load(text: &str) -> Loaded {
    match parse_str("t.conf", text) {
        Ok(l) => l,
        Err(e) => panic!("{text}\n{e:?}"),
    }
}

fn alerts(text: &str) -> Alerts {
    load(text).config.global.alerts
}

fn error(text: &str) -> vrrp_config::ConfigError {
    let errs = parse_str("t.conf", text).expect_err(text);
    errs.into_iter().next().expect("one error")
}

#[test]
fn global_settings_are_read() {
    let a = alerts(&format!(
        "global_defs {{
  notification_email {{
    admin@example.com
    \"On call <oncall@example.com>\"
  }}
  notification_email_from lb1@example.com
  smtp_server 10.99.0.9 2525
  smtp_helo_name lb1.example.com
  smtp_connect_timeout 5
  no_email_faults
}}
{INSTANCE}"
    ));
    assert_eq!(
        a.recipients,
        ["admin@example.com", "On call <oncall@example.com>"]
    );
    assert_eq!(a.from.as_deref(), Some("lb1@example.com"));
    assert_eq!(
        a.server,
        Some(SmtpServer {
            host: "10.99.0.9".into(),
            port: 2525
        })
    );
    assert_eq!(a.helo_name.as_deref(), Some("lb1.example.com"));
    assert_eq!(a.connect_timeout, Duration::from_secs(5));
    assert!(a.no_email_faults);
    assert!(a.sends());
    assert_eq!(
        vrrp_config::address_of(&a.recipients[1]),
        "oncall@example.com"
    );
}

#[test]
fn defaults_follow_keepalived() {
    let a = alerts(&format!(
        "global_defs {{\n smtp_server mail.example.com\n notification_email {{\n a@b.c\n }}\n}}\n{INSTANCE}"
    ));
    assert_eq!(a.server.as_ref().map(|s| s.port), Some(25));
    assert_eq!(a.connect_timeout, Duration::from_secs(30));
    assert_eq!(a.from, None);
    assert_eq!(a.helo_name, None);
    // Instances are off by default, real servers on (keepalived's old default).
    assert!(!a.instance("VI_1"));
    assert!(!a.sync_group("G"));
    let here = vrrp_config::Location {
        file: "t.conf".into(),
        line: 1,
        column: 1,
    };
    assert!(!a.virtual_server(&here));
    assert!(a.real_server(&here));
}

#[test]
fn own_setting_then_vrrp_or_checker_default_then_global() {
    let text = "global_defs {
 smtp_server 10.99.0.9
 notification_email {
  a@b.c
 }
 smtp_alert
 smtp_alert_checker off
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
}
vrrp_instance VI_2 {
 interface eth0
 virtual_router_id 52
 smtp_alert off
}
vrrp_sync_group G {
 group {
  VI_1
 }
 smtp_alert no
}
virtual_server 10.99.0.100 80 {
 smtp_alert on
 real_server 10.99.1.1 80 {
  TCP_CHECK {
  }
 }
 real_server 10.99.1.2 80 {
  smtp_alert yes
  TCP_CHECK {
  }
 }
}
";
    let config = load(text).config;
    let a = &config.global.alerts;
    assert!(a.instance("VI_1"), "global smtp_alert");
    assert!(!a.instance("VI_2"), "its own");
    assert!(!a.sync_group("G"), "its own");
    let vs = &config.virtual_servers[0];
    assert!(a.virtual_server(&vs.site.location), "its own");
    assert!(
        !a.real_server(&vs.real_servers[0].site.location),
        "smtp_alert_checker off"
    );
    assert!(a.real_server(&vs.real_servers[1].site.location), "its own");
    let vrrp_off = alerts(&format!(
        "global_defs {{\n smtp_alert\n smtp_alert_vrrp false\n}}\n{INSTANCE}"
    ));
    assert!(!vrrp_off.instance("VI_1"));
}

#[test]
fn alerts_on_without_a_server_warn_at_the_keyword() {
    let text = format!("global_defs {{\n router_id a\n smtp_alert\n}}\n{INSTANCE}");
    let w = load(&text).warnings;
    let w = w
        .iter()
        .find(|w| w.message.contains("no `smtp_server`"))
        .expect("warning");
    assert_eq!((w.line, w.column), (3, 2));
    let text = format!("global_defs {{\n smtp_server 10.99.0.9\n}}\n{INSTANCE}");
    let w = load(&text).warnings;
    assert!(
        w.iter()
            .any(|w| w.line == 2 && w.message.contains("no recipient")),
        "{w:?}"
    );
}

#[test]
fn errors_are_located() {
    let e = error(&format!(
        "global_defs {{\n notification_email {{\n  root\n }}\n}}\n{INSTANCE}"
    ));
    assert_eq!((e.line, e.column), (3, 3), "{e:?}");
    assert!(e.message.contains("invalid notification_email `root`"));
    let e = error(&format!(
        "global_defs {{\n smtp_server 10.99.0.9 99999\n}}\n{INSTANCE}"
    ));
    assert_eq!((e.line, e.column), (2, 24), "{e:?}");
    let e = error(&format!(
        "global_defs {{\n smtp_server bad/name\n}}\n{INSTANCE}"
    ));
    assert_eq!((e.line, e.column), (2, 14), "{e:?}");
    let e = error(&format!(
        "global_defs {{\n smtp_alert maybe\n}}\n{INSTANCE}"
    ));
    assert_eq!((e.line, e.column), (2, 13), "{e:?}");
    let e =
        error("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n smtp_alert 2\n}\n");
    assert_eq!((e.line, e.column), (4, 13), "{e:?}");
}

#[test]
fn zero_timeout_is_one_second_with_a_warning() {
    let text = format!("global_defs {{\n smtp_connect_timeout 0\n}}\n{INSTANCE}");
    let loaded = load(&text);
    assert_eq!(
        loaded.config.global.alerts.connect_timeout,
        Duration::from_secs(1)
    );
    assert!(loaded.warnings.iter().any(|w| w.line == 2));
}

#[test]
fn several_notification_email_blocks_add_up() {
    let a = alerts(&format!(
        "global_defs {{\n notification_email {{\n a@b.c\n }}\n notification_email {{\n d@e.f g@h.i\n }}\n}}\n{INSTANCE}"
    ));
    assert_eq!(a.recipients, ["a@b.c", "d@e.f", "g@h.i"]);
}
