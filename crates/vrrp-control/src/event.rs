//! The lines `watch` streams: `{"v":1,"event":EVENT}`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{PROTOCOL_VERSION, VrrpState};

/// The Master in a `master_changed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterEvent {
    pub address: IpAddr,
    pub priority: u8,
    pub interval_cs: u16,
}

/// One event, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An instance changed state.
    Transition {
        instance: String,
        from: VrrpState,
        to: VrrpState,
        /// Why, as a sentence.
        reason: String,
        priority: u8,
    },
    /// The Master as seen from here changed (`None`: none heard).
    MasterChanged {
        instance: String,
        master: Option<MasterEvent>,
    },
    /// An operator set (`Some`) or reset (`None`) a temporary priority.
    Priority {
        instance: String,
        priority: Option<u8>,
        /// `uid U pid P` of the client.
        by: String,
    },
    /// An operator turned maintenance on or off.
    Maintenance {
        instance: String,
        on: bool,
        /// `uid U pid P` of the client.
        by: String,
    },
    /// The client read too slowly: `missed` events were dropped.
    Lagged { missed: u64 },
}

/// One line of `watch` after `"watching"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchLine {
    /// [`PROTOCOL_VERSION`].
    pub v: u64,
    pub event: Event,
}

impl WatchLine {
    /// `event` in a line of this protocol version.
    pub fn new(event: Event) -> WatchLine {
        WatchLine {
            v: PROTOCOL_VERSION,
            event,
        }
    }

    /// The line as JSON, with its newline.
    pub fn to_line(&self) -> String {
        // Strings, integers, booleans and addresses: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }
}
