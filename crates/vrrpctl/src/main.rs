//! vrrpctl: status, operator actions and wire diagnosis for vrrpd.

// The command line needs none; the library's live capture holds the crate's unsafe code.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;
use vrrp_control::{AnnounceAction, OPERATOR_PRIORITIES, Request, RsAction};
use vrrpctl::sniff::{self, Options, Source};
use vrrpctl::{daemon, genhash};

use crate::cli::{Cli, Command, GenhashArgs, LvsCommand, RsCommand};

impl GenhashArgs {
    fn options(self) -> Result<genhash::Options, String> {
        let target = match (self.url, self.server) {
            (Some(url), _) => {
                let mut t = genhash::parse_url(&url)?;
                t.ssl |= self.ssl;
                if let Some(port) = self.port {
                    t.port = port;
                }
                t
            }
            (None, Some(server)) => genhash::Target {
                server,
                port: self.port.unwrap_or(if self.ssl { 443 } else { 80 }),
                path: self.path.unwrap_or_else(|| "/".into()),
                ssl: self.ssl,
                host_name: None,
            },
            (None, None) => return Err("a URL or --server is needed".into()),
        };
        let timeout = Some(self.timeout)
            .filter(|t| t.is_finite() && *t > 0.0 && *t <= 3600.0)
            .map(std::time::Duration::from_secs_f64)
            .ok_or_else(|| format!("--timeout {}: want seconds in (0, 3600]", self.timeout))?;
        Ok(genhash::Options {
            target,
            vhost: self.vhost,
            sni: self.sni,
            timeout,
            version: genhash::parse_protocol(&self.protocol)?,
            fwmark: self.fwmark,
            verbose: self.verbose,
        })
    }
}

impl RsCommand {
    fn request(self) -> (Request, bool) {
        let (target, action) = match self {
            RsCommand::Weight { target, weight } => (target, RsAction::Weight { weight }),
            RsCommand::Drain { target } => (target, RsAction::Drain),
            RsCommand::Disable { target } => (target, RsAction::Disable),
            RsCommand::Enable { target } => (target, RsAction::Enable),
        };
        let request = Request::RealServer {
            service: target.service,
            real_server: target.real_server,
            action,
        };
        (request, target.json)
    }
}

fn main() -> ExitCode {
    // Usage errors exit 2 (clap's convention); --help and --version exit 0.
    let cli = Cli::parse();
    // Like vrrpd's own default, so `ip netns exec NS vrrpctl` reaches the daemon of NS.
    let socket = cli.socket.clone().unwrap_or_else(|| {
        vrrp_control::paths::run_dir().join(vrrp_control::paths::CONTROL_SOCKET)
    });
    let daemon = |request: Request, json: bool| {
        let shown = daemon::request(&socket, &request).and_then(|result| {
            if json {
                Ok(result.to_string())
            } else {
                daemon::decode(&request, result).map(|reply| daemon::reply_text(&reply))
            }
        });
        match shown {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(daemon::Failure(msg)) => {
                eprintln!("vrrpctl: {msg}");
                ExitCode::from(1)
            }
        }
    };
    match cli.command {
        Command::Status { json } => daemon(Request::Status, json),
        Command::Show { instance, json } => daemon(Request::Show { instance }, json),
        Command::Watch { json } => match daemon::watch(&socket, json, std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(daemon::Failure(msg)) => {
                eprintln!("vrrpctl: {msg}");
                ExitCode::from(1)
            }
        },
        Command::Reload { json } => daemon(Request::Reload, json),
        Command::Priority {
            instance,
            value,
            json,
        } => {
            let priority = if value == "reset" {
                None
            } else {
                match value.parse::<u8>() {
                    Ok(p) if OPERATOR_PRIORITIES.contains(&p) => Some(p),
                    _ => {
                        eprintln!("vrrpctl: priority must be 1-254 or `reset`, not {value:?}");
                        return ExitCode::from(2);
                    }
                }
            };
            daemon(Request::Priority { instance, priority }, json)
        }
        Command::Maintenance {
            instance,
            mode,
            json,
        } => daemon(
            Request::Maintenance {
                instance,
                on: mode == "on",
            },
            json,
        ),
        Command::Lvs { show: None, json } => daemon(Request::Lvs { service: None }, json),
        Command::Lvs {
            show: Some(LvsCommand::Show { service, json: one }),
            json,
        } => daemon(
            Request::Lvs {
                service: Some(service),
            },
            json || one,
        ),
        Command::Rs { action } => {
            let (request, json) = action.request();
            daemon(request, json)
        }
        Command::Announce {
            action,
            address,
            json,
        } => {
            let action = if action == "drain" {
                AnnounceAction::Drain
            } else {
                AnnounceAction::Restore
            };
            daemon(Request::Announce { address, action }, json)
        }
        Command::Genhash(args) => {
            let opts = match args.options() {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("vrrpctl genhash: {e}");
                    return ExitCode::from(2);
                }
            };
            match genhash::run(opts) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vrrpctl genhash: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Sniff {
            interface,
            pcap,
            json,
            summary,
            count,
            duration,
            show_password,
        } => {
            let source = match (interface, pcap) {
                (Some(i), _) => Source::Interface(i),
                (None, Some(p)) => Source::Pcap(p),
                (None, None) => return ExitCode::from(2),
            };
            let opts = Options {
                source,
                json,
                summary,
                count,
                duration,
                show_password,
            };
            match sniff::run(opts, std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(sniff::Failure(msg)) => {
                    eprintln!("vrrpctl: {msg}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
