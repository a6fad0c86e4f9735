//! keepalived's e-mail alerts: the SMTP keywords of `global_defs` and `smtp_alert [BOOL]`
//! in instances, sync groups, virtual servers and real servers.

use std::time::Duration;

use super::{At, BlockCtx, Parser, Stmt, word};
use crate::diag::{Diags, SourceMap, Span};
use crate::model::{AlertObject, AlertSwitch, Alerts, SmtpServer, address_of};
use crate::value;

/// What an `smtp_alert` belongs to, before locations are known.
#[derive(Debug, Clone)]
pub(crate) enum RawAlertObject {
    Instance(String),
    SyncGroup(String),
    /// The span of the `virtual_server` keyword.
    VirtualServer(Span),
    /// The span of the `real_server` keyword.
    RealServer(Span),
}

/// The alert keywords as written.
#[derive(Debug, Default)]
pub(crate) struct RawAlerts {
    /// Every setting but the switches.
    pub alerts: Alerts,
    pub switches: Vec<(RawAlertObject, At<bool>)>,
    pub server_span: Option<Span>,
    /// The first `smtp_alert*` that turns alerts on, for the warning when none can be sent.
    pub first_on: Option<Span>,
}

fn email(w: &str) -> Result<String, String> {
    let addr = address_of(w);
    match addr.split_once('@') {
        Some((user, host))
            if !user.is_empty()
                && !host.is_empty()
                && !addr.contains(char::is_whitespace)
                && !host.contains('@') =>
        {
            Ok(w.to_owned())
        }
        _ => Err(
            "is not an address such as `user@example.com` or `\"Name <user@example.com>\"`".into(),
        ),
    }
}

