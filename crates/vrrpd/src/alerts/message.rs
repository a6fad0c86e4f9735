//! The alerts' text, as keepalived writes it (`smtp.c`, `vrrp_notify.c`, `ipwrapper.c`, the
//! checkers), so that mail filters written for keepalived keep working.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use vrrp_track::NotifyState;

/// One alert, as the protocol and load balancer threads hand it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Alert {
    /// A `vrrp_instance` changed state.
    Instance { name: String, state: NotifyState },
    /// A `vrrp_sync_group` changed state.
    Group { name: String, state: NotifyState },
    /// A real server went up or down (`service` and `real_server` in keepalived's
    /// notation); `body` says why.
    RealServer {
        service: String,
        real_server: String,
        up: bool,
        body: String,
    },
    /// A virtual server gained or lost its quorum.
    VirtualServer {
        service: String,
        up: bool,
        body: String,
    },
}

fn state_words(state: NotifyState) -> Option<(&'static str, &'static str, &'static str)> {
    // (subject, instance body, group body)
    Some(match state {
        NotifyState::Master => (
            "Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
            "=> All VRRP group instances are now in MASTER state <=",
        ),
        NotifyState::Backup => (
            "Entering BACKUP state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
            "=> All VRRP group instances are now in BACKUP state <=",
        ),
        NotifyState::Fault => (
            "Entering FAULT state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
            "=> All VRRP group instances are now in FAULT state <=",
        ),
        NotifyState::Stop => (
            "Stopping",
            "=> VRRP Instance stopping <=",
            "=> All VRRP group instances are now stopping <=",
        ),
        NotifyState::Deleted => return None,
    })
}

impl Alert {
    /// The subject and body; `None` for a state keepalived sends nothing about.
    pub(crate) fn text(&self, router_id: &str) -> Option<(String, String)> {
        Some(match self {
            Alert::Instance { name, state } => {
                let (subject, body, _) = state_words(*state)?;
                (
                    format!("[{router_id}] VRRP Instance {name} - {subject}"),
                    body.to_owned(),
                )
            }
            Alert::Group { name, state } => {
                let (subject, _, body) = state_words(*state)?;
                (
                    format!("[{router_id}] VRRP Group {name} - {subject}"),
                    body.to_owned(),
                )
            }
            Alert::RealServer {
                service,
                real_server,
                up,
                body,
            } => (
                format!(
                    "[{router_id}] Realserver {real_server} of virtual server {service} - {}",
                    up_down(*up)
                ),
                body.clone(),
            ),
            Alert::VirtualServer { service, up, body } => (
                format!("[{router_id}] Virtualserver {service} - {}", up_down(*up)),
                body.clone(),
            ),
        })
    }
}

fn up_down(up: bool) -> &'static str {
    if up { "UP" } else { "DOWN" }
}

/// The message as keepalived's `body_cmd` writes it: `Date`, `From`, `Subject`,
/// `X-Mailer`, then `To` with one recipient per folded line, a blank line and the body.
pub(crate) fn render(from: &str, to: &[String], subject: &str, body: &str, date: &str) -> String {
    let mut m = String::new();
    let _ = write!(
        m,
        "Date: {date}\r\nFrom: {from}\r\nSubject: {subject}\r\nX-Mailer: Keepalived\r\nTo:"
    );
    for (i, rcpt) in to.iter().enumerate() {
        let sep = if i == 0 { "" } else { ",\r\n" };
        let _ = write!(m, "{sep} {rcpt}");
    }
    let _ = write!(m, "\r\n\r\n{body}\r\n");
    m
}

/// An RFC 5322 date in UTC (`Thu, 03 Dec 2026 14:30:04 +0000`).
pub(crate) fn rfc5322_date(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(mo - 1).unwrap_or(0).min(11)];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: (year, month 1-12, day 1-31) of a day count since
/// 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn subjects_and_bodies_are_keepalived_s() {
        let a = Alert::Instance {
            name: "VI_1".into(),
            state: NotifyState::Master,
        };
        assert_eq!(
            a.text("lb1"),
            Some((
                "[lb1] VRRP Instance VI_1 - Entering MASTER state".into(),
                "=> VRRP Instance is now owning VRRP VIPs <=".into()
            ))
        );
        let g = Alert::Group {
            name: "G".into(),
            state: NotifyState::Stop,
        };
        assert_eq!(
            g.text("lb1").map(|t| t.0),
            Some("[lb1] VRRP Group G - Stopping".into())
        );
        let rs = Alert::RealServer {
            service: "[10.0.0.1]:tcp:80".into(),
            real_server: "[10.0.0.2]:tcp:80".into(),
            up: false,
            body: "x".into(),
        };
        assert_eq!(
            rs.text("lb1").map(|t| t.0),
            Some(
                "[lb1] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN"
                    .into()
            )
        );
        let deleted = Alert::Instance {
            name: "VI_1".into(),
            state: NotifyState::Deleted,
        };
        assert_eq!(deleted.text("lb1"), None);
    }

    #[test]
    fn the_message_is_laid_out_as_keepalived_s() {
        let to = vec!["a@b.c".to_owned(), "Ops <o@b.c>".to_owned()];
        let m = render("lb@b.c", &to, "S", "B", "D");
        assert_eq!(
            m,
            "Date: D\r\nFrom: lb@b.c\r\nSubject: S\r\nX-Mailer: Keepalived\r\nTo: a@b.c,\r\n Ops <o@b.c>\r\n\r\nB\r\n"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_448);
        assert_eq!(rfc5322_date(t), "Fri, 01 Mar 2024 00:04:08 +0000");
    }
}
