//! Health checkers as configured: what each one probes (`vrrp-check` runs the probe) and when
//! (the core schedules it). keepalived.conf(5), "real_server" checkers.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// When a checker runs, and how patient it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckTiming {
    /// `delay_loop`: time between two checks (default 60 s).
    pub delay_loop: Duration,
    /// `connect_timeout`: the whole probe's deadline (default 5 s).
    pub connect_timeout: Duration,
    /// `retry` (legacy `nb_get_retry`): failures in a row, after the first, before the server
    /// is called down (default 1 for most checkers, 3 for DNS_CHECK).
    pub retry: u32,
    /// `delay_before_retry`: time before a retry (default 1 s).
    pub delay_before_retry: Duration,
    /// `warmup`: the first check starts at a random point within this (default: the
    /// `delay_loop`; 0: at once).
    pub warmup: Duration,
    /// `alpha` at checker level: starts failed.
    pub alpha: bool,
    /// `log_all_failures`: every failed attempt is logged, not only state changes.
    pub log_all_failures: bool,
}

impl Default for CheckTiming {
    fn default() -> Self {
        CheckTiming {
            delay_loop: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            retry: 1,
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::from_secs(60),
            alpha: false,
            log_all_failures: false,
        }
    }
}

/// Where a network checker connects, and from where (`connect_ip`, `connect_port`,
/// `bindto`, `bind_if`, `bind_port`, `fwmark`); each defaults to the real server's.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CheckTarget {
    /// `connect_ip` (default: the real server's address).
    pub connect_ip: Option<IpAddr>,
    /// `connect_port` (default: the real server's port).
    pub connect_port: Option<u16>,
    /// `bindto`: source address.
    pub bindto: Option<IpAddr>,
    /// `bind_if`: interface (needed with a link-local `bindto`).
    pub bind_if: Option<String>,
    /// `bind_port`: source port.
    pub bind_port: Option<u16>,
    /// `fwmark`: mark set on the probe's packets.
    pub fwmark: Option<u32>,
}

/// `http_protocol`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// `1.0` (keepalived's default).
    #[default]
    V1_0,
    /// `1.0C`: HTTP/1.0 with `Connection: close`.
    V1_0Close,
    /// `1.1` (with `Connection: close`, as keepalived sends it).
    V1_1,
}

/// One `url { }` of an HTTP_GET or SSL_GET checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlCheck {
    /// `path` (required).
    pub path: String,
    /// `status_code` values and ranges; empty: 200-299.
    pub status_codes: Vec<RangeInclusive<u16>>,
    /// `digest`: MD5 of the body, as `genhash` prints it.
    pub digest: Option<[u8; 16]>,
    /// `regex`: the body must match (or must not, with `regex_no_match`).
    pub regex: Option<String>,
    /// `regex_no_match`.
    pub regex_no_match: bool,
    /// `virtualhost` for this URL (else the checker's, else the service's).
    pub virtualhost: Option<String>,
}

impl UrlCheck {
    /// `url { path PATH }` with keepalived's defaults (status 200-299, no digest, no regex).
    pub fn new(path: impl Into<String>) -> UrlCheck {
        UrlCheck {
            path: path.into(),
            status_codes: Vec::new(),
            digest: None,
            regex: None,
            regex_no_match: false,
            virtualhost: None,
        }
    }
}

impl HttpCheck {
    /// A checker of `urls` with keepalived's defaults (HTTP/1.0, no virtual host).
    pub fn new(urls: Vec<UrlCheck>) -> HttpCheck {
        HttpCheck {
            urls,
            ..HttpCheck::default()
        }
    }
}

/// HTTP_GET and SSL_GET.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HttpCheck {
    /// The URLs, all of which must pass.
    pub urls: Vec<UrlCheck>,
    /// `virtualhost`: the Host header (checker's, else the service's; else the address).
    pub virtualhost: Option<String>,
    /// `http_protocol`.
    pub version: HttpVersion,
    /// `enable_sni` / `sni_name`: the TLS server name (SSL_GET; `enable_sni` alone uses the
    /// virtual host).
    pub sni: Option<String>,
    /// `tls_compliant`: close TLS with close_notify.
    pub tls_compliant: bool,
    /// `fast_recovery`: while down, every URL is tried back to back.
    pub fast_recovery: bool,
}

