//! The load-balancing core of vrrpd: keepalived's LVS side without the I/O.
//!
//! Like `vrrp-core`, everything here is pure: no sockets, no clock reads, no threads. The
//! daemon feeds checker results, operator commands and VRRP ownership of the VIPs, stamped
//! with a time, and drains the checks to run, the hooks and events, and the changes to make
//! to the data path (nftables or IPVS).
//!
//! - [`spec`]: virtual servers, real servers and their settings, as configured.
//! - [`check`]: the health checkers' settings (what to probe and when).
//! - [`dataplane`]: the desired data-path state, the minimal changes between two states, and
//!   what each data path can do.
//! - [`Balancer`]: the state machine that runs the checkers, weighs the real servers, keeps
//!   the quorum and says what the data path should be (`docs/balancer.md`).
//! - [`event`]: what it reports (notify scripts, FIFO lines).
//! - [`maglev`]: Maglev consistent hashing's lookup table.

#![forbid(unsafe_code)]

pub mod announce;
mod balancer;
pub mod check;
pub mod dataplane;
pub mod event;
pub mod maglev;
mod rng;
pub mod spec;

pub use balancer::{
    Balancer, CheckerId, CheckerStatus, Input, OperatorCommand, OperatorError, Output,
    RealServerStatus, ServiceStatus,
};
pub use event::{Event, Override};
pub use vrrp_core::Timestamp;
