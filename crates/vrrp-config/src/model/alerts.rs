//! keepalived's e-mail alerts: the `global_defs` SMTP settings and the `smtp_alert`
//! switches of instances, sync groups, virtual servers and real servers.

use std::time::Duration;

use super::Location;

/// keepalived's `DEFAULT_SMTP_CONNECTION_TIMEOUT`.
const DEFAULT_SMTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The SMTP settings of `global_defs` and every `smtp_alert` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerts {
    /// `notification_email { }`: the recipients, as written (`a@b` or `Name <a@b>`).
    pub recipients: Vec<String>,
    /// `notification_email_from` (`None`: `USER@HOSTNAME` of the daemon, as keepalived).
    pub from: Option<String>,
    /// `smtp_server IP|NAME [PORT]`: without it no alert is sent.
    pub server: Option<SmtpServer>,
    /// `smtp_helo_name` (`None`: the host name, as keepalived).
    pub helo_name: Option<String>,
    /// `smtp_connect_timeout` (default 30 s): bounds the connection and each reply.
    pub connect_timeout: Duration,
    /// `smtp_alert [BOOL]` of `global_defs`: the default of every object.
    pub default: Option<bool>,
    /// `smtp_alert_vrrp [BOOL]`: the default of instances and sync groups.
    pub vrrp: Option<bool>,
    /// `smtp_alert_checker [BOOL]`: the default of virtual and real servers.
    pub checker: Option<bool>,
    /// `no_email_faults`: no alert for the Fault state.
    pub no_email_faults: bool,
    /// `no_checker_emails`: only alerts where a real server's state changes (vrrpd's
    /// checker events are per real server already, so this changes nothing).
    pub no_checker_emails: bool,
    /// The `smtp_alert [BOOL]` of each object that has one.
    pub switches: Vec<AlertSwitch>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            recipients: Vec::new(),
            from: None,
            server: None,
            helo_name: None,
            connect_timeout: DEFAULT_SMTP_CONNECT_TIMEOUT,
            default: None,
            vrrp: None,
            checker: None,
            no_email_faults: false,
            no_checker_emails: false,
            switches: Vec::new(),
        }
    }
}

/// The address part of `Name <user@host>` or `user@host`, as keepalived sends it in
/// `MAIL FROM` and `RCPT TO`.
pub fn address_of(written: &str) -> &str {
    match (written.rfind('<'), written.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => written,
    }
}

/// `smtp_server IP|NAME [PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// An address or a host name (resolved when an alert is sent).
    pub host: String,
    /// The port (default 25).
    pub port: u16,
}

/// What an `smtp_alert` keyword belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertObject {
    /// `vrrp_instance NAME`.
    Instance(String),
    /// `vrrp_sync_group NAME`.
    SyncGroup(String),
    /// The `virtual_server` keyword at this location (its `site`).
    VirtualServer(Location),
    /// The `real_server` keyword at this location (its `site`).
    RealServer(Location),
}

/// One `smtp_alert [BOOL]` inside an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSwitch {
    /// Its object.
    pub object: AlertObject,
    /// The value.
    pub on: bool,
    /// The keyword.
    pub location: Location,
}

impl Alerts {
    /// Whether alerts can go anywhere: a server and at least one recipient (keepalived
    /// sends nothing otherwise).
    pub fn sends(&self) -> bool {
        self.server.is_some() && !self.recipients.is_empty()
    }

    fn switch(&self, object: &AlertObject) -> Option<bool> {
        self.switches
            .iter()
            .rev()
            .find(|s| s.object == *object)
            .map(|s| s.on)
    }

    /// Whether the instance `name` sends alerts: its own `smtp_alert`, else
    /// `smtp_alert_vrrp`, else the global `smtp_alert`, else off.
    pub fn instance(&self, name: &str) -> bool {
        self.switch(&AlertObject::Instance(name.to_owned()))
            .or(self.vrrp)
            .or(self.default)
            .unwrap_or(false)
    }

    /// Whether the sync group `name` sends alerts (as an instance).
    pub fn sync_group(&self, name: &str) -> bool {
        self.switch(&AlertObject::SyncGroup(name.to_owned()))
            .or(self.vrrp)
            .or(self.default)
            .unwrap_or(false)
    }

    /// Whether the virtual server whose keyword is at `site` sends quorum alerts: its own
    /// `smtp_alert`, else `smtp_alert_checker`, else the global `smtp_alert`, else off.
    pub fn virtual_server(&self, site: &Location) -> bool {
        self.switch(&AlertObject::VirtualServer(site.clone()))
            .or(self.checker)
            .or(self.default)
            .unwrap_or(false)
    }

    /// Whether the real server whose keyword is at `site` sends up/down alerts: as a
    /// virtual server, but on when nothing is set (keepalived keeps that old default).
    pub fn real_server(&self, site: &Location) -> bool {
        self.switch(&AlertObject::RealServer(site.clone()))
            .or(self.checker)
            .or(self.default)
            .unwrap_or(true)
    }
}