/// The top-level `SSL { }` block: the client's TLS context for SSL_GET.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsClient {
    /// `ca`: certificates to verify the server against; none: the server is not verified
    /// (keepalived's behaviour).
    pub ca: Option<PathBuf>,
    /// `certificate`: client certificate.
    pub certificate: Option<PathBuf>,
    /// `key`: its key.
    pub key: Option<PathBuf>,
    /// `password`: the key's password.
    pub password: Option<String>,
}

/// DNS_CHECK `type`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum DnsType {
    /// A.
    A,
    /// NS.
    Ns,
    /// CNAME.
    Cname,
    /// SOA (the default).
    #[default]
    Soa,
    /// MX.
    Mx,
    /// TXT.
    Txt,
    /// AAAA.
    Aaaa,
}

/// DNS_CHECK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type` (default SOA).
    pub qtype: DnsType,
    /// `name` (default `.`).
    pub name: String,
}

/// One byte of UDP_CHECK's `require_reply`: a value, or `XX` (any).
pub type ReplyByte = Option<u8>;

/// UDP_CHECK.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UdpCheck {
    /// `payload` (hex): what is sent (empty: a zero-length datagram).
    pub payload: Vec<u8>,
    /// `require_reply`: a reply must come and begin with this; `None`: success unless an
    /// ICMP unreachable comes back.
    pub require_reply: Option<Vec<ReplyByte>>,
    /// `min_reply_length`.
    pub min_reply_length: Option<usize>,
    /// `max_reply_length`.
    pub max_reply_length: Option<usize>,
}

/// MISC_CHECK: an external program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiscCheck {
    /// `misc_path`: the program and its arguments.
    pub argv: Vec<String>,
    /// `user USER [GROUP]` (else `script_user`).
    pub user: Option<(String, Option<String>)>,
    /// `misc_timeout` (default: the `delay_loop`).
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit 2-255 sets the weight to (code - 2).
    pub dynamic: bool,
}

/// FILE_CHECK: the weight (or a failure) read from a `track_file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// `track_file NAME`.
    pub track_file: String,
    /// `weight N [reverse]`: the file's value times N adds to the weight; 0: the value 0 is
    /// up, anything else down.
    pub weight: i32,
    /// `reverse`.
    pub reverse: bool,
}

/// What a checker probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// TCP_CHECK: a connection is accepted.
    Tcp,
    /// HTTP_GET.
    Http(HttpCheck),
    /// SSL_GET.
    Ssl(HttpCheck),
    /// SMTP_CHECK: banner 220, `HELO helo_name`, 250, QUIT.
    Smtp {
        /// `helo_name` (legacy `host`; default the local host name).
        helo_name: Option<String>,
    },
    /// DNS_CHECK.
    Dns(DnsCheck),
    /// UDP_CHECK.
    Udp(UdpCheck),
    /// PING_CHECK: ICMP or ICMPv6 echo.
    Ping,
    /// MISC_CHECK.
    Misc(MiscCheck),
    /// FILE_CHECK.
    File(FileCheck),
}

impl CheckKind {
    /// keepalived's keyword for it.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Ssl(_) => "SSL_GET",
            CheckKind::Smtp { .. } => "SMTP_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::File(_) => "FILE_CHECK",
        }
    }
}

/// One checker of a real server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckerSpec {
    /// What it probes.
    pub kind: CheckKind,
    /// When, and how patiently.
    pub timing: CheckTiming,
    /// Where (network checkers).
    pub target: CheckTarget,
}

/// The result of one probe, as the driver reports it to the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// It passed.
    Up,
    /// It passed and set the real server's weight (`misc_dynamic`).
    Weight(u32),
    /// It passed and moves the real server's weight from its configured one by this much
    /// (FILE_CHECK: the file's value times the checker's weight; 0 and below is 0).
    WeightOffset(i64),
    /// It failed, and why (for the log, `vrrpctl lvs` and the metrics).
    Down(String),
}
