//! What the driver makes of the node's events: logs, the transition history, `vrrpctl
//! watch` lines, notify hooks and FIFO lines (queued in the order the events came, per
//! instance or sync group).

use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};
use vrrp_control::{Event, MasterEvent};
use vrrp_core::node::{Discard, GroupState, NodeEvent};
use vrrp_core::{InstanceId, MasterInfo, State, Timestamp, TransitionReason};
use vrrp_track::fifo::FifoState;
use vrrp_track::{NotifyState, Scope};

use super::{Engine, HISTORY, Router, Transition};
use crate::tracking;

impl Engine {
    pub(super) fn on_event(&mut self, now: Timestamp, event: NodeEvent) {
        match event {
            NodeEvent::Transition {
                id,
                from,
                to,
                reason,
                priority,
                master,
            } => self.on_transition(now, id, (from, to, reason), priority, master),
            NodeEvent::MasterChanged { id, master } => self.on_master_changed(id, master),
            NodeEvent::LowerPriorityHeard { id, priority } => {
                self.lower_priority_heard(id, priority)
            }
            NodeEvent::SourceAddress {
                id,
                address,
                present,
            } => {
                if let Some(i) = self.position(id) {
                    let name = &self.routers[i].plan.config.name;
                    match present {
                        true => info!("{name}: source address {address} is back (track_src_ip)"),
                        false => warn!("{name}: source address {address} is gone: FAULT (track_src_ip)"),
                    }
                }
            }
            NodeEvent::PriorityChanged {
                id,
                priority,
                state,
            } => self.on_priority_changed(id, priority, state),
            NodeEvent::GroupState { group, state } => self.on_group_state(&group, state),
            NodeEvent::Discarded { id, src, reason } => self.on_discard(now, id, src, reason),
            NodeEvent::GlobalFirstAddress { id, src } => self.warn_limited(
                id,
                now,
                "first_address_not_link_local",
                format!(
                    "advertisement from {src} lists a global IPv6 address first (RFC 5798 §5.2.9 wants the link-local one); accepted"
                ),
            ),
            NodeEvent::UnknownVrid { src, vrid } => {
                self.unknown_vrid_packets += 1;
                debug!("advertisement for unconfigured VRID {vrid} from {src}")
            }
            NodeEvent::TrackedInterface { id, name, up } => {
                if let Some(i) = self.position(id) {
                    info!(
                        "{}: tracked interface {name} is {}",
                        self.routers[i].plan.config.name,
                        if up { "up" } else { "down" }
                    );
                }
            }
            NodeEvent::Tracker { .. } => {}
            NodeEvent::WaitingForTrackers { id } => {
                if let Some(i) = self.position(id) {
                    info!(
                        "{}: waiting for its trackers' first results",
                        self.routers[i].plan.config.name
                    );
                }
            }
            NodeEvent::EncodeFailed { id, error } => {
                if let Some(i) = self.position(id) {
                    warn!(
                        "{}: cannot encode advertisement: {error}",
                        self.routers[i].plan.config.name
                    );
                }
            }
        }
    }

    /// Logs a discarded or counted packet: a misconfigured peer should be diagnosed, not
    /// only counted (at most one warning a minute per reason).
    fn on_discard(
        &mut self,
        now: Timestamp,
        id: InstanceId,
        src: std::net::IpAddr,
        reason: Discard,
    ) {
        match reason {
            Discard::Malformed(error) => self.warn_limited(
                id,
                now,
                error.name(),
                format!("discarded packet from {src}: {error}"),
            ),
            Discard::Check {
                error,
                dropped,
                advertisement: adv,
            } => {
                let name = error.counter_name();
                self.warn_limited(
                    id,
                    now,
                    name,
                    format!(
                        "advertisement from {src} counted in {name} ({}): version {}, priority {}, interval {} cs, auth type {}, addresses {:?}",
                        if dropped { "discarded" } else { "only logged, as the RFC asks" },
                        adv.version.number(),
                        adv.priority,
                        adv.interval_cs,
                        adv.auth.type_number(),
                        adv.addresses
                    ),
                );
            }
            Discard::NotToTheGroup { dst } => self.warn_limited(
                id,
                now,
                "not_to_the_group",
                format!("discarded advertisement from {src} sent to {dst}, not to the group (no unicast_peer)"),
            ),
            Discard::NotUnicastPeer => self.warn_limited(
                id,
                now,
                "unicast_src_errors",
                format!(
                    "discarded advertisement from {src}: not a unicast peer (check_unicast_src)"
                ),
            ),
        }
    }

    /// Logs `message` as a warning at most once a minute per instance and `reason`; as debug
    /// otherwise.
    fn warn_limited(
        &mut self,
        id: InstanceId,
        now: Timestamp,
        reason: &'static str,
        message: String,
    ) {
        let Some(i) = self.position(id) else {
            return;
        };
        let r = &mut self.routers[i];
        let due = r
            .warned
            .get(reason)
            .is_none_or(|last| now - *last >= Duration::from_secs(60));
        if due {
            r.warned.insert(reason, now);
            warn!("{}: {message}", r.plan.config.name);
        } else {
            debug!("{}: {message}", r.plan.config.name);
        }
    }

