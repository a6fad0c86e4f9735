//! A deterministic discrete-event simulator of VRRP routers on a LAN.
//!
//! - [`scenario`]: declare routers, their instances, the LAN and timed actions.
//! - [`sim`]: the scheduler (virtual clock, event queue) driving one real
//!   [`vrrp_core::Node`] per router, with every packet through the real codec.
//! - [`lan`]: loss, delay, jitter, partitions and link state.
//! - [`trace`]: the record of a run and its printable timeline.
//! - [`check`]: the invariants, judged from a trace.
//! - [`rng`]: the seeded random source.

#![forbid(unsafe_code)]

pub mod check;
pub mod lan;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod trace;

pub use lan::{DropReason, Lan, LinkParams, LinkScope, NodeId};
pub use rng::SimRng;
pub use scenario::{Action, InstanceSpec, RouterSpec, Scenario, TrackerSpec, VrKey};
pub use sim::Sim;
pub use trace::{Trace, TraceEvent, What};
