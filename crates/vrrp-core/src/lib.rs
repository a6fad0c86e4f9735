//! The VRRP protocol core of vrrpd.
//!
//! Everything here is pure: no sockets, no clock reads, no threads. The daemon (and the
//! deterministic simulator) feed an [`instance::Instance`] with inputs stamped with a
//! [`time::Timestamp`], drain its [`instance::Output`]s and wake it again at
//! [`instance::Instance::poll_timeout`]. This is the "sans-IO" shape of quinn-proto and str0m.
//!
//! - [`packet`]: encoding and decoding of VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 / RFC 9568
//!   §5) advertisements, with every receive check of §7.1 that the packet alone can decide.
//! - [`instance`]: the per-virtual-router state machine (RFC 3768 §6, RFC 5798 / RFC 9568 §6),
//!   plus the Fault state and the observer role.
//! - [`node`]: every instance of one router: routing, sync groups, trackers, operator.
//! - [`timers`]: the RFC timer formulas (Skew_Time, Master_Down_Interval).
//! - [`counters`]: per-instance statistics named after RFC 6527 (VRRPv3-MIB).
//! - [`time`]: the caller-supplied monotonic time stamp.
//! - [`weights`]: keepalived's weight rules turning tracker states into a priority and a fault.

#![forbid(unsafe_code)]

pub mod counters;
pub mod instance;
pub mod node;
pub mod packet;
pub mod time;
pub mod timers;
pub mod weights;

pub use counters::{Counters, ReceiveError};
pub use instance::{
    Input, Instance, InstanceConfig, MasterInfo, Output, Role, State, TransitionReason,
};
pub use node::{
    AddressAction, Discard, GroupState, InstanceId, InstanceSpec, Node, NodeEvent, NodeOutput,
    OperatorError, SocketKey, TrackedInterface, TrackerWeight,
};
pub use packet::{
    Advertisement, Auth, ChecksumForm, DecodeError, Decoded, EncodeError, Family, IpMeta, Version,
};
pub use time::Timestamp;
