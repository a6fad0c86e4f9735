//! The load balancer end to end: vrrpd balancing a VIP over real nginx servers in network
//! namespaces, with curl or a small bounded Rust client as the client (`vrrp-testlab`), and
//! `vrrpctl lvs --json` / `vrrpctl watch --json` as the observers. One LAN: the client, the
//! balancer(s) and the real servers; NAT with `lb_nat_masquerade`, so that the real servers'
//! replies come back through the balancer.
//!
//! Each test builds its own lab and leaves nothing behind (the lab kills what it started and
//! deletes its namespaces on drop, also when a test panics). Bounds are generous: checks run
//! every second here, and a bound is several of their periods. Each scenario prints what it
//! measured (`--no-capture` shows it).
//!
//! * `basic`: requests spread over the live servers, a dead one leaves and comes back.
//! * `failover`: two balancers with VRRP; the Master dies, the Backup carries on.
//! * `quorum`: the quorum is lost, the sorry server answers; hooks and FIFO lines in order.
//! * `inhibit`: `inhibit_on_failure` and `drain` keep an established connection; a failure
//!   without it resets the connection.
//! * `operator`: `vrrpctl rs weight|drain|disable|enable` without a reload.
//! * `reload`: reload by difference keeps the unchanged servers' connections; reload storm.
//! * `bad_servers`: a server that never answers and an address with nothing there.
//! * `metrics`: the endpoint's load-balancer series, read by the reference parser.

#[path = "balancer/common.rs"]
mod common;

#[path = "balancer/bad_servers.rs"]
mod bad_servers;
#[path = "balancer/basic.rs"]
mod basic;
#[path = "balancer/failover.rs"]
mod failover;
#[path = "balancer/inhibit.rs"]
mod inhibit;
#[path = "balancer/metrics.rs"]
mod metrics;
#[path = "balancer/operator.rs"]
mod operator;
#[path = "balancer/quorum.rs"]
mod quorum;
#[path = "balancer/reload.rs"]
mod reload;
