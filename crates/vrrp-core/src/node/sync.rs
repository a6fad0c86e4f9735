//! Sync groups (keepalived's `vrrp_sync_group`): members go Master together or not at
//! all, follow each other's transitions, and share faults.

use crate::instance::{Input, State};
use crate::time::Timestamp;

use super::{Node, NodeEvent};

/// A sync group's state as a whole, for its notify hooks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// Every member is Master.
    Master,
    /// Every member is Backup.
    Backup,
    /// A member is in Fault.
    Fault,
    /// Every member is stopped (Initialize after running).
    Stop,
}

impl GroupState {
    /// The aggregate of the members' states; `None` while they disagree (members following
    /// each other pass through mixed states).
    fn of(states: &[State]) -> Option<GroupState> {
        if states.contains(&State::Fault) {
            Some(GroupState::Fault)
        } else if states.iter().all(|s| *s == State::Master) {
            Some(GroupState::Master)
        } else if states.iter().all(|s| *s == State::Backup) {
            Some(GroupState::Backup)
        } else if states.iter().all(|s| *s == State::Initialize) {
            Some(GroupState::Stop)
        } else {
            None
        }
    }
}

/// The inputs the other members of member `i`'s group get when `i` itself went from
/// `from` to `to`: a new Master brings them along, a Master that left makes them resign.
pub(super) fn follow(
    node: &Node,
    i: usize,
    from: State,
    to: State,
) -> Vec<(usize, Input<'static>)> {
    let input = match (from, to) {
        (_, State::Master) => Input::SyncGroupMaster,
        (State::Master, State::Backup) => Input::SyncGroupBackup,
        _ => return Vec::new(),
    };
    node.group_members(i)
        .into_iter()
        .map(|j| (j, input.clone()))
        .collect()
}

impl Node {
    /// The other members of member `i`'s sync group.
    pub(super) fn group_members(&self, i: usize) -> Vec<usize> {
        let Some(group) = self
            .members
            .get(i)
            .and_then(|m| m.spec.sync_group.as_deref())
        else {
            return Vec::new();
        };
        (0..self.members.len())
            .filter(|&j| j != i && self.members[j].spec.sync_group.as_deref() == Some(group))
            .collect()
    }

    /// Another member of `i`'s sync group has its own fault.
    pub(super) fn group_fault(&self, i: usize) -> bool {
        self.group_members(i)
            .into_iter()
            .any(|j| self.members[j].own_fault)
    }

    /// Members go Master together or not at all (keepalived): a member is held back from
    /// taking over on its own timer while another member would not be Master (it hears a
    /// Master it yields to, is in Fault, or in maintenance).
    pub(super) fn update_group_holds(&mut self, i: usize, now: Timestamp) {
        let Some(m) = self.members.get(i) else { return };
        if m.spec.sync_group.is_none() {
            return;
        }
        let mut members = self.group_members(i);
        members.push(i);
        for &j in &members {
            let hold = members
                .iter()
                .any(|&k| k != j && !self.members[k].instance.would_be_master());
            if hold != self.members[j].sync_hold {
                self.members[j].sync_hold = hold;
                self.members[j]
                    .instance
                    .handle(now, Input::SyncGroupHold(hold));
            }
        }
    }

    /// After a transition of member `i`: the group's aggregate state, reported when it
    /// changed.
    pub(super) fn update_group_state(&mut self, i: usize) {
        let Some(group) = self.members.get(i).and_then(|m| m.spec.sync_group.clone()) else {
            return;
        };
        let states: Vec<State> = self
            .members
            .iter()
            .filter(|m| m.spec.sync_group.as_deref() == Some(group.as_str()))
            .map(|m| m.instance.state())
            .collect();
        let Some(state) = GroupState::of(&states) else {
            return;
        };
        let last = self.groups.entry(group.clone()).or_insert(None);
        if *last == Some(state) {
            return;
        }
        *last = Some(state);
        self.event(NodeEvent::GroupState { group, state });
    }
}
