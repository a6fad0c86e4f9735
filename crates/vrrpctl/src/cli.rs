//! vrrpctl's command line, self-contained (clap and std only) so that the packaging crate
//! (`crates/vrrp-pkg`) can include it with `#[path]` to generate the man page and the shell
//! completions.

use std::path::PathBuf;

use clap::{ArgGroup, Parser, Subcommand};

/// Control and diagnose vrrpd.
#[derive(Parser, Debug)]
#[command(name = "vrrpctl", version, about)]
pub(crate) struct Cli {
    /// The daemon's control socket (used by the daemon commands) [default:
    /// /run/vrrpd/vrrpd.sock, or /run/vrrpd/netns/NAME/vrrpd.sock in network namespace NAME]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
    /// A `bgp_announce` VIP: `drain VIP` withdraws it from BGP and keeps it withdrawn
    /// (maintenance), `restore VIP` announces it again while its services have their quorum.
    Announce {
        #[arg(value_parser = ["drain", "restore"])]
        action: String,
        /// The VIP (`10.0.0.1`).
        address: String,
        #[arg(long)]
        json: bool,
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
pub(crate) struct GenhashArgs {
    /// `http[s]://HOST[:PORT]/PATH` (`https` implies --ssl).
    #[arg(conflicts_with_all = ["server", "path"])]
    pub(crate) url: Option<String>,
    /// The real server's address (with --port and --url).
    #[arg(short = 's', long, value_name = "IP", requires = "path")]
    pub(crate) server: Option<std::net::IpAddr>,
    /// Its port (default 80, 443 with --ssl).
    #[arg(short = 'p', long, value_name = "N")]
    pub(crate) port: Option<u16>,
    /// The path to fetch (with --server).
    #[arg(short = 'u', long = "url", id = "path", value_name = "PATH")]
    pub(crate) path: Option<String>,
    /// Over TLS (the server's certificate is not verified, as the checker does).
    #[arg(short = 'S', long)]
    pub(crate) ssl: bool,
    /// The TLS server name (default: the URL's host name, else none).
    #[arg(short = 'I', long, value_name = "NAME")]
    pub(crate) sni: Option<String>,
    /// The Host header (default: the URL's host name, else the address).
    #[arg(short = 'V', long, value_name = "HOST")]
    pub(crate) vhost: Option<String>,
    /// The deadline of the whole fetch.
    #[arg(short = 't', long, value_name = "SECS", default_value_t = 5.0)]
    pub(crate) timeout: f64,
    /// HTTP version: 1.0, 1.0C (1.0 with Connection: close) or 1.1.
    #[arg(short = 'P', long, value_name = "VERSION", default_value = "1.0")]
    pub(crate) protocol: String,
    /// Mark the packets (for a fwmark service's real servers; needs CAP_NET_ADMIN).
    #[arg(short = 'm', long, value_name = "MARK")]
    pub(crate) fwmark: Option<u32>,
    /// Show the header and the body (hex dumps) as genhash -v does.
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum LvsCommand {
    /// One virtual server: `[10.0.0.1]:tcp:80`, `10.0.0.1:80`, `FWM 5` or `group NAME`.
    Show {
        service: String,
        #[arg(long)]
        json: bool,
    },
}

/// A virtual server and one of its real servers, as `vrrpctl lvs` shows them.
#[derive(clap::Args, Debug)]
pub(crate) struct RsTarget {
    /// The virtual server (`10.0.0.1:80`, `[10.0.0.1]:tcp:80`, ...).
    pub(crate) service: String,
    /// The real server (`10.0.0.2:80`, `[fd00::2]:80`).
    pub(crate) real_server: String,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RsCommand {
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
