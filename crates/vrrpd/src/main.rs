//! vrrpd: the VRRP daemon.
//!
//! The main thread is the protocol thread: a current-thread tokio runtime that runs the
//! engine (sockets, the timerfd protocol timer, link events) and the address worker. Work
//! that may be slow (health checks, scripts, control requests) belongs on other threads, so
//! it can never delay an advertisement.
//!
//! Here: the configuration is loaded and checked (`-t` ends here), then [`daemon::run`]
//! starts the daemon; [`reload`] applies a changed configuration.

mod addresses;
mod alerts;
mod balancer;
mod cli;
mod clock;
mod control;
mod daemon;
mod dynamic;
mod engine;
mod logging;
mod metrics;
mod pidfile;
mod reload;
mod report;
mod setup;
mod statics;
mod tracking;

use std::process::ExitCode;

use tracing::{error, warn};

use crate::cli::Args;

fn main() -> ExitCode {
    let args = Args::parse_resolved();
    let _log_flush = logging::init(args.log_detail, args.log_format);

    let path = args.config_path();
    let loaded = match vrrp_config::load(&path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{}: {} error{} in the configuration",
                path.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return ExitCode::FAILURE;
        }
    };
    for w in &loaded.warnings {
        warn!("{w}");
    }
    // Scripts and hooks are checked at load (users, executables, script security), so that
    // `-t` reports what would keep the daemon from starting.
    let scripts = tracking::Scripts::new(&loaded.config.global);
    let mut errors = Vec::new();
    for instance in &loaded.config.instances {
        if let Err(e) = setup::extras(&loaded.config, instance, &scripts) {
            errors.push(e);
        }
    }
    for group in &loaded.config.sync_groups {
        if let Err(e) = scripts.notify_scripts(&group.notify, None) {
            errors.push(e);
        }
    }
    let balancer_plan = match balancer::BalancerPlan::from_config(&loaded.config, &scripts) {
        Ok(plan) => plan,
        Err(e) => {
            errors.push(format!("{e:#}"));
            None
        }
    };
    let tracker_plan = match tracking::plan(&loaded.config, &scripts) {
        Ok(plan) => Some(plan),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let tracker_plan = match (tracker_plan, errors.is_empty()) {
        (Some(plan), true) => plan,
        _ => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{}: {} error(s) in scripts, hooks and the load balancer",
                path.display(),
                errors.len()
            );
            return ExitCode::FAILURE;
        }
    };
    if args.config_test {
        println!("{}: configuration is valid", path.display());
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
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
        daemon::run(loaded.config, scripts, tracker_plan, balancer_plan, &args),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
