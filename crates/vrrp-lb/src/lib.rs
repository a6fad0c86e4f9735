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

#![forbid(unsafe_code)]

pub mod check;
pub mod dataplane;
pub mod spec;
