//! The alerts worker: a thread of its own that sends the queued alerts one by one in plain
//! SMTP (`HELO`, `MAIL FROM`, `RCPT TO`, `DATA`, `QUIT`, no TLS, as keepalived), so that a
//! slow or dead server only ever delays other alerts.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::SystemTime;

use lettre::Transport as _;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::extension::ClientId;
use tracing::{info, warn};
use vrrp_config::address_of;

use super::message::{render, rfc5322_date};
use super::{COUNTS, Queued, Settings};

/// Sends what arrives until every sender is gone.
pub(super) fn run(queue: Receiver<Queued>) {
    while let Ok(q) = queue.recv() {
        let Some((subject, body)) = q.text() else {
            COUNTS.pending.fetch_sub(1, Ordering::Relaxed);
            continue;
        };
        let result = send(&q.settings, &subject, &body);
        COUNTS.pending.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(()) => {
                COUNTS.sent.fetch_add(1, Ordering::Relaxed);
                info!("e-mail alert sent: {subject}");
            }
            Err(e) => {
                COUNTS.failed.fetch_add(1, Ordering::Relaxed);
                let server = &q.settings.server;
                warn!(
                    "e-mail alert \"{subject}\" not sent through {}:{}: {e}",
                    server.host, server.port
                );
            }
        }
    }
}

fn send(s: &Arc<Settings>, subject: &str, body: &str) -> Result<(), String> {
    let address = |written: &str| {
        Address::from_str(address_of(written)).map_err(|e| format!("address `{written}`: {e}"))
    };
    let to = s
        .recipients
        .iter()
        .map(|r| address(r))
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(Some(address(&s.from)?), to).map_err(|e| e.to_string())?;
    let text = render(
        &s.from,
        &s.recipients,
        subject,
        body,
        &rfc5322_date(SystemTime::now()),
    );
    // `builder_dangerous`: plain SMTP without STARTTLS, as keepalived speaks it.
    let transport = SmtpTransport::builder_dangerous(s.server.host.as_str())
        .port(s.server.port)
        .timeout(Some(s.timeout))
        .hello_name(ClientId::Domain(s.helo_name.clone()))
        .build();
    transport
        .send_raw(&envelope, text.as_bytes())
        .map(|_| ())
        .map_err(|e| e.to_string())
}
