//! vrrpd: the VRRP daemon.
//!
//! The main thread is the protocol thread: a current-thread tokio runtime that runs the
//! engine (sockets, the timerfd protocol timer, link events) and the address worker, whose
//! netlink requests the kernel serves on the connection's own thread ([`nlthread`]). Work
//! that may be slow (health checks, scripts, control requests) belongs on other threads, so
//! it can never delay an advertisement.
//!
//! Here: the configuration is loaded and checked (`-t` ends here), then [`daemon::run`]
//! starts the daemon; [`reload`] applies a changed configuration.

mod addresses;
mod alerts;
mod balancer;
mod busy;
mod cli;
mod clock;
mod control;
mod daemon;
mod dynamic;
mod engine;
mod host;
mod inputs;
mod links;
mod logging;
mod metrics;
mod nlthread;
mod pidfile;
mod privileges;
mod reload;
mod report;
mod sched;
mod setup;
mod statics;
mod takeover;
mod tracking;
mod verify;

use std::process::ExitCode;

use tracing::error;

use crate::cli::Args;
use crate::verify::check;

fn main() -> ExitCode {
    let args = Args::parse_resolved();
    let _log_flush = logging::init(args.log_detail, args.log_format);

    let path = args.config_path();
    let Some((config, scripts, tracker_plan, balancer_plan)) = check(&path, &args) else {
        return ExitCode::FAILURE;
    };
    if args.config_test {
        return ExitCode::SUCCESS;
    }
    // Before the runtime starts threads: they inherit the nice value and the affinity.
    sched::apply_process(&config.global.vrrp_sched, &config.global.checker_sched);

    // The park hooks measure the protocol thread's busy spans (`busy`): what the
    // real-time watchdog of `vrrp_rlimit_rttime` counts.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(busy::on_park)
        .on_thread_unpark(busy::on_unpark)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(
        &runtime,
        daemon::run(config, scripts, tracker_plan, balancer_plan, &args),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
