//! `ha_suspend`: which addresses this node holds, from the kernel itself (rtnetlink), so
//! that a service follows its VIP however it came (a VRRP instance of this daemon, or not).

use std::collections::HashSet;
use std::net::IpAddr;

use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::warn;
use vrrp_linux::netlink::{self, Event, Netlink};

use super::Message;

/// Sends [`Message::VipHeld`] for every address on the node now, then for every change.
/// After lost notifications (a netlink overrun) the node's addresses are dumped again and
/// the differences sent, as the protocol thread does.
pub(super) async fn watch(tx: mpsc::UnboundedSender<Message>) {
    // Subscribe first, so no change falls between the dump and the stream.
    let mut events = match netlink::events(crate::links::receive_buffer()).await {
        Ok(events) => events,
        Err(e) => return warn!("ha_suspend: cannot watch addresses: {e}"),
    };
    let mut held: HashSet<IpAddr> = HashSet::new();
    match current().await {
        Ok(addrs) => {
            if !send_changes(&tx, &mut held, addrs.into_iter().collect()) {
                return;
            }
        }
        Err(e) => warn!("ha_suspend: cannot read the addresses: {e}"),
    }
    loop {
        let Some(event) = events.next().await else {
            warn!("ha_suspend: address notifications stopped; subscribing again");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            match netlink::events(crate::links::receive_buffer()).await {
                Ok(again) => events = again,
                Err(e) => warn!("ha_suspend: cannot watch addresses: {e}"),
            }
            events.request_resync();
            continue;
        };
        let (addr, now_held) = match event {
            Event::AddressAdded { addr, .. } => (addr, true),
            Event::AddressRemoved { addr, .. } => (addr, false),
            Event::Link(_) => continue,
            Event::Resync(Ok(snapshot)) => {
                warn!(
                    "ha_suspend: netlink notifications lost; resynchronised from a dump of {} addresses",
                    snapshot.addresses.len()
                );
                let now = snapshot.addresses.iter().map(|(_, a)| a.addr).collect();
                if !send_changes(&tx, &mut held, now) {
                    return;
                }
                continue;
            }
            Event::Resync(Err(e)) => {
                warn!("ha_suspend: notifications lost and the dump failed ({e}); trying again");
                events.request_resync();
                continue;
            }
        };
        if now_held {
            held.insert(addr);
        } else {
            held.remove(&addr);
        }
        if tx
            .send(Message::VipHeld {
                addr,
                held: now_held,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Sends what changed from `held` to `now`; `false` once the receiver is gone.
fn send_changes(
    tx: &mpsc::UnboundedSender<Message>,
    held: &mut HashSet<IpAddr>,
    now: HashSet<IpAddr>,
) -> bool {
    let gone = held.difference(&now).map(|a| (*a, false));
    let came = now.difference(held).map(|a| (*a, true));
    let changes: Vec<(IpAddr, bool)> = gone.chain(came).collect();
    *held = now;
    changes
        .into_iter()
        .all(|(addr, held)| tx.send(Message::VipHeld { addr, held }).is_ok())
}

async fn current() -> Result<Vec<IpAddr>, String> {
    let nl = Netlink::new().map_err(|e| e.to_string())?;
    let all = nl.all_addresses().await.map_err(|e| e.to_string())?;
    Ok(all.into_iter().map(|(_, a)| a.addr).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resync sends what changed since the addresses last known: gone ones as not held,
    /// new ones as held, nothing for the others.
    #[test]
    fn a_resync_sends_the_differences() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let a = |s: &str| -> IpAddr { s.parse().expect("address") };
        let mut held: HashSet<IpAddr> = [a("10.99.0.1"), a("10.99.0.2")].into();
        let now: HashSet<IpAddr> = [a("10.99.0.2"), a("fd99::3")].into();
        assert!(send_changes(&tx, &mut held, now.clone()));
        assert_eq!(held, now);
        let mut sent = Vec::new();
        while let Ok(Message::VipHeld { addr, held }) = rx.try_recv() {
            sent.push((addr, held));
        }
        sent.sort();
        assert_eq!(sent, vec![(a("10.99.0.1"), false), (a("fd99::3"), true)]);
    }
}