    /// A transition: log, history, `vrrpctl watch`, hooks and FIFO lines.
    fn on_transition(
        &mut self,
        now: Timestamp,
        id: InstanceId,
        (from, to, reason): (State, State, TransitionReason),
        priority: u8,
        master: Option<MasterInfo>,
    ) {
        let Some(i) = self.position(id) else { return };
        let master_text = match master {
            Some(m) => format!("; master {} priority {}", m.address, m.priority),
            None => String::new(),
        };
        let router = &mut self.routers[i];
        info!(
            "{}: {from} -> {to} ({reason}), priority {priority}{master_text}",
            router.plan.config.name
        );
        router.state_since = now;
        if router.history.len() == HISTORY {
            router.history.pop_front();
        }
        router.history.push_back(Transition {
            at: now,
            wall: SystemTime::now(),
            from,
            to,
            reason,
        });
        let name = &self.routers[i].plan.config.name;
        if let Some((followed, tx)) = &self.sync_follower
            && followed == name
        {
            // An unbounded send: the netlink work is on the load balancer's thread.
            let master = to == State::Master;
            let _ = tx.send(crate::balancer::Message::SyncInstance { master });
        }
        self.publish(|| Event::Transition {
            instance: name.clone(),
            from: from.into(),
            to: to.into(),
            reason: reason.name().to_string(),
            priority,
        });
        let r = &self.routers[i];
        let state = match tracking::notify_state(from, to) {
            Some(NotifyState::Stop) if r.deleted => deleted_state(r, from),
            s => s,
        };
        let (Some(n), Some(state)) = (&self.notifier, state) else {
            return;
        };
        let name = &r.plan.config.name;
        n.queue.push_all(
            &hook_key(r),
            r.plan
                .notify
                .for_state(Scope::Instance, name, state, priority),
        );
        n.state_line(Scope::Instance, name, FifoState::State(state), priority);
        n.alerts.instance(name, state);
    }

    /// A sync group as a whole changed state: its own hooks, in its members' queue.
    fn on_group_state(&mut self, group: &str, state: GroupState) {
        let state = match state {
            GroupState::Master => NotifyState::Master,
            GroupState::Backup => NotifyState::Backup,
            GroupState::Fault => NotifyState::Fault,
            GroupState::Stop => NotifyState::Stop,
        };
        info!("sync group {group}: {}", state.as_str());
        let (Some(n), Some(notify)) = (&self.notifier, self.groups.get(group)) else {
            return;
        };
        n.queue.push_all(
            &group_hook_key(group),
            notify.for_state(Scope::Group, group, state, 0),
        );
        n.state_line(Scope::Group, group, FifoState::State(state), 0);
        n.alerts.group(group, state);
    }

    fn on_master_changed(&mut self, id: InstanceId, master: Option<MasterInfo>) {
        let Some(i) = self.position(id) else { return };
        self.routers[i].master_changes += 1;
        let router = &self.routers[i];
        let name = &router.plan.config.name;
        match master {
            Some(m) => debug!(
                "{name}: master is {} priority {} interval {} cs",
                m.address, m.priority, m.interval_cs
            ),
            None => debug!("{name}: no master heard"),
        }
        if let Some(n) = &self.notifier
            && router.plan.notify.master_change.is_some()
        {
            let (address, priority) = master
                .map(|m| (Some(m.address), m.priority))
                .unwrap_or((None, 0));
            n.queue.push_all(
                &hook_key(router),
                router
                    .plan
                    .notify
                    .for_master_change(name, address, priority),
            );
            n.master_change_line(name, address, priority);
        }
        self.publish(|| Event::MasterChanged {
            instance: name.clone(),
            master: master.map(|m| MasterEvent {
                address: m.address,
                priority: m.priority,
                interval_cs: m.interval_cs,
            }),
        });
    }

    /// `notify_priority_changes`: `MASTER_PRIORITY` or `BACKUP_PRIORITY` on the FIFOs.
    fn on_priority_changed(&self, id: InstanceId, priority: u8, state: State) {
        let Some(i) = self.position(id) else { return };
        let r = &self.routers[i];
        debug!("{}: effective priority {priority}", r.plan.config.name);
        let Some(n) = self
            .notifier
            .as_ref()
            .filter(|_| r.plan.config.notify_priority_changes)
        else {
            return;
        };
        let line = if state == State::Master {
            FifoState::MasterPriority
        } else {
            FifoState::BackupPriority
        };
        n.state_line(Scope::Instance, &r.plan.config.name, line, priority);
    }

    /// A Master heard a lower-priority advertisement: `notify_master_rx_lower_pri`.
    fn lower_priority_heard(&self, id: InstanceId, priority: u8) {
        let (Some(n), Some(i)) = (&self.notifier, self.position(id)) else {
            return;
        };
        let r = &self.routers[i];
        n.queue
            .push_all(&hook_key(r), r.plan.notify.for_master_rx_lower_pri());
        n.state_line(
            Scope::Instance,
            &r.plan.config.name,
            FifoState::MasterRxLowerPri,
            priority,
        );
    }
}

/// The state an instance removed by a reload is notified with: keepalived sends DELETED
/// with `notify_deleted`, else FAULT (its old behaviour), and nothing when it was in Fault
/// already (`vrrp.c`, `clear_diff_vrrp`).
fn deleted_state(r: &Router, from: State) -> Option<NotifyState> {
    if r.plan.config.notify_deleted.is_some() {
        Some(NotifyState::Deleted)
    } else if from == State::Fault {
        None
    } else {
        Some(NotifyState::Fault)
    }
}

/// Hooks of a sync group's members share the group's queue, so that group and member
/// hooks run in the order the transitions happened.
fn hook_key(r: &Router) -> String {
    match &r.plan.sync_group {
        Some(g) => group_hook_key(g),
        None => format!("instance:{}", r.plan.config.name),
    }
}

fn group_hook_key(group: &str) -> String {
    format!("group:{group}")
}
