//! vrrpd's command line, compatible with keepalived's where it makes sense.

use std::path::PathBuf;

use clap::Parser;

/// The default configuration file, and the keepalived one tried when it is absent.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/vrrpd/vrrpd.conf";
pub(crate) const KEEPALIVED_CONFIG: &str = "/etc/keepalived/keepalived.conf";
pub(crate) const DEFAULT_PID_FILE: &str = "/run/vrrpd/vrrpd.pid";
pub(crate) const DEFAULT_CONTROL_SOCKET: &str = "/run/vrrpd/vrrpd.sock";
pub(crate) const DEFAULT_STATE_FILE: &str = "/run/vrrpd/vrrpd.state.json";
pub(crate) const DEFAULT_STATS_FILE: &str = "/run/vrrpd/vrrpd.stats.json";

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

    /// Check the configuration and exit: 0 when valid, 1 with the errors otherwise
    #[arg(short = 't', long = "config-test")]
    pub config_test: bool,

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
    #[arg(short = 'p', long = "pid", value_name = "FILE", default_value = DEFAULT_PID_FILE)]
    pub pid_file: PathBuf,

    /// Control socket path (used by vrrpctl)
    #[arg(long = "control-socket", value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: PathBuf,

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

    /// Where SIGUSR1 writes the JSON state dump
    #[arg(long = "state-file", value_name = "PATH", default_value = DEFAULT_STATE_FILE)]
    pub state_file: PathBuf,

    /// Where SIGUSR2 writes the JSON statistics dump
    #[arg(long = "stats-file", value_name = "PATH", default_value = DEFAULT_STATS_FILE)]
    pub stats_file: PathBuf,
}

impl Args {
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
        let args = Args::try_parse_from([
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
        assert!(args.dont_fork && args.log_console && args.log_detail);
        assert_eq!(args.config_path(), PathBuf::from("/tmp/k.conf"));
        assert_eq!(args.pid_file, PathBuf::from("/tmp/v.pid"));
        assert_eq!(args.control_socket, PathBuf::from("/tmp/v.sock"));
        let args =
            Args::try_parse_from(["vrrpd", "--config-test", "--use-file", "x"]).expect("parse");
        assert!(args.config_test);
    }
}
