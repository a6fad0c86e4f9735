//! Which transitions queue an alert, and what a full queue does.

use std::sync::mpsc::{Receiver, sync_channel};

use super::*;

const CONF: &str = "global_defs {
    router_id lb1
    notification_email {
        ops@example.com
    }
    smtp_server 10.99.0.9
    smtp_alert_vrrp
    no_email_faults
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    smtp_alert off
}
";

/// Alerts applying `text`, with the receiving end of a queue of `size`.
fn alerts(text: &str, size: usize) -> (Alerts, Receiver<Queued>) {
    let config = vrrp_config::parse_str("t.conf", text)
        .expect("valid")
        .config;
    let (queue, rx) = sync_channel(size);
    let alerts = Alerts {
        inner: Some(Arc::new(Shared {
            queue,
            policy: Mutex::new(policy(&config)),
        })),
    };
    (alerts, rx)
}

fn subjects(rx: &Receiver<Queued>) -> Vec<String> {
    rx.try_iter()
        .filter_map(|q| q.text())
        .map(|t| t.0)
        .collect()
}

#[test]
fn one_alert_per_new_state_of_an_instance_with_alerts() {
    let (a, rx) = alerts(CONF, 8);
    a.instance("VI_1", NotifyState::Backup);
    a.instance("VI_1", NotifyState::Backup);
    a.instance("VI_1", NotifyState::Fault); // no_email_faults
    a.instance("VI_1", NotifyState::Master);
    a.instance("VI_2", NotifyState::Master); // smtp_alert off
    assert_eq!(
        subjects(&rx),
        [
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
            "[lb1] VRRP Instance VI_1 - Entering MASTER state"
        ]
    );
}

#[test]
fn a_full_queue_drops_and_counts() {
    let (a, rx) = alerts(CONF, 1);
    let dropped = COUNTS.dropped.load(Ordering::Relaxed);
    a.instance("VI_1", NotifyState::Backup);
    a.instance("VI_1", NotifyState::Master);
    assert_eq!(COUNTS.dropped.load(Ordering::Relaxed), dropped + 1);
    assert_eq!(subjects(&rx).len(), 1);
}

#[test]
fn without_a_server_nothing_is_queued() {
    let text = CONF.replace("    smtp_server 10.99.0.9\n", "");
    let (a, rx) = alerts(&text, 8);
    a.instance("VI_1", NotifyState::Master);
    assert!(subjects(&rx).is_empty());
}
