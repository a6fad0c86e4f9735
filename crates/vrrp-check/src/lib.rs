//! The probes of keepalived's real-server health checkers, and `genhash`.
//!
//! The load-balancing core (`vrrp-lb`) decides when a checker runs and what its results
//! mean (retries, alpha, quorum); this crate runs one probe and says how it went. Every
//! network probe makes a fresh connection, has one hard deadline (`connect_timeout`, for the
//! whole probe) and reads bounded amounts: a server that never answers, or answers forever,
//! cannot hold a probe past its deadline nor make it grow its memory (docs/checkers.md).
#![forbid(unsafe_code)]

mod dns;
mod file;
#[cfg(test)]
mod fuzz;
mod genhash;
mod http;
mod misc;
mod net;
mod ping;
mod smtp;
mod tls;
mod udp;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use vrrp_lb::check::{CheckKind, CheckOutcome, CheckerSpec, TlsClient};
use vrrp_lb::spec::RealServerKey;
use vrrp_track::RunAs;

pub use file::{FileStatus, file_status};
pub use genhash::{GenhashError, GenhashReport, GenhashRequest, genhash};
pub use http::BODY_PREFIX_LIMIT;

/// SMTP_CHECK's `HELO` name when none is configured (keepalived's `SMTP_DEFAULT_HELO`).
pub const DEFAULT_HELO_NAME: &str = "smtpchecker.keepalived.org";

/// What every probe shares: the daemon-wide settings checkers depend on.
#[derive(Clone, Debug, Default)]
pub struct ProbeContext {
    /// The top-level `SSL { }` block (SSL_GET); `None`: no client certificate, no
    /// verification of the server.
    pub tls: Option<TlsClient>,
    /// The user MISC_CHECK scripts run as when they name none (`script_user`, resolved by
    /// the daemon); `None`: the daemon's own identity.
    pub script_user: Option<RunAs>,
    /// `enable_script_security`: MISC_CHECK programs must be safe to run as their user.
    pub script_security: bool,
    /// `track_file NAME` -> its path, for FILE_CHECK.
    pub track_files: HashMap<String, PathBuf>,
    /// The name SMTP_CHECK says `HELO` with when the checker gives none; empty:
    /// keepalived's default, [`DEFAULT_HELO_NAME`].
    pub helo_name: String,
}

/// Why a [`Prober`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file of the `SSL { }` block cannot be read or parsed.
    #[error("SSL {what} {path}: {reason}")]
    TlsFile {
        /// `ca`, `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS settings are inconsistent or refused by the TLS library.
    #[error("SSL: {0}")]
    Tls(String),
    /// A setting this implementation does not support yet.
    #[error("not supported yet: {0}")]
    Unsupported(&'static str),
}

/// The result of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// How it went.
    pub outcome: CheckOutcome,
    /// How long it took.
    pub latency: Duration,
}

/// Runs probes; cheap to clone and share between tasks.
#[derive(Clone, Debug)]
pub struct Prober {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ctx: ProbeContext,
    tls: tls::Tls,
    regexes: http::Regexes,
}

/// A probe's result before it is timed: `Err` is the reason it is down.
pub(crate) type Verdict = Result<CheckOutcome, String>;

/// What a probe is doing, for the reason given when its deadline passes
/// ("timeout after 5 s reading the body"). A mutex, not a `Cell`, so that probes stay `Send`.
#[derive(Debug)]
pub(crate) struct Stage(Mutex<&'static str>);

impl Stage {
    fn new(what: &'static str) -> Stage {
        Stage(Mutex::new(what))
    }

    /// The probe now does `what`.
    pub(crate) fn set(&self, what: &'static str) {
        if let Ok(mut s) = self.0.lock() {
            *s = what;
        }
    }

    fn get(&self) -> &'static str {
        self.0.lock().map(|s| *s).unwrap_or("probing")
    }
}

impl Prober {
    /// A prober for `ctx`; reads and checks the `SSL { }` files now.
    pub fn new(mut ctx: ProbeContext) -> Result<Prober, SetupError> {
        let tls = tls::Tls::new(ctx.tls.as_ref())?;
        if ctx.helo_name.is_empty() {
            ctx.helo_name = DEFAULT_HELO_NAME.to_string();
        }
        Ok(Prober {
            inner: Arc::new(Inner {
                ctx,
                tls,
                regexes: http::Regexes::default(),
            }),
        })
    }

    /// Runs one probe of `spec` against `real_server`.
    pub async fn probe(&self, spec: &CheckerSpec, real_server: RealServerKey) -> Probe {
        let start = Instant::now();
        let outcome = match self.verdict(spec, real_server, start).await {
            Ok(o) => o,
            Err(reason) => CheckOutcome::Down(reason),
        };
        Probe {
            outcome,
            latency: start.elapsed(),
        }
    }

    async fn verdict(&self, spec: &CheckerSpec, rs: RealServerKey, start: Instant) -> Verdict {
        let ctx = &self.inner.ctx;
        match &spec.kind {
            // Not network probes: their own timeout, or none.
            CheckKind::Misc(m) => return misc::probe(m, &spec.timing, ctx).await,
            CheckKind::File(f) => return file::probe(f, ctx),
            _ => {}
        }
        let limit = spec.timing.connect_timeout;
        // A limit too large for the clock is no limit.
        let deadline = start
            .checked_add(limit)
            .unwrap_or_else(|| start + Duration::from_secs(365 * 86400));
        let stage = Stage::new("connecting");
        let target = net::Target::new(&spec.target, rs);
        let run = async {
            match &spec.kind {
                CheckKind::Tcp => net::connect_tcp(&target, &stage)
                    .await
                    .map(|_| CheckOutcome::Up),
                CheckKind::Http(h) => {
                    http::probe(h, &target, None, &self.inner.regexes, &stage).await
                }
                CheckKind::Ssl(h) => {
                    let tls = Some(&self.inner.tls);
                    http::probe(h, &target, tls, &self.inner.regexes, &stage).await
                }
                CheckKind::Smtp { helo_name } => {
                    let name = helo_name.as_deref().unwrap_or(&ctx.helo_name);
                    smtp::probe(name, &target, &stage).await
                }
                CheckKind::Dns(d) => dns::probe(d, &target, &stage).await,
                CheckKind::Udp(u) => udp::probe(u, &target, deadline, &stage).await,
                CheckKind::Ping => ping::probe(&target, &stage).await,
                CheckKind::Misc(_) | CheckKind::File(_) => Err("not a network checker".into()),
            }
        };
        // UDP_CHECK waits until the deadline on purpose; the margin lets it say so itself.
        match tokio::time::timeout_at(deadline + Duration::from_millis(50), run).await {
            Ok(v) => v,
            Err(_) => Err(format!(
                "{}: timeout after {} {}",
                target.addr,
                secs(limit),
                stage.get()
            )),
        }
    }
}

/// "5 s", "0.5 s".
pub(crate) fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
