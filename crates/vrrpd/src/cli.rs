//! vrrpd's command line, compatible with keepalived's where it makes sense.

use std::path::{Path, PathBuf};

use clap::Parser;

/// The default configuration file, and the keepalived one tried when it is absent.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/vrrpd/vrrpd.conf";
pub(crate) const KEEPALIVED_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// The files the daemon keeps: the flags given, else in the run directory of its network
/// namespace (`vrrp_control::paths`).
#[derive(Debug, Default)]
pub(crate) struct Files {
    pub pid_file: PathBuf,
    pub control_socket: PathBuf,
    pub state_file: PathBuf,
    pub stats_file: PathBuf,
}

#[derive(Debug, Parser)]
#[command(
    name = "vrrpd",
    version,
    about = "VRRP daemon (RFC 3768, RFC 5798, RFC 9568) that reads keepalived.conf"
)]
pub(crate) struct Args {
    /// Configuration file [default: /etc/vrrpd/vrrpd.conf, else /etc/keepalived/keepalived.conf]
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Check the configuration and exit: 0 when valid, 1 with the errors otherwise. Scripts
    /// and hooks not installed yet are warnings (as in keepalived, which disables them)
    #[arg(short = 't', long = "config-test")]
    pub config_test: bool,

    /// With -t: also check this machine, so that a missing or non-executable script or
    /// hook is an error, not a warning (without -t: refuse to start with one)
    #[arg(long = "strict")]
    pub strict: bool,

    /// Stay in the foreground (accepted for keepalived compatibility; vrrpd never forks)
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,

    /// Log to the console (standard error)
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,

    /// Detailed (debug) logging
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,

    /// Pid file; a daemon that finds it locked by a live vrrpd refuses to start
    /// [default: /run/vrrpd/vrrpd.pid, or /run/vrrpd/netns/NAME/vrrpd.pid in network
    /// namespace NAME]
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pid_file: Option<PathBuf>,

    /// Control socket path (used by vrrpctl) [default: /run/vrrpd/vrrpd.sock, or
    /// /run/vrrpd/netns/NAME/vrrpd.sock in network namespace NAME]
    #[arg(long = "control-socket", value_name = "PATH")]
    control_socket: Option<PathBuf>,

    /// Log format on standard error (under systemd, text goes to the journal)
    #[arg(
        long = "log-format",
        value_name = "FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: crate::logging::LogFormat,

    /// Serve Prometheus metrics on this address (also `metrics_listen` in global_defs)
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Where SIGUSR1 writes the JSON state dump [default: /run/vrrpd/vrrpd.state.json, or
    /// /run/vrrpd/netns/NAME/vrrpd.state.json in network namespace NAME]
    #[arg(long = "state-file", value_name = "PATH")]
    state_file: Option<PathBuf>,

    /// Where SIGUSR2 writes the JSON statistics dump [default: /run/vrrpd/vrrpd.stats.json,
    /// or /run/vrrpd/netns/NAME/vrrpd.stats.json in network namespace NAME]
    #[arg(long = "stats-file", value_name = "PATH")]
    stats_file: Option<PathBuf>,

    /// The files, defaults resolved ([`Args::parse_resolved`]).
    #[arg(skip)]
    pub files: Files,
}

impl Args {
    /// The command line, with the defaults of this network namespace filled in.
    pub(crate) fn parse_resolved() -> Args {
        let mut args = Args::parse();
        args.resolve(&vrrp_control::paths::run_dir());
        args
    }

    /// Fills [`Args::files`]: each flag given, else its file in `run_dir`.
    fn resolve(&mut self, run_dir: &Path) {
        use vrrp_control::paths::{CONTROL_SOCKET, PID_FILE, STATE_FILE, STATS_FILE};
        let pick =
            |flag: &Option<PathBuf>, name: &str| flag.clone().unwrap_or_else(|| run_dir.join(name));
        self.files = Files {
            pid_file: pick(&self.pid_file, PID_FILE),
            control_socket: pick(&self.control_socket, CONTROL_SOCKET),
            state_file: pick(&self.state_file, STATE_FILE),
            stats_file: pick(&self.stats_file, STATS_FILE),
        };
    }

    /// The configuration file to read: the one given, else the first default that exists.
    pub(crate) fn config_path(&self) -> PathBuf {
        if let Some(path) = &self.config {
            return path.clone();
        }
        let ours = PathBuf::from(DEFAULT_CONFIG);
        if ours.exists() {
            return ours;
        }
        let keepalived = PathBuf::from(KEEPALIVED_CONFIG);
        if keepalived.exists() {
            keepalived
        } else {
            ours
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_style_flags_parse() {
        let mut args = Args::try_parse_from([
            "vrrpd",
            "-n",
            "-l",
            "-D",
            "-f",
            "/tmp/k.conf",
            "-p",
            "/tmp/v.pid",
            "--control-socket",
            "/tmp/v.sock",
        ])
        .expect("parse");
        args.resolve(Path::new("/run/vrrpd/netns/ns1"));
        assert!(args.dont_fork && args.log_console && args.log_detail);
        assert_eq!(args.config_path(), PathBuf::from("/tmp/k.conf"));
        assert_eq!(args.files.pid_file, PathBuf::from("/tmp/v.pid"));
        assert_eq!(args.files.control_socket, PathBuf::from("/tmp/v.sock"));
        // What was not given comes from the namespace's run directory.
        assert_eq!(
            args.files.state_file,
            PathBuf::from("/run/vrrpd/netns/ns1/vrrpd.state.json")
        );
        assert_eq!(
            args.files.stats_file,
            PathBuf::from("/run/vrrpd/netns/ns1/vrrpd.stats.json")
        );
        let args =
            Args::try_parse_from(["vrrpd", "--config-test", "--use-file", "x"]).expect("parse");
        assert!(args.config_test && !args.strict);
        let args = Args::try_parse_from(["vrrpd", "-t", "--strict"]).expect("parse");
        assert!(args.config_test && args.strict);
    }
}
