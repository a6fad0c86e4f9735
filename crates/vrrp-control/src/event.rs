//! The lines `watch` streams: `{"v":1,"event":EVENT}`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{PROTOCOL_VERSION, VrrpState};

/// The Master in a `master_changed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterEvent {
    /// Its primary address (the advertisement's IP source).
    pub address: IpAddr,
    /// Its priority.
    pub priority: u8,
    /// Its advertisement interval (centiseconds).
    pub interval_cs: u16,
}

/// One event, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An instance changed state.
    Transition {
        /// The instance's name.
        instance: String,
        /// The state left.
        from: VrrpState,
        /// The state entered.
        to: VrrpState,
        /// Why, as a sentence.
        reason: String,
        /// Its priority.
        priority: u8,
    },
    /// The Master as seen from here changed (`None`: none heard).
    MasterChanged {
        /// The instance's name.
        instance: String,
        /// The Master as this node sees it, if one is heard.
        master: Option<MasterEvent>,
    },
    /// An operator set (`Some`) or reset (`None`) a temporary priority.
    Priority {
        /// The instance's name.
        instance: String,
        /// Its priority.
        priority: Option<u8>,
        /// `uid U pid P` of the client.
        by: String,
    },
    /// An operator turned maintenance on or off.
    Maintenance {
        /// The instance's name.
        instance: String,
        /// Whether maintenance is now on.
        on: bool,
        /// `uid U pid P` of the client.
        by: String,
    },
    /// A real server entered or left the rotation (its checks, or an operator).
    RealServer {
        /// The service (`[10.0.0.1]:tcp:80`).
        service: String,
        /// The real server (`[10.0.0.2]:80`).
        real_server: String,
        /// Whether it is up now.
        up: bool,
        /// Why, as a sentence.
        reason: String,
    },
    /// A service gained or lost its quorum.
    Quorum {
        /// The service.
        service: String,
        /// Whether it has its quorum now.
        up: bool,
        /// The live weight.
        live_weight: u32,
    },
    /// The client read too slowly: `missed` events were dropped.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// One line of `watch` after `"watching"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchLine {
    /// [`PROTOCOL_VERSION`].
    pub v: u64,
    /// The event.
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
