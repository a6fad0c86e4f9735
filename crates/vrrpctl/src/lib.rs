//! vrrpctl: status, operator actions and wire diagnosis for vrrpd.
//!
//! [`daemon`] is the client of vrrpd's control socket (status, show, watch, reload,
//! priority, maintenance, lvs, rs); [`lvs`] renders the load balancer's status;
//! [`genhash`] is keepalived's genhash. The rest holds the pieces of `vrrpctl sniff`: capture file readers
//! ([`capture`]), link and IP parsing ([`frame`]), the per-packet record
//! ([`record`]), the summary and its diagnoses ([`summary`]), live capture
//! ([`live`]), and the command itself ([`sniff`]).

pub mod capture;
pub mod daemon;
pub mod frame;
pub mod genhash;
pub mod live;
pub mod lvs;
pub mod record;
pub mod sniff;
pub mod summary;
