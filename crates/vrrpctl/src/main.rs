//! vrrpctl: status, operator actions and wire diagnosis for vrrpd.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser, Subcommand};
use vrrpctl::sniff::{self, Options, Source};

/// Control and diagnose vrrpd.
#[derive(Parser, Debug)]
#[command(name = "vrrpctl", version, about)]
struct Cli {
    /// The daemon's control socket (used by the daemon commands).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "/run/vrrpd/vrrpd.sock"
    )]
    socket: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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

fn main() -> ExitCode {
    // Usage errors exit 2 (clap's convention); --help and --version exit 0.
    let cli = Cli::parse();
    let _ = &cli.socket;
    match cli.command {
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