fn host(w: &str) -> Result<String, String> {
    let ok = w.parse::<std::net::IpAddr>().is_ok()
        || (!w.is_empty()
            && w.len() <= 253
            && w.split('.').all(|l| {
                !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    if ok {
        Ok(w.to_owned())
    } else {
        Err("is not an IP address or a host name".into())
    }
}

impl<'t> Parser<'t, '_> {
    /// The alert keywords of `global_defs`.
    pub(super) fn alerts_global(&mut self, s: &Stmt<'t>) {
        match s.name {
            "notification_email" => self.notification_email(s),
            "notification_email_from" => {
                if let Some(v) = self.value(s, email) {
                    self.global.alerts.alerts.from = Some(v.v);
                }
            }
            "smtp_server" => self.smtp_server(s),
            "smtp_helo_name" => {
                // Any word, as keepalived: servers rarely check it.
                if let Some(v) = self.value(s, |w| Ok(w.to_owned())) {
                    self.global.alerts.alerts.helo_name = Some(v.v);
                }
            }
            "smtp_connect_timeout" => {
                let Some(v) = self.value(s, |w| value::int(w, 0, i64::from(u32::MAX / 1000)))
                else {
                    return;
                };
                let secs = if v.v == 0 {
                    self.d.warn(
                        v.span,
                        "`smtp_connect_timeout` must be at least 1 second; using 1",
                    );
                    1
                } else {
                    v.v.unsigned_abs()
                };
                self.global.alerts.alerts.connect_timeout = Duration::from_secs(secs);
            }
            _ => self.alert_flag(s),
        }
    }

    /// `smtp_alert`, `smtp_alert_vrrp`, `smtp_alert_checker`, `no_email_faults`,
    /// `no_checker_emails` (each `[BOOL]`).
    fn alert_flag(&mut self, s: &Stmt<'t>) {
        let Some(v) = self.flag(s) else { return };
        let raw = &mut self.global.alerts;
        let a = &mut raw.alerts;
        match s.name {
            "no_email_faults" => a.no_email_faults = v.v,
            "no_checker_emails" => a.no_checker_emails = v.v,
            name => {
                let slot = match name {
                    "smtp_alert_vrrp" => &mut a.vrrp,
                    "smtp_alert_checker" => &mut a.checker,
                    _ => &mut a.default,
                };
                *slot = Some(v.v);
                if v.v {
                    raw.first_on.get_or_insert(s.span());
                }
            }
        }
    }

    /// `notification_email { ADDRESS... }`: every word is one recipient, as in keepalived
    /// (quote `"Name <user@host>"`).
    fn notification_email(&mut self, s: &Stmt<'t>) {
        self.no_args(s);
        if !self.expect_open(s) {
            return;
        }
        let ctx = BlockCtx {
            name: "notification_email",
            span: s.span(),
        };
        let mut any = false;
        while let Some(words) = self.next_list_line(&ctx) {
            for t in words {
                any = true;
                match email(word(t)) {
                    Ok(a) => self.global.alerts.alerts.recipients.push(a),
                    Err(reason) => self.d.error(
                        t.span,
                        format!("invalid notification_email `{}`: {reason}", word(t)),
                    ),
                }
            }
        }
        if !any {
            self.d.warn(s.span(), "empty `notification_email` block");
        }
    }

    /// `smtp_server IP|NAME [PORT]`.
    fn smtp_server(&mut self, s: &Stmt<'t>) {
        let (name, port) = match s.args.as_slice() {
            [name] => (*name, None),
            [name, port] => (*name, Some(*port)),
            [] => {
                self.d.error_hint(
                    s.span(),
                    "`smtp_server` needs an address",
                    "write `smtp_server IP|NAME [PORT]`",
                );
                return;
            }
            [_, _, extra, ..] => {
                self.d.error_hint(
                    extra.span,
                    format!("unexpected `{}` after `smtp_server`", word(extra)),
                    "write `smtp_server IP|NAME [PORT]`",
                );
                return;
            }
        };
        let host = match host(word(name)) {
            Ok(h) => h,
            Err(reason) => {
                let msg = format!("invalid smtp_server `{}`: {reason}", word(name));
                return self.d.error(name.span, msg);
            }
        };
        let port = match port.map(|p| (p, value::int(word(p), 1, 65535))) {
            None => 25,
            Some((_, Ok(n))) => u16::try_from(n).unwrap_or(25),
            Some((p, Err(_))) => {
                let msg = format!("invalid smtp_server port `{}`: must be 1 to 65535", word(p));
                return self.d.error(p.span, msg);
            }
        };
        self.global.alerts.alerts.server = Some(SmtpServer { host, port });
        self.global.alerts.server_span = Some(s.span());
    }

    /// `smtp_alert [BOOL]` inside an instance, a sync group, a virtual or a real server.
    pub(super) fn smtp_alert_switch(&mut self, s: &Stmt<'t>, object: RawAlertObject) {
        if let Some(v) = self.flag(s) {
            if v.v {
                self.global.alerts.first_on.get_or_insert(s.span());
            }
            self.global.alerts.switches.push((object, v));
        }
    }
}

/// The alerts with their locations; warns where an alert is asked for and none can be sent
/// (keepalived then silently sends nothing).
pub(crate) fn finish(raw: RawAlerts, map: &SourceMap, d: &mut Diags) -> Alerts {
    let mut alerts = raw.alerts;
    alerts.switches = raw
        .switches
        .into_iter()
        .map(|(object, on)| AlertSwitch {
            object: match object {
                RawAlertObject::Instance(n) => AlertObject::Instance(n),
                RawAlertObject::SyncGroup(n) => AlertObject::SyncGroup(n),
                RawAlertObject::VirtualServer(s) => AlertObject::VirtualServer(map.location(s)),
                RawAlertObject::RealServer(s) => AlertObject::RealServer(map.location(s)),
            },
            on: on.v,
            location: map.location(on.span),
        })
        .collect();
    match (raw.first_on, raw.server_span) {
        (Some(at), None) => d.warn_hint(
            at,
            "`smtp_alert` is on but no `smtp_server` is set: no e-mail alert is sent",
            "set `smtp_server IP|NAME [PORT]` and `notification_email { }` in global_defs",
        ),
        (_, Some(at)) if alerts.recipients.is_empty() => d.warn_hint(
            at,
            "`smtp_server` is set but `notification_email` lists no recipient: no e-mail alert is sent",
            "add `notification_email { user@example.com }` to global_defs",
        ),
        _ => {}
    }
    alerts
}
