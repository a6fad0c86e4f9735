//! `ha_suspend`: which addresses this node holds, from the kernel itself (rtnetlink), so
//! that a service follows its VIP however it came (a VRRP instance of this daemon, or not).

use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::warn;
use vrrp_linux::netlink::{self, Event, Netlink};

use super::Message;

/// Sends [`Message::VipHeld`] for every address on the node now, then for every change.
pub(super) async fn watch(tx: mpsc::UnboundedSender<Message>) {
    // Subscribe first, so no change falls between the dump and the stream.
    let mut events = match netlink::events().await {
        Ok(events) => events,
        Err(e) => return warn!("ha_suspend: cannot watch addresses: {e}"),
    };
    match current().await {
        Ok(addrs) => {
            for addr in addrs {
                let _ = tx.send(Message::VipHeld { addr, held: true });
            }
        }
        Err(e) => warn!("ha_suspend: cannot read the addresses: {e}"),
    }
    while let Some(event) = events.next().await {
        let message = match event {
            Event::AddressAdded { addr, .. } => Message::VipHeld { addr, held: true },
            Event::AddressRemoved { addr, .. } => Message::VipHeld { addr, held: false },
            Event::Link(_) => continue,
        };
        if tx.send(message).is_err() {
            return;
        }
    }
}

async fn current() -> Result<Vec<std::net::IpAddr>, String> {
    let nl = Netlink::new().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for link in nl.links().await.map_err(|e| e.to_string())? {
        let addrs = nl.addresses(link.index).await.map_err(|e| e.to_string())?;
        out.extend(addrs.into_iter().map(|a| a.addr));
    }
    Ok(out)
}
