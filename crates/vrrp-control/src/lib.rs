//! The control contract shared by vrrpd, vrrpctl and the metrics renderer (`docs/control.md`).
//!
//! vrrpd serves a Unix stream socket speaking one JSON object per line in each direction.
//! This crate is the only definition of that protocol:
//!
//! * [`PROTOCOL_VERSION`], carried as `"v"` by every request, answer and event line;
//! * [`Request`], with its exact wire form (`{"v":1,"command":"show","instance":"VI_1"}`)
//!   and the daemon's validation ([`Request::parse`]);
//! * [`Answer`], the envelope of every answer (`{"v":1,"ok":true,"result":...}` or
//!   `{"v":1,"ok":false,"error":"..."}`), and [`Reply`], the typed `result` of each request;
//! * the documents: [`StatusLine`] / [`StatusList`] (`status`), [`Show`] (`show`),
//!   [`Snapshot`] (what the metrics endpoint renders), [`StateDump`] and [`StatsDump`]
//!   (SIGUSR1 / SIGUSR2);
//! * [`WatchLine`] / [`Event`], the lines `watch` streams;
//! * [`ReloadSummary`] / [`ReloadError`], the outcome of a reload;
//! * [`LvsStatus`] (`lvs`) and [`RsAction`] (`rs`), the load balancer's documents;
//! * [`paths`], the default socket, pid file and dumps of the current network namespace.

#![forbid(unsafe_code)]

mod announce;
mod answer;
mod documents;
mod event;
mod lvs;
pub mod paths;
mod reload;
mod request;

pub use announce::{AnnounceAction, BgpAnnouncement};
pub use answer::{Answer, Reply};
pub use documents::{
    Auth, ChecksumForm, Counters, DUMP_VERSION, InstanceStats, IpFamily, MasterSeen, ProtocolTimer,
    Show, Snapshot, SnapshotInstance, StateDump, StatsDump, StatusLine, StatusList, Timers,
    Tracker, TrackerType, TransitionRecord, VrrpState,
};
pub use event::{Event, MasterEvent, WatchLine};
pub use lvs::{LvsChecker, LvsRealServer, LvsService, LvsStatus, RsAction, Traffic};
pub use reload::{ReloadError, ReloadSummary};
pub use request::{OPERATOR_PRIORITIES, Request};

/// The protocol version in every request, answer and event line (`"v"`).
pub const PROTOCOL_VERSION: u64 = 1;

#[cfg(test)]
mod tests;
