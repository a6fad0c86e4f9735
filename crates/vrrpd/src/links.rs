//! Link and address notifications on the protocol thread: link changes (debounced by
//! `interface_up_down_delays`), address changes, re-created interfaces, and the full
//! resyncs after lost notifications (a netlink overrun); a subscription that ends is
//! renewed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use tracing::warn;
use vrrp_linux::netlink::{Event, EventStream, Link};

use crate::clock;
use crate::engine::{Engine, Input};
use crate::reload::Reloader;

/// The receive buffer of the link and address subscriptions. `VRRPD_NETLINK_RCVBUF`
/// (bytes) sets another, for tests that overrun it on purpose (`docs/reliability.md`).
pub(crate) fn receive_buffer() -> usize {
    std::env::var("VRRPD_NETLINK_RCVBUF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(vrrp_linux::netlink::EVENTS_RECEIVE_BUFFER)
}

/// Subscribes to link and address changes again after the subscription ended (a socket
/// error), retrying every second; the new stream starts with a full resync, as what
/// changed meanwhile was not seen.
async fn resubscribe() -> EventStream {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match vrrp_linux::netlink::events(receive_buffer()).await {
            Ok(mut stream) => {
                stream.request_resync();
                return stream;
            }
            Err(e) => warn!("netlink: cannot subscribe to link events again: {e}"),
        }
    }
}

/// What the link-event task keeps between events.
struct LinkFollower {
    reloader: Rc<Reloader>,
    engine: Rc<RefCell<Engine>>,
    generation: Rc<RefCell<HashMap<String, u64>>>,
}

/// Link events: the instance's interface and tracked interfaces, debounced by
/// `interface_up_down_delays` (a change that reverts within the delay is ignored; the
/// running configuration's delays); address events; full resyncs after lost notifications.
pub(crate) fn spawn(reloader: &Rc<Reloader>, mut link_events: EventStream) {
    let follower = LinkFollower {
        reloader: Rc::clone(reloader),
        engine: Rc::clone(&reloader.engine),
        generation: Rc::default(),
    };
    tokio::task::spawn_local(async move {
        loop {
            while let Some(event) = link_events.next().await {
                if !follower.on_event(event) {
                    link_events.request_resync();
                }
            }
            warn!("netlink: link and address notifications stopped; subscribing again");
            link_events = resubscribe().await;
        }
    });
}

impl LinkFollower {
    /// Handles one event; `false` when a resync failed and must be tried again.
    fn on_event(&self, event: Event) -> bool {
        match event {
            Event::Link(link) => self.on_link(link),
            Event::AddressAdded { ifindex, addr } | Event::AddressRemoved { ifindex, addr } => {
                let present = matches!(event, Event::AddressAdded { .. });
                if present {
                    // A waiting instance may have waited for an address of its interface
                    // (its advertisements' source), which comes without a link event.
                    self.follow(self.reloader.waited_for());
                }
                let input = Input::Address {
                    ifindex,
                    addr,
                    present,
                };
                self.engine.borrow_mut().handle(clock::now(), input);
            }
            Event::Resync(Ok(snapshot)) => {
                self.engine
                    .borrow_mut()
                    .handle(clock::now(), Input::Resync(&snapshot));
                // Interfaces re-created, or come, while notifications were lost.
                let names: Vec<String> = snapshot
                    .links
                    .iter()
                    .map(|l| l.name.clone())
                    .filter(|n| self.reloader.follows(n))
                    .collect();
                self.follow(names);
            }
            Event::Resync(Err(e)) => {
                warn!("netlink: notifications were lost and the dump failed ({e}); trying again");
                return false;
            }
        }
        true
    }

    fn follow(&self, names: Vec<String>) {
        for name in names {
            let r = Rc::clone(&self.reloader);
            tokio::task::spawn_local(async move { r.follow_interface(&name).await });
        }
    }

    fn on_link(&self, link: Link) {
        if self.reloader.stale(&link) {
            // Re-created under the same name: its instances move to the new index first,
            // then hear of its state (the old ones must not leave Fault on a dead socket).
            let (r, engine) = (Rc::clone(&self.reloader), Rc::clone(&self.engine));
            tokio::task::spawn_local(async move {
                r.follow_interface(&link.name).await;
                apply_link(&engine, &link);
            });
            return;
        }
        if self.reloader.follows(&link.name) {
            self.follow(vec![link.name.clone()]);
        }
        // The running configuration's delays, so that a reload changes them.
        let delay = self
            .reloader
            .config
            .borrow()
            .interface_delays
            .iter()
            .find(|d| d.interface == link.name)
            .map(|d| if link.up { d.up } else { d.down })
            .unwrap_or_default();
        let mine = {
            let mut g = self.generation.borrow_mut();
            let n = g.entry(link.name.clone()).or_default();
            *n += 1;
            *n
        };
        if delay.is_zero() {
            apply_link(&self.engine, &link);
            return;
        }
        let generation = Rc::clone(&self.generation);
        let engine = Rc::clone(&self.engine);
        tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            if generation.borrow().get(&link.name) == Some(&mine) {
                apply_link(&engine, &link);
            }
        });
    }
}

fn apply_link(engine: &Rc<RefCell<Engine>>, link: &Link) {
    engine.borrow_mut().handle(clock::now(), Input::Link(link));
}
