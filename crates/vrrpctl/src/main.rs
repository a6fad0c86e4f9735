//! vrrpctl: status, operator actions and wire diagnosis for vrrpd.

// The command line needs none; the library's live capture holds the crate's unsafe code.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser, Subcommand};
use vrrp_control::{OPERATOR_PRIORITIES, Request, RsAction};
use vrrpctl::sniff::{self, Options, Source};
use vrrpctl::{daemon, genhash};

/// Control and diagnose vrrpd.
#[derive(Parser, Debug)]
#[command(name = "vrrpctl", version, about)]
struct Cli {
    /// The daemon's control socket (used by the daemon commands) [default:
    /// /run/vrrpd/vrrpd.sock, or /run/vrrpd/netns/NAME/vrrpd.sock in network namespace NAME]
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One line per instance: state, priority, the Master as this node sees it, VIPs held.
    Status {
        /// The daemon's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Everything the daemon knows about one instance.
    Show {
        instance: String,
        #[arg(long)]
        json: bool,
    },
    /// Stream events (transitions, master changes, operator actions) until interrupted.
    Watch {
        /// One JSON object per event.
        #[arg(long)]
        json: bool,
    },
    /// Reload the configuration; exits non-zero (with the errors) if it is refused.
    Reload {
        #[arg(long)]
        json: bool,
    },
    /// Set a temporary priority (until `reset` or a reload).
    Priority {
        instance: String,
        /// 1-254, or `reset`.
        value: String,
        #[arg(long)]
        json: bool,
    },
    /// Maintenance: a Master resigns (priority 0) and the instance stays Backup until off.
    Maintenance {
        instance: String,
        #[arg(value_parser = ["on", "off"])]
        mode: String,
        #[arg(long)]
        json: bool,
    },
    /// The load balancer: every virtual server with its real servers, weights, health and
    /// traffic (like `ipvsadm -Ln --stats`); `lvs show VS` for one.
    Lvs {
        #[command(subcommand)]
        show: Option<LvsCommand>,
        #[arg(long)]
        json: bool,
    },
    /// Act on a real server without a reload: `weight VS RS N`, `drain VS RS`,
    /// `disable VS RS`, `enable VS RS`.
    Rs {
        #[command(subcommand)]
        action: RsCommand,
    },
    /// keepalived's genhash: fetch a URL from a real server and print the MD5 digest of its
    /// body (`MD5SUM = HEX`), the value of an HTTP_GET / SSL_GET `digest`.
    #[command(group(ArgGroup::new("what").required(true).args(["url", "server"])))]
    Genhash(GenhashArgs),
    /// Capture VRRP packets (live or from a pcap/pcapng file), decode and check them.
    #[command(group(ArgGroup::new("source").required(true).args(["interface", "pcap"])))]
    Sniff {
        /// Capture live on this interface (AF_PACKET; needs root or CAP_NET_RAW).
        #[arg(short, long, value_name = "IF")]
        interface: Option<String>,
        /// Read a pcap or pcapng file (`-` for standard input).
        #[arg(short = 'r', long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// One JSON object per packet (with --summary: the summary as one JSON document).
        #[arg(long)]
        json: bool,
        /// Print only a per-VRID summary with a diagnosis, at the end.
        #[arg(long)]
        summary: bool,
        /// Stop after N VRRP packets.
        #[arg(short = 'c', long, value_name = "N")]
        count: Option<u64>,
        /// Stop a live capture after SECS seconds.
        #[arg(long, value_name = "SECS", conflicts_with = "pcap")]
        duration: Option<f64>,
        /// Show VRRPv2 simple passwords in text output (hidden by default).
        #[arg(long)]
        show_password: bool,
    },
}

/// genhash's options; its one-letter names work too.
#[derive(clap::Args, Debug)]
struct GenhashArgs {
    /// `http[s]://HOST[:PORT]/PATH` (`https` implies --ssl).
    #[arg(conflicts_with_all = ["server", "path"])]
    url: Option<String>,
    /// The real server's address (with --port and --url).
    #[arg(short = 's', long, value_name = "IP", requires = "path")]
    server: Option<std::net::IpAddr>,
    /// Its port (default 80, 443 with --ssl).
    #[arg(short = 'p', long, value_name = "N")]
    port: Option<u16>,
    /// The path to fetch (with --server).
    #[arg(short = 'u', long = "url", id = "path", value_name = "PATH")]
    path: Option<String>,
    /// Over TLS (the server's certificate is not verified, as the checker does).
    #[arg(short = 'S', long)]
    ssl: bool,
    /// The TLS server name (default: the URL's host name, else none).
    #[arg(short = 'I', long, value_name = "NAME")]
    sni: Option<String>,
    /// The Host header (default: the URL's host name, else the address).
    #[arg(short = 'V', long, value_name = "HOST")]
    vhost: Option<String>,
    /// The deadline of the whole fetch.
    #[arg(short = 't', long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
    /// HTTP version: 1.0, 1.0C (1.0 with Connection: close) or 1.1.
    #[arg(short = 'P', long, value_name = "VERSION", default_value = "1.0")]
    protocol: String,
    /// Mark the packets (for a fwmark service's real servers; needs CAP_NET_ADMIN).
    #[arg(short = 'm', long, value_name = "MARK")]
    fwmark: Option<u32>,
    /// Show the header and the body (hex dumps) as genhash -v does.
    #[arg(short = 'v', long)]
    verbose: bool,
}

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

#[derive(Subcommand, Debug)]
enum LvsCommand {
    /// One virtual server: `[10.0.0.1]:tcp:80`, `10.0.0.1:80`, `FWM 5` or `group NAME`.
    Show {
        service: String,
        #[arg(long)]
        json: bool,
    },
}

/// A virtual server and one of its real servers, as `vrrpctl lvs` shows them.
#[derive(clap::Args, Debug)]
struct RsTarget {
    /// The virtual server (`10.0.0.1:80`, `[10.0.0.1]:tcp:80`, ...).
    service: String,
    /// The real server (`10.0.0.2:80`, `[fd00::2]:80`).
    real_server: String,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum RsCommand {
    /// A weight that holds until `enable` or a reload that changes the server.
    Weight {
        #[command(flatten)]
        target: RsTarget,
        weight: u32,
    },
    /// Weight 0: no new connections; established ones are kept.
    Drain {
        #[command(flatten)]
        target: RsTarget,
    },
    /// Out of the rotation, as if its checks failed.
    Disable {
        #[command(flatten)]
        target: RsTarget,
    },
    /// Back to its configured weight and its checks' verdict.
    Enable {
        #[command(flatten)]
        target: RsTarget,
    },
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
