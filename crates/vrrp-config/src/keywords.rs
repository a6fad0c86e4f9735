//! The keyword table: every keyword vrrpd reads, and the keepalived keywords it refuses.
//!
//! A keyword is added here, in one place, with its block, its shape, how a repetition is
//! handled and its one-line documentation. The parser derives from this table what it used to
//! keep in separate lists: the keywords of each block (and the "did you mean" candidates),
//! which ones open a block, which ones accumulate, which ones only start a top-level block,
//! and which unknown keywords keepalived knows (so that "not supported" is told from
//! "misspelt"). The parser's match arms then read the values; tests check that both agree,
//! and that `docs/config.md` lists the table (its generated keyword index).
//!
//! This file uses nothing else of the crate, so that the documentation test and the packaging
//! crate (`crates/vrrp-pkg`, which writes vrrpd.conf(5) from the table) can include it; the
//! documentation helpers are therefore compiled outside tests too.

/// Where a keyword is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    /// Outside any block.
    Top,
    /// `global_defs { }`.
    Global,
    /// `vrrp_instance NAME { }`.
    Instance,
    /// `authentication { }` inside an instance.
    Auth,
    /// `vrrp_script NAME { }`.
    Script,
    /// `track_file NAME { }` (alias `vrrp_track_file`).
    TrackFile,
    /// `vrrp_track_process NAME { }`.
    Process,
    /// `vrrp_sync_group NAME { }`.
    SyncGroup,
    /// `virtual_server IP PORT|fwmark N|group NAME { }`.
    VirtualServer,
    /// `real_server IP [PORT] { }` inside a virtual server.
    RealServer,
    /// The options shared by the checkers of a real server (`TCP_CHECK { }`...).
    Checker,
    /// `HTTP_GET { }` and `SSL_GET { }`.
    HttpCheck,
    /// `url { }` inside HTTP_GET or SSL_GET.
    Url,
    /// `SMTP_CHECK { }`.
    SmtpCheck,
    /// `DNS_CHECK { }`.
    DnsCheck,
    /// `MISC_CHECK { }`.
    MiscCheck,
    /// `UDP_CHECK { }`.
    UdpCheck,
    /// `FILE_CHECK { }`.
    FileCheck,
    /// The top-level `SSL { }`.
    Ssl,
    /// The top-level `garp_group { }`.
    GarpGroup,
}

impl Block {
    /// Every block, in the order of the documentation.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const ALL: [Block; 20] = [
        Block::Top,
        Block::Global,
        Block::Instance,
        Block::Auth,
        Block::Script,
        Block::TrackFile,
        Block::Process,
        Block::SyncGroup,
        Block::VirtualServer,
        Block::RealServer,
        Block::Checker,
        Block::HttpCheck,
        Block::Url,
        Block::SmtpCheck,
        Block::DnsCheck,
        Block::MiscCheck,
        Block::UdpCheck,
        Block::FileCheck,
        Block::Ssl,
        Block::GarpGroup,
    ];

    /// The name of the block as written in a configuration.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn title(self) -> &'static str {
        match self {
            Block::Top => "top level",
            Block::Global => "global_defs",
            Block::Instance => "vrrp_instance",
            Block::Auth => "authentication",
            Block::Script => "vrrp_script",
            Block::TrackFile => "track_file",
            Block::Process => "vrrp_track_process",
            Block::SyncGroup => "vrrp_sync_group",
            Block::VirtualServer => "virtual_server",
            Block::RealServer => "real_server",
            Block::Checker => "checkers (shared)",
            Block::HttpCheck => "HTTP_GET / SSL_GET",
            Block::Url => "url",
            Block::SmtpCheck => "SMTP_CHECK",
            Block::DnsCheck => "DNS_CHECK",
            Block::MiscCheck => "MISC_CHECK",
            Block::UdpCheck => "UDP_CHECK",
            Block::FileCheck => "FILE_CHECK",
            Block::Ssl => "SSL",
            Block::GarpGroup => "garp_group",
        }
    }
}

/// What follows a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Values on the keyword's line.
    Value,
    /// A flag, with keepalived's optional `<BOOL>` after it.
    Flag,
    /// A `{ }` block of keywords.
    Section,
    /// A `{ }` block of entries, one per line.
    List,
    /// Read by the preprocessing (`include`), before the parser sees the text.
    Preprocessor,
    /// keepalived knows it; vrrpd refuses it with an error that says so.
    Unsupported,
}

impl Shape {
    /// The shape as the documentation names it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Shape::Value => "value",
            Shape::Flag => "flag",
            Shape::Section => "block",
            Shape::List => "list block",
            Shape::Preprocessor => "preprocessing",
            Shape::Unsupported => "not supported",
        }
    }

    /// Whether the keyword opens a `{ }` block.
    pub(crate) fn opens_block(self) -> bool {
        matches!(self, Shape::Section | Shape::List)
    }
}

/// What a second occurrence of a keyword in the same block does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// A single setting: the first value is used, a repetition is ignored with a warning
    /// (keepalived keeps the first notify script; vrrpd does so for every setting).
    First,
    /// A single setting shared with another keyword (`no_accept` sets `accept`): the warning
    /// names that keyword.
    SameAs(&'static str),
    /// A list: every occurrence adds to it.
    Adds,
}

/// One keyword of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keyword {
    pub name: &'static str,
    pub block: Block,
    pub shape: Shape,
    pub repeat: Repeat,
    /// Only ever starts a top-level block: met inside a block, it means that a `}` is missing.
    pub top_level_only: bool,
    /// One line for the documentation (read by the test that keeps `docs/config.md` in step).
    #[cfg_attr(not(test), allow(dead_code))]
    pub doc: &'static str,
}

impl Keyword {
    /// Whether vrrpd reads the keyword (it may still ignore it with a warning).
    pub(crate) fn supported(&self) -> bool {
        self.shape != Shape::Unsupported
    }

    const fn adds(self) -> Self {
        Keyword {
            repeat: Repeat::Adds,
            ..self
        }
    }

    const fn same_as(self, key: &'static str) -> Self {
        Keyword {
            repeat: Repeat::SameAs(key),
            ..self
        }
    }

    const fn top_only(self) -> Self {
        Keyword {
            top_level_only: true,
            ..self
        }
    }
}

/// A single-setting keyword; the builders above change the rest.
const fn k(name: &'static str, block: Block, shape: Shape, doc: &'static str) -> Keyword {
    Keyword {
        name,
        block,
        shape,
        repeat: Repeat::First,
        top_level_only: false,
        doc,
    }
}

use Block::{
    Auth, Checker, DnsCheck, FileCheck, GarpGroup, Global, HttpCheck, Instance, MiscCheck, Process,
    RealServer, Script, SmtpCheck, Ssl, SyncGroup, Top, TrackFile, UdpCheck, Url, VirtualServer,
};
use Shape::{Flag, List, Preprocessor, Section, Unsupported, Value};

/// The table. Within a block, the order is the order of the "did you mean" candidates (the
/// first of equally close keywords is proposed) and of the documentation.
#[rustfmt::skip]
pub(crate) const KEYWORDS: &[Keyword] = &[
    // Top level.
    k("global_defs", Top, Section, "Daemon-wide settings; several blocks are merged").top_only(),
    k("vrrp_instance", Top, Section, "`vrrp_instance NAME { }`: one virtual router").top_only(),
    k("vrrp_script", Top, Section, "`vrrp_script NAME { }`: a tracking script").top_only(),
    k("track_file", Top, Section, "`track_file NAME { }`: a tracked file"),
    k("vrrp_track_file", Top, Section, "Alias of the top-level `track_file`").top_only(),
    k("vrrp_track_process", Top, Section, "`vrrp_track_process NAME { }`: a tracked process").top_only(),
    k("vrrp_sync_group", Top, Section, "`vrrp_sync_group NAME { }`: instances that change state together").top_only(),
    k("interface_up_down_delays", Top, List, "`IF DOWN [UP]` per line: link debounce delays").top_only(),
    k("include", Top, Preprocessor, "`include PATTERN`: read the matching files here"),
    k("includer", Top, Preprocessor, "`include` that also checks that matches are readable"),
    k("includem", Top, Preprocessor, "`include` that also checks that a plain name matches"),
    k("includew", Top, Preprocessor, "`include` that also checks that every pattern matches"),
    k("includeb", Top, Preprocessor, "`include` that also checks that every `{a,b}` alternative matches"),
    k("includea", Top, Preprocessor, "`include` with all checks"),
    k("include_check", Top, Preprocessor, "`include_check [OPTIONS]`: checks of later includes"),
    k("virtual_server", Top, Section, "`virtual_server IP PORT|fwmark N [inet|inet6]|group NAME { }`: a load-balanced service").top_only(),
    k("virtual_server_group", Top, List, "`virtual_server_group NAME { }`: `IP [PORT]`, `A.B.C.D-E [PORT]`, `CIDR [PORT]` or `fwmark N [inet|inet6]` per line").top_only(),
    k("SSL", Top, Section, "`SSL { }`: client certificate and CA of SSL_GET").top_only(),
    k("static_ipaddress", Top, List, "Addresses set at start whatever the VRRP state and removed at stop: `virtual_ipaddress` lines (`dev` defaults to `default_interface`)").adds().top_only(),
    k("static_routes", Top, List, "Routes set at start and removed at stop: `virtual_routes` lines").adds().top_only(),
    k("static_rules", Top, List, "Rules set at start and removed at stop: `virtual_rules` lines (IPv4 unless an address says otherwise)").adds().top_only(),
    k("static_track_group", Top, Unsupported, "Static tracking group"),
    k("track_group", Top, Unsupported, "Instances that go to Fault when a static address, route or rule is lost"),
    k("net_namespace", Top, Unsupported, "Run in a network namespace (use `ip netns exec NS vrrpd`)"),
    k("net_namespace_ipvs", Top, Unsupported, "Network namespace of IPVS"),
    k("namespace_with_ipsets", Top, Unsupported, "ipset names within a network namespace"),
    k("linkbeat_use_polling", Top, Unsupported, "Poll link state instead of netlink"),
    k("use_pid_dir", Top, Unsupported, "PID files under /run/keepalived"),
    k("instance", Top, Unsupported, "Instance name of the PID and data files"),
    k("child_wait_time", Top, Unsupported, "Wait for the child processes at stop"),
    k("bfd_instance", Top, Unsupported, "BFD session"),
    k("garp_group", Top, Section, "`garp_group { }`: GARP / NA gaps of the instances on one interface").top_only(),
    k("linkbeat_interfaces", Top, Unsupported, "Link-beat polled interfaces"),
    // global_defs.
    k("router_id", Global, Value, "`STR`: node name (reports)"),
    k("vrrp_version", Global, Value, "`2|3`: version of instances without `version`"),
    k("vrrp_garp_master_delay", Global, Value, "`SECS`: delay of the second GARP/NA burst after becoming Master"),
    k("vrrp_garp_master_repeat", Global, Value, "`N`: GARP/NA per burst"),
    k("vrrp_garp_master_refresh", Global, Value, "`SECS`: periodic GARP/NA while Master (0 = off)"),
    k("vrrp_garp_master_refresh_repeat", Global, Value, "`N`: messages per refresh"),
    k("vrrp_garp_interval", Global, Value, "`TIMER`: gap between two GARPs on an interface"),
    k("vrrp_gna_interval", Global, Value, "`TIMER`: gap between two unsolicited NAs on an interface"),
    k("vrrp_garp_extra_if", Global, Value, "`[all] SECS`: default of the instances' `garp_extra_if`"),
    k("vrrp_garp_lower_prio_delay", Global, Value, "`SECS`: second burst after a Master hears a lower priority"),
    k("vrrp_garp_lower_prio_repeat", Global, Value, "`N`: messages per such burst"),
    k("vrrp_check_unicast_src", Global, Flag, "Accept unicast adverts only from configured peers"),
    k("vrrp_skip_check_adv_addr", Global, Flag, "Don't re-check the addresses of adverts from the same Master"),
    k("vrrp_strict", Global, Flag, "Strict RFC compliance"),
    k("vrrp_startup_delay", Global, Value, "`TIMER`: wait before starting the instances"),
    k("enable_script_security", Global, Flag, "Script security checks"),
    k("script_user", Global, Value, "`USER [GROUP]`: user for scripts"),
    k("vrrp_iptables", Global, Value, "Accepted and ignored, with a warning"),
    k("vrrp_ipsets", Global, Value, "Accepted and ignored, with a warning"),
    k("nftables", Global, Value, "Accepted and ignored, with a warning"),
    k("vrrp_lower_prio_no_advert", Global, Flag, "A Master does not answer lower-priority adverts"),
    k("vrrp_higher_prio_send_advert", Global, Flag, "A Master sends one advert before yielding to a higher priority"),
    k("v3_checksum_as_v2", Global, Flag, "VRRPv3/IPv4 checksum without the pseudo-header"),
    k("vrrp_mcast_group4", Global, Value, "`ADDR`: IPv4 multicast group adverts are sent to and received on (224.0.0.18)"),
    k("vrrp_mcast_group6", Global, Value, "`ADDR`: IPv6 multicast group adverts are sent to and received on (ff02::12)"),
    k("default_interface", Global, Value, "`IF`: interface of the `static_ipaddress` lines without `dev` (eth0)"),
    k("dynamic_interfaces", Global, Value, "`[allow_if_changes]`: an instance whose interface is missing at start waits for it"),
    k("max_auto_priority", Global, Value, "`[N]`: accepted with a warning; vrrpd never raises its scheduling priority by itself"),
    k("notify_fifo", Global, Value, "`FIFO [USER [GROUP]]`: FIFO that receives every state change"),
    k("notify_fifo_script", Global, Value, "`SCRIPT [USER [GROUP]]`: reader of `notify_fifo`"),
    k("vrrp_notify_fifo", Global, Value, "`FIFO [USER [GROUP]]`: FIFO of the VRRP events"),
    k("vrrp_notify_fifo_script", Global, Value, "`SCRIPT [USER [GROUP]]`: reader of `vrrp_notify_fifo`"),
    k("metrics_listen", Global, Value, "`ADDR:PORT`: vrrpd's Prometheus endpoint"),
    k("lb_dataplane", Global, Value, "`auto|nftables|ipvs`: the load balancer's data path (vrrpd; default auto)"),
    k("lb_nat_masquerade", Global, Flag, "NAT services also masquerade, for real servers that do not route back through the balancer (vrrpd, nftables)"),
    k("bgp_announce_table", Global, Value, "`N`: routing table (1-252) of the routes of `bgp_announce` services, imported by FRR (vrrpd; default 200)"),
    k("bgp_announce_drain", Global, Value, "`SECS`: time between a VIP's withdrawal and its service's removal at stop or reload (vrrpd; default 2)"),
    k("bgp_frr_config", Global, Value, "`PATH`: FRR configuration checked at start when `bgp_announce` is used (vrrpd; default /etc/frr/frr.conf)"),
    k("lvs_notify_fifo", Global, Value, "`FIFO [USER [GROUP]]`: FIFO of the virtual and real server events"),
    k("lvs_notify_fifo_script", Global, Value, "`SCRIPT [USER [GROUP]]`: reader of `lvs_notify_fifo`"),
    k("lvs_flush", Global, Flag, "Remove every IPVS service at start"),
    k("lvs_flush_on_stop", Global, Value, "`[VS]`: at stop, remove every IPVS service (`VS`: only the configured ones)"),
    k("lvs_flush_onstop", Global, Value, "Alias of `lvs_flush_on_stop`").same_as("lvs_flush_on_stop"),
    k("lvs_timeouts", Global, Value, "`[tcp SECS] [tcpfin SECS] [udp SECS]`: IPVS connection timeouts"),
    k("lvs_sync_daemon", Global, Value, "`IF [inst VRRP] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`: IPVS connection sync"),
    k("checker_log_all_failures", Global, Flag, "Every failed check is logged, not only state changes"),
    k("rs_init_notifies", Global, Flag, "Run the real servers' notify scripts for their initial state"),
    k("notification_email", Global, List, "`ADDRESS` per word (quote `\"Name <user@host>\"`): e-mail alert recipients").adds(),
    k("notification_email_from", Global, Value, "`ADDRESS`: sender of the alerts (default `USER@HOSTNAME`)"),
    k("smtp_server", Global, Value, "`IP|NAME [PORT]`: SMTP server of the alerts (port 25; none: no alert)"),
    k("smtp_helo_name", Global, Value, "`NAME`: HELO name (default: the host name)"),
    k("smtp_connect_timeout", Global, Value, "`SECS`: SMTP connection and reply timeout (default 30)"),
    k("smtp_alert", Global, Flag, "Default of every `smtp_alert`"),
    k("smtp_alert_vrrp", Global, Flag, "Default `smtp_alert` of instances and sync groups"),
    k("smtp_alert_checker", Global, Flag, "Default `smtp_alert` of virtual and real servers"),
    k("no_email_faults", Global, Flag, "No alert for the Fault state"),
    k("no_checker_emails", Global, Flag, "Alert only when a real server's state changes (always so in vrrpd)"),
    k("nftables_ipvs", Global, Unsupported, "Virtual server groups folded into fwmarks through nftables"),
    k("enable_snmp_checker", Global, Unsupported, "SNMP of the checkers"),
    k("lvs_sync_daemon_interface", Global, Unsupported, "Old form of `lvs_sync_daemon`"),
    k("process_names", Global, Unsupported, "Name the child processes"),
    k("process_name", Global, Unsupported, "Name of the parent process"),
    k("vrrp_process_name", Global, Unsupported, "Name of the VRRP process"),
    k("checker_process_name", Global, Unsupported, "Name of the checker process"),
    k("lvs_process_name", Global, Unsupported, "Old name of `checker_process_name`"),
    k("bfd_process_name", Global, Unsupported, "Name of the BFD process"),
    k("startup_script", Global, Unsupported, "Script run before the daemon starts"),
    k("startup_script_timeout", Global, Unsupported, "Its timeout"),
    k("shutdown_script", Global, Unsupported, "Script run after the daemon stops"),
    k("shutdown_script_timeout", Global, Unsupported, "Its timeout"),
    k("min_auto_priority_delay", Global, Unsupported, "Lateness that raises the automatic real-time priority"),
    k("disable_local_igmp", Global, Unsupported, "Don't send IGMP reports of the VRRP group"),
    k("vrrp_down_timer_adverts", Global, Unsupported, "Default of `down_timer_adverts`"),
    k("vrrp_min_garp", Global, Unsupported, "One GARP at takeover, no refresh"),
    k("vrrp_vmac_garp_intvl", Global, Unsupported, "Old name of `vrrp_garp_extra_if`"),
    k("nftables_priority", Global, Unsupported, "Priority of keepalived's nftables chains"),
    k("nftables_ifindex", Global, Unsupported, "nftables rules by interface index"),
    k("nftables_ipvs_priority", Global, Unsupported, "Priority of the IPVS nftables chains"),
    k("nftables_ipvs_start_fwmark", Global, Unsupported, "First fwmark of `nftables_ipvs`"),
    k("nftables_counters", Global, Unsupported, "Counters on keepalived's nftables rules"),
    k("vrrp_priority", Global, Value, "`-20..19`: nice value of the daemon's threads (applied at start)"),
    k("vrrp_no_swap", Global, Flag, "Lock the daemon in memory: mlockall(MCL_CURRENT|MCL_FUTURE) at start"),
    k("vrrp_rt_priority", Global, Value, "`1..99`: SCHED_RR priority of the protocol thread (applied at start)"),
    k("vrrp_cpu_affinity", Global, Value, "`CPU...`: the CPUs the daemon runs on (applied at start)"),
    k("vrrp_rlimit_rttime", Global, Value, "`USECS` (>= 2): RLIMIT_RTTIME under `vrrp_rt_priority` (default 10000)"),
    k("vrrp_rlimit_rtime", Global, Value, "Old name of `vrrp_rlimit_rttime`").same_as("vrrp_rlimit_rttime"),
    k("vrrp_notify_priority_changes", Global, Unsupported, "Default of `notify_priority_changes`"),
    k("fifo_write_vrrp_states_on_reload", Global, Unsupported, "Write every state to the FIFO at reload"),
    k("checker_priority", Global, Value, "`-20..19`: nice value of the load balancer's thread and its checks"),
    k("checker_no_swap", Global, Flag, "Lock the daemon in memory, as `vrrp_no_swap`"),
    k("checker_rt_priority", Global, Unsupported, "Real-time priority of the checker process"),
    k("checker_cpu_affinity", Global, Unsupported, "CPUs of the checker process"),
    k("checker_rlimit_rttime", Global, Unsupported, "RLIMIT_RTTIME of the checker process"),
    k("checker_rlimit_rtime", Global, Unsupported, "Old name of `checker_rlimit_rttime`"),
    k("bfd_priority", Global, Unsupported, "Nice value of the BFD process"),
    k("bfd_no_swap", Global, Unsupported, "Lock the BFD process in memory"),
    k("bfd_rt_priority", Global, Unsupported, "Real-time priority of the BFD process"),
    k("bfd_cpu_affinity", Global, Unsupported, "CPUs of the BFD process"),
    k("bfd_rlimit_rttime", Global, Unsupported, "RLIMIT_RTTIME of the BFD process"),
    k("bfd_rlimit_rtime", Global, Unsupported, "Old name of `bfd_rlimit_rttime`"),
    k("snmp_socket", Global, Unsupported, "AgentX socket"),
    k("enable_traps", Global, Unsupported, "SNMP traps"),
    k("enable_snmp_vrrp", Global, Unsupported, "SNMP of VRRP"),
    k("enable_snmp_keepalived", Global, Unsupported, "Old name of `enable_snmp_vrrp`"),
    k("enable_snmp_rfc", Global, Unsupported, "RFC SNMP MIBs"),
    k("enable_snmp_rfcv2", Global, Unsupported, "RFC 2787 SNMP MIB"),
    k("enable_snmp_rfcv3", Global, Unsupported, "RFC 6527 SNMP MIB"),
    k("enable_dbus", Global, Unsupported, "D-Bus interface"),
    k("dbus_service_name", Global, Unsupported, "D-Bus service name"),
    k("vrrp_netlink_cmd_rcv_bufs", Global, Unsupported, "Netlink receive buffer size"),
    k("vrrp_netlink_cmd_rcv_bufs_force", Global, Unsupported, "Netlink receive buffer size"),
    k("vrrp_netlink_monitor_rcv_bufs", Global, Unsupported, "Netlink receive buffer size"),
    k("vrrp_netlink_monitor_rcv_bufs_force", Global, Unsupported, "Netlink receive buffer size"),
    k("process_monitor_rcv_bufs", Global, Unsupported, "Process connector receive buffer size"),
    k("process_monitor_rcv_bufs_force", Global, Unsupported, "Process connector receive buffer size"),
    k("lvs_netlink_cmd_rcv_bufs", Global, Unsupported, "Netlink receive buffer size"),
    k("lvs_netlink_cmd_rcv_bufs_force", Global, Unsupported, "Netlink receive buffer size"),
    k("lvs_netlink_monitor_rcv_bufs", Global, Unsupported, "Netlink receive buffer size"),
    k("lvs_netlink_monitor_rcv_bufs_force", Global, Unsupported, "Netlink receive buffer size"),
    k("vrrp_rx_bufs_policy", Global, Unsupported, "Receive buffer size of the VRRP sockets"),
    k("vrrp_rx_bufs_multiplier", Global, Unsupported, "Receive buffer size of the VRRP sockets"),
    k("log_unknown_vrids", Global, Unsupported, "Log adverts of unconfigured VRIDs"),
    k("vmac_prefix", Global, Unsupported, "Prefix of the virtual MAC interface names"),
    k("vmac_addr_prefix", Global, Unsupported, "Prefix of the virtual MAC interface names"),
    k("umask", Global, Unsupported, "umask of created files"),
    k("random_seed", Global, Unsupported, "Seed of the random numbers"),
    k("reload_check_config", Global, Unsupported, "Check the configuration before a reload"),
    k("reload_time_file", Global, Unsupported, "Scheduled reload"),
    k("reload_repeat", Global, Unsupported, "Scheduled reload"),
    k("reload_file", Global, Unsupported, "Scheduled reload"),
    k("config_save_dir", Global, Unsupported, "Save configurations that fail to load"),
    k("tmp_config_directory", Global, Unsupported, "Directory of the configuration copy"),
    k("data_use_instance", Global, Unsupported, "Instance name in the data file names"),
    // vrrp_instance.
    k("state", Instance, Value, "`MASTER|BACKUP|OBSERVER|SLAVE`: initial state wish"),
    k("interface", Instance, Value, "`IF`: interface (required)"),
    k("virtual_router_id", Instance, Value, "`1-255`: VRID (required)"),
    k("priority", Instance, Value, "`1-255`: priority; 255 = address owner"),
    k("advert_int", Instance, Value, "`TIMER`: advert interval"),
    k("virtual_ipaddress", Instance, List, "`ADDR[/LEN] [brd ADDR] [dev IF] [scope SCOPE] [label LABEL]` per line").adds(),
    k("virtual_ipaddress_excluded", Instance, List, "Addresses managed with the instance but not advertised").adds(),
    k("authentication", Instance, Section, "`auth_type PASS` and `auth_pass TEXT`: VRRPv2 password"),
    k("nopreempt", Instance, Flag, "Don't take over from a lower-priority Master"),
    k("preempt", Instance, Flag, "Legacy: re-enables preemption (the default)").same_as("nopreempt"),
    k("preempt_delay", Instance, Value, "`TIMER`: wait before preempting"),
    k("unicast_src_ip", Instance, Value, "`ADDR`: source address of adverts"),
    k("unicast_peer", Instance, List, "`ADDR` per line: adverts go unicast to them").adds(),
    k("mcast_src_ip", Instance, Value, "`ADDR`: source address of adverts"),
    k("version", Instance, Value, "`2|3`: protocol version"),
    k("accept", Instance, Flag, "Accept mode"),
    k("no_accept", Instance, Flag, "Accept mode off").same_as("accept"),
    k("use_vmac", Instance, Value, "`[NAME]`: virtual MAC through a macvlan interface"),
    k("vmac_xmit_base", Instance, Flag, "Send and receive adverts on the base interface"),
    k("track_interface", Instance, List, "`IF [weight N [reverse]]` per line").adds(),
    k("dont_track_primary", Instance, Flag, "Ignore link faults on the instance's own interface"),
    k("garp_master_delay", Instance, Value, "Per-instance `vrrp_garp_master_delay`"),
    k("garp_master_repeat", Instance, Value, "Per-instance `vrrp_garp_master_repeat`"),
    k("garp_master_refresh", Instance, Value, "Per-instance `vrrp_garp_master_refresh`"),
    k("garp_master_refresh_repeat", Instance, Value, "Per-instance `vrrp_garp_master_refresh_repeat`"),
    k("garp_lower_prio_delay", Instance, Value, "Per-instance `vrrp_garp_lower_prio_delay`"),
    k("garp_lower_prio_repeat", Instance, Value, "Per-instance `vrrp_garp_lower_prio_repeat`"),
    k("lower_prio_no_advert", Instance, Flag, "Per-instance `vrrp_lower_prio_no_advert`"),
    k("higher_prio_send_advert", Instance, Flag, "Per-instance `vrrp_higher_prio_send_advert`"),
    k("v3_checksum_as_v2", Instance, Flag, "Per-instance `v3_checksum_as_v2`"),
    k("track_script", Instance, List, "`NAME [weight N] [reverse|noreverse]` per line").adds(),
    k("track_file", Instance, List, "`NAME [weight N [reverse]]` per line").adds(),
    k("track_process", Instance, List, "`NAME [weight N [reverse]]` per line").adds(),
    k("notify", Instance, Value, "`SCRIPT [USER [GROUP]]`: run on every state change"),
    k("notify_master", Instance, Value, "`SCRIPT [USER [GROUP]]`: run on becoming Master"),
    k("notify_backup", Instance, Value, "`SCRIPT [USER [GROUP]]`: run on becoming Backup"),
    k("notify_fault", Instance, Value, "`SCRIPT [USER [GROUP]]`: run on entering Fault"),
    k("notify_stop", Instance, Value, "`SCRIPT [USER [GROUP]]`: run when the instance stops"),
    k("notify_master_rx_lower_pri", Instance, Value, "`SCRIPT [USER [GROUP]]`: run when a Master hears a lower priority"),
    k("notify_master_change", Instance, Value, "`SCRIPT [USER [GROUP]]`: run when the Master changes (vrrpd)"),
    k("virtual_routes", Instance, List, "One route per line, installed while Master").adds(),
    k("virtual_rules", Instance, List, "One rule per line, installed while Master").adds(),
    k("promote_secondaries", Instance, Flag, "Set `promote_secondaries` on the interface"),
    k("unicast_ttl", Instance, Value, "`0-255`: TTL / hop limit of unicast adverts (default 255)"),
    k("check_unicast_src", Instance, Flag, "Per-instance `vrrp_check_unicast_src`"),
    k("skip_check_adv_addr", Instance, Flag, "Per-instance `vrrp_skip_check_adv_addr`"),
    k("strict_mode", Instance, Flag, "Per-instance `vrrp_strict`"),
    k("garp_extra_if", Instance, Value, "`[all] SECS`: while Master, periodic GARP/NA for the addresses on other interfaces (0 = off)"),
    k("no_virtual_ipaddress", Instance, Flag, "No warning for an instance without addresses (VRRPv2)"),
    k("notify_deleted", Instance, Value, "`[SCRIPT [USER [GROUP]]]`: a reload that removes the instance notifies DELETED, not FAULT"),
    k("notify_priority_changes", Instance, Flag, "Priority changes go to the notify FIFOs"),
    k("down_timer_adverts", Instance, Value, "`1-100`: adverts missed before the Master is declared down (default 3)"),
    k("owner_ignore_adverts", Instance, Flag, "An address owner (priority 255) drops every advert"),
    k("track_src_ip", Instance, Flag, "Fault while the source address of adverts is on no interface"),
    k("old_unicast_checksum", Instance, Value, "`[never]`: VRRPv3/IPv4 unicast checksum of keepalived before 1.3.6"),
    k("unicast_fault_no_peer", Instance, Flag, "Accepted; needs `unicast_peer` (vrrpd has no peer-less unicast mode)"),
    k("track_bfd", Instance, Unsupported, "BFD tracking"),
    k("sync_group_tracking_weight", Instance, Unsupported, "A `vrrp_sync_group` keyword, not an instance one"),
    k("mcast_dst_ip", Instance, Unsupported, "Destination multicast address (not per instance: one group per socket)"),
    k("auth_hmac", Instance, Unsupported, "HMAC authentication (newer keepalived; not implemented)"),
    k("use_ipvlan", Instance, Unsupported, "ipvlan interface (vrrpd creates macvlan interfaces only)"),
    k("smtp_alert", Instance, Flag, "E-mail alerts on state changes (default: `smtp_alert_vrrp`, `smtp_alert`, off)"),
    k("use_vmac_addr", Instance, Unsupported, "Virtual MAC on the interface itself"),
    k("native_ipv6", Instance, Unsupported, "IPv6 without VRRPv3 of the instance"),
    k("vrf", Instance, Unsupported, "VRF of the virtual MAC interface"),
    k("linkbeat_use_polling", Instance, Unsupported, "Poll link state instead of netlink"),
    k("debug", Instance, Unsupported, "Debug level"),
    k("lvs_sync_daemon_interface", Instance, Unsupported, "Old form of `lvs_sync_daemon`"),
    k("vmac_garp_intvl", Instance, Unsupported, "Old name of `garp_extra_if`"),
    k("kernel_rx_buf_size", Instance, Unsupported, "Receive buffer size of the VRRP socket"),
    // authentication.
    k("auth_type", Auth, Value, "`PASS`: simple password (`AH` is refused)"),
    k("auth_pass", Auth, Value, "`TEXT`: the password (first 8 bytes used)"),
    // vrrp_script.
    k("script", Script, Value, "`COMMAND...`: the check (required)"),
    k("interval", Script, Value, "`TIMER`: time between runs"),
    k("timeout", Script, Value, "`TIMER`: a run that takes longer fails"),
    k("weight", Script, Value, "`N [reverse]`: -253..253; 0 = Fault while failed"),
    k("rise", Script, Value, "`N`: successes in a row to count as up"),
    k("fall", Script, Value, "`N`: failures in a row to count as down"),
    k("user", Script, Value, "`USER [GROUP]`: run as"),
    k("init_fail", Script, Flag, "Start in the failed state"),
    // track_file.
    k("file", TrackFile, Value, "`PATH`: file holding an integer (required)"),
    k("weight", TrackFile, Value, "`N [reverse]`: -254..254; value x weight adjusts the priority"),
    k("init_file", TrackFile, Value, "`[VALUE] [overwrite]`: write VALUE at start"),
    // vrrp_track_process.
    k("process", Process, Value, "`NAME [ARGS...]`: process to count (required)"),
    k("param_match", Process, Value, "`initial|partial`: how the arguments match"),
    k("full_command", Process, Flag, "Match the whole command line"),
    k("weight", Process, Value, "`N [reverse]`: -254..254; 0 = Fault when the quorum is lost"),
    k("quorum", Process, Value, "`N`: processes needed"),
    k("quorum_max", Process, Value, "`N`: processes allowed"),
    k("delay", Process, Value, "`TIMER`: sets `fork_delay` and `terminate_delay`"),
    k("fork_delay", Process, Value, "`TIMER`: debounce after a start"),
    k("terminate_delay", Process, Value, "`TIMER`: debounce after an exit"),
    // vrrp_sync_group.
    k("group", SyncGroup, List, "`INSTANCE...` per line: members (required)").adds(),
    k("track_interface", SyncGroup, List, "Group interface trackers").adds(),
    k("track_script", SyncGroup, List, "Group script trackers").adds(),
    k("track_file", SyncGroup, List, "Group file trackers").adds(),
    k("track_process", SyncGroup, List, "Group process trackers").adds(),
    k("notify", SyncGroup, Value, "`SCRIPT [USER [GROUP]]`: run on every group state change"),
    k("notify_master", SyncGroup, Value, "`SCRIPT [USER [GROUP]]`: run when the group becomes Master"),
    k("notify_backup", SyncGroup, Value, "`SCRIPT [USER [GROUP]]`: run when the group becomes Backup"),
    k("notify_fault", SyncGroup, Value, "`SCRIPT [USER [GROUP]]`: run when the group enters Fault"),
    k("notify_stop", SyncGroup, Value, "`SCRIPT [USER [GROUP]]`: run when the group stops"),
    k("sync_group_tracking_weight", SyncGroup, Flag, "Members may have weighted trackers"),
    k("smtp_alert", SyncGroup, Flag, "E-mail alerts on group state changes (default: `smtp_alert_vrrp`, `smtp_alert`, off)"),
    k("global_tracking", SyncGroup, Flag, "Deprecated: accepted with a warning, ignored"),
    k("track_bfd", SyncGroup, Unsupported, "BFD tracking"),
    k("notify_priority_changes", SyncGroup, Unsupported, "Notify on priority changes"),
    // virtual_server.
    k("lvs_sched", VirtualServer, Value, "`rr|wrr|lc|wlc|lblc|lblcr|dh|sh|mh|fo|ovf|sed|nq|twos`: scheduler (default wlc)"),
    k("lb_algo", VirtualServer, Value, "Legacy alias of `lvs_sched`").same_as("lvs_sched"),
    k("lvs_method", VirtualServer, Value, "`NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`: forwarding (default NAT)"),
    k("lb_kind", VirtualServer, Value, "Legacy alias of `lvs_method`").same_as("lvs_method"),
    k("protocol", VirtualServer, Value, "`TCP|UDP|SCTP`: protocol (default TCP)"),
    k("persistence_timeout", VirtualServer, Value, "`[SECS]`: client stickiness (360 s without a value)"),
    k("persistence_granularity", VirtualServer, Value, "`MASK|LEN`: the part of the client address that counts"),
    k("flag-1", VirtualServer, Flag, "Scheduler flag 1"),
    k("flag-2", VirtualServer, Flag, "Scheduler flag 2"),
    k("flag-3", VirtualServer, Flag, "Scheduler flag 3"),
    k("sh-fallback", VirtualServer, Flag, "`sh`: another server when the chosen one is unavailable (flag 1)"),
    k("sh-port", VirtualServer, Flag, "`sh`: hash the port too (flag 2)"),
    k("mh-fallback", VirtualServer, Flag, "`mh`: another server when the chosen one is unavailable (flag 1)"),
    k("mh-port", VirtualServer, Flag, "`mh`: hash the port too (flag 2)"),
    k("ops", VirtualServer, Flag, "One-packet scheduling (UDP)"),
    k("hashed", VirtualServer, Flag, "Legacy; accepted with a warning, ignored"),
    k("delay_loop", VirtualServer, Value, "`TIMER`: default time between checks (60 s)"),
    k("connect_timeout", VirtualServer, Value, "`TIMER`: default probe deadline (5 s)"),
    k("retry", VirtualServer, Value, "`N`: default retries before a server is down"),
    k("delay_before_retry", VirtualServer, Value, "`TIMER`: default wait before a retry"),
    k("warmup", VirtualServer, Value, "`TIMER`: default random delay of the first check"),
    k("inhibit_on_failure", VirtualServer, Flag, "Default of the real servers: weight 0 instead of removal"),
    k("weight", VirtualServer, Value, "`N`: default weight of the real servers (1; 1 and above)"),
    k("quorum", VirtualServer, Value, "`N`: live weight for the service to be up (1)"),
    k("hysteresis", VirtualServer, Value, "`N`: quorum flap dampener (0)"),
    k("quorum_up", VirtualServer, Value, "`SCRIPT [USER [GROUP]]`: run when the quorum is reached"),
    k("quorum_down", VirtualServer, Value, "`SCRIPT [USER [GROUP]]`: run when the quorum is lost"),
    k("sorry_server", VirtualServer, Value, "`IP [PORT]`: destination while the quorum is lost"),
    k("sorry_server_inhibit", VirtualServer, Flag, "The sorry server is set to weight 0, not removed"),
    k("sorry_server_lvs_method", VirtualServer, Value, "`NAT|DR|TUN ...`: forwarding of the sorry server"),
    k("alpha", VirtualServer, Flag, "Real servers start down until their checks pass"),
    k("omega", VirtualServer, Flag, "At shutdown, run the down notifications and `quorum_down`"),
    k("ha_suspend", VirtualServer, Flag, "Checks run only while this node holds the address"),
    k("bgp_announce", VirtualServer, Flag, "Announce the service's address through FRR's BGP while it has its quorum (vrrpd)"),
    k("virtualhost", VirtualServer, Value, "`NAME`: default Host header of HTTP_GET and SSL_GET"),
    k("ip_family", VirtualServer, Value, "`inet|inet6`: family of a fwmark service"),
    k("real_server", VirtualServer, Section, "`real_server IP [PORT] { }`: a backend").adds(),
    k("persistence_engine", VirtualServer, Unsupported, "IPVS persistence engine (SIP)"),
    k("snmp_name", VirtualServer, Unsupported, "SNMP name"),
    k("smtp_alert", VirtualServer, Flag, "E-mail alerts on quorum changes (default: `smtp_alert_checker`, `smtp_alert`, off)"),
    // real_server.
    k("weight", RealServer, Value, "`N`: IPVS weight (default: the service's, 1)"),
    k("lvs_method", RealServer, Value, "`NAT|DR|TUN ...`: forwarding of this server"),
    k("inhibit_on_failure", RealServer, Flag, "On failure, weight 0 instead of removal"),
    k("notify_up", RealServer, Value, "`SCRIPT [USER [GROUP]]`: run when the server comes up"),
    k("notify_down", RealServer, Value, "`SCRIPT [USER [GROUP]]`: run when the server goes down"),
    k("uthreshold", RealServer, Value, "`N`: IPVS upper connection threshold"),
    k("lthreshold", RealServer, Value, "`N`: IPVS lower connection threshold"),
    k("alpha", RealServer, Flag, "Starts down until its checks pass"),
    k("delay_loop", RealServer, Value, "`TIMER`: time between checks"),
    k("connect_timeout", RealServer, Value, "`TIMER`: probe deadline"),
    k("retry", RealServer, Value, "`N`: retries before the server is down"),
    k("delay_before_retry", RealServer, Value, "`TIMER`: wait before a retry"),
    k("warmup", RealServer, Value, "`TIMER`: random delay of the first check"),
    k("virtualhost", RealServer, Value, "`NAME`: Host header of its HTTP checks"),
    k("HTTP_GET", RealServer, Section, "HTTP check").adds(),
    k("SSL_GET", RealServer, Section, "HTTPS check").adds(),
    k("TCP_CHECK", RealServer, Section, "A TCP connection is accepted").adds(),
    k("SMTP_CHECK", RealServer, Section, "SMTP banner and HELO").adds(),
    k("DNS_CHECK", RealServer, Section, "A DNS query is answered").adds(),
    k("MISC_CHECK", RealServer, Section, "An external program").adds(),
    k("UDP_CHECK", RealServer, Section, "A UDP probe").adds(),
    k("PING_CHECK", RealServer, Section, "ICMP echo").adds(),
    k("FILE_CHECK", RealServer, Section, "Weight read from a `track_file`").adds(),
    k("BFD_CHECK", RealServer, Unsupported, "State of a BFD session"),
    k("smtp_alert", RealServer, Flag, "E-mail alerts when the server goes up or down (default: `smtp_alert_checker`, `smtp_alert`, on)"),
    k("snmp_name", RealServer, Unsupported, "SNMP name"),
    // Shared by the checkers (MISC_CHECK takes those from `retry` on, FILE_CHECK none).
    k("connect_ip", Checker, Value, "`ADDR`: probe this address (default: the real server's)"),
    k("connect_port", Checker, Value, "`PORT`: probe this port (default: the real server's)"),
    k("bindto", Checker, Value, "`ADDR`: source address of the probe"),
    k("bind_port", Checker, Value, "`PORT`: source port of the probe"),
    k("bind_if", Checker, Value, "`IF`: interface of the probe (for a link-local `bindto`)"),
    k("connect_timeout", Checker, Value, "`TIMER`: probe deadline"),
    k("fwmark", Checker, Value, "`N`: mark of the probe's packets"),
    k("retry", Checker, Value, "`N`: retries before the server is down"),
    k("delay_before_retry", Checker, Value, "`TIMER`: wait before a retry"),
    k("warmup", Checker, Value, "`TIMER`: random delay of the first check (default: the delay_loop)"),
    k("delay_loop", Checker, Value, "`TIMER`: time between checks"),
    k("alpha", Checker, Flag, "Starts failed"),
    k("log_all_failures", Checker, Flag, "Every failed attempt is logged"),
    // HTTP_GET and SSL_GET.
    k("url", HttpCheck, Section, "`url { }`: a URL to fetch; all must pass").adds(),
    k("virtualhost", HttpCheck, Value, "`NAME`: Host header"),
    k("http_protocol", HttpCheck, Value, "`1.0|1.0C|1.1`: request version (default 1.0)"),
    k("fast_recovery", HttpCheck, Flag, "While down, every URL is tried back to back"),
    k("enable_sni", HttpCheck, Flag, "SSL_GET: send the server name (the virtual host)"),
    k("sni_name", HttpCheck, Value, "`NAME`: SSL_GET: the server name to send"),
    k("tls_compliant", HttpCheck, Flag, "SSL_GET: close TLS with close_notify"),
    k("nb_get_retry", HttpCheck, Value, "Legacy alias of `retry`"),
    // url.
    k("path", Url, Value, "`PATH`: the path to request (required)"),
    k("status_code", Url, Value, "`CODE|FROM-TO ...`: accepted status codes (default 200-299)"),
    k("digest", Url, Value, "`HEX`: MD5 of the body (32 hex digits, as genhash prints it)"),
    k("regex", Url, Value, "`RE`: the body must match"),
    k("regex_no_match", Url, Flag, "The body must not match `regex`"),
    k("virtualhost", Url, Value, "`NAME`: Host header of this URL"),
    k("tls_compliant", Url, Flag, "SSL_GET: as the checker's `tls_compliant`"),
    k("regex_options", Url, Unsupported, "PCRE2 options"),
    k("regex_stack", Url, Unsupported, "PCRE2 stack sizes"),
    k("regex_min_offset", Url, Unsupported, "Offset where the match may start"),
    k("regex_max_offset", Url, Unsupported, "Offset where the match must have started"),
    // SMTP_CHECK.
    k("helo_name", SmtpCheck, Value, "`NAME`: name sent with HELO (default: the host name)"),
    k("host", SmtpCheck, Value, "Legacy alias of `helo_name`").same_as("helo_name"),
    // DNS_CHECK.
    k("type", DnsCheck, Value, "`A|NS|CNAME|SOA|MX|TXT|AAAA`: query type (default SOA)"),
    k("name", DnsCheck, Value, "`NAME`: name to query (default `.`)"),
    // MISC_CHECK.
    k("misc_path", MiscCheck, Value, "`COMMAND...`: the program (required)"),
    k("misc_timeout", MiscCheck, Value, "`SECS`: a run that takes longer fails (default: the delay_loop)"),
    k("misc_dynamic", MiscCheck, Flag, "Exit codes 2-255 set the weight to code - 2"),
    k("user", MiscCheck, Value, "`USER [GROUP]`: run as"),
    // UDP_CHECK.
    k("payload", UdpCheck, Value, "`HEX`: datagram to send"),
    k("require_reply", UdpCheck, Value, "`HEX`: the reply must begin with this (`XX`: any byte)"),
    k("min_reply_length", UdpCheck, Value, "`N`: shortest acceptable reply"),
    k("max_reply_length", UdpCheck, Value, "`N`: longest acceptable reply"),
    // FILE_CHECK.
    k("track_file", FileCheck, Value, "`NAME`: the `track_file` to read (required)"),
    k("weight", FileCheck, Value, "`N [reverse]`: the file's value times N adds to the weight"),
    // garp_group.
    k("garp_interval", GarpGroup, Value, "`TIMER`: gap between two GARPs (default: `vrrp_garp_interval`)"),
    k("gna_interval", GarpGroup, Value, "`TIMER`: gap between two unsolicited NAs (default: `vrrp_gna_interval`)"),
    k("interface", GarpGroup, Value, "`IF`: the interface whose instances use these gaps (required)"),
    k("interfaces", GarpGroup, Unsupported, "Gaps shared by several interfaces"),
    // SSL.
    k("password", Ssl, Value, "`TEXT`: password of the key"),
    k("ca", Ssl, Value, "`PATH`: CA certificates the servers are verified against"),
    k("certificate", Ssl, Value, "`PATH`: client certificate"),
    k("key", Ssl, Value, "`PATH`: its key"),
];

/// A list block whose lines take options (`ADDR dev IF ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// `virtual_ipaddress` and `virtual_ipaddress_excluded`.
    VirtualIpaddress,
    UnicastPeer,
    VirtualRoutes,
    VirtualRules,
}

impl Line {
    /// The keyword of the block, as the documentation names it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Line::VirtualIpaddress => "virtual_ipaddress",
            Line::UnicastPeer => "unicast_peer",
            Line::VirtualRoutes => "virtual_routes",
            Line::VirtualRules => "virtual_rules",
        }
    }
}

/// Options that keepalived (or `ip`) takes on such a line and vrrpd refuses: the error says
/// "unsupported option", not "unexpected". The options vrrpd reads are in the parser's code,
/// which reads their values.
#[rustfmt::skip]
pub(crate) const REFUSED_OPTIONS: &[(Line, &[&str])] = &[
    (Line::VirtualIpaddress, &[
        "peer", "home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track",
        "preferred_lft", "use_vmac", "track", "track_group",
    ]),
    (Line::UnicastPeer, &["min_ttl", "max_ttl"]),
    (Line::VirtualRoutes, &[
        "nexthop", "onlink", "mtu", "advmss", "rtt", "rttvar", "reordering", "window", "cwnd",
        "ssthresh", "realms", "rto_min", "initcwnd", "initrwnd", "features", "quickack", "congctl",
        "pref", "tos", "dsfield", "hoplimit", "expires", "fastopen_no_cookie", "encap", "vrf",
        "no_track", "track_group", "append", "prepend", "throw", "nat", "local", "broadcast",
        "multicast", "anycast", "lock",
    ]),
    (Line::VirtualRules, &[
        "not", "tos", "dsfield", "realms", "goto", "nat", "uidrange", "ipproto", "sport", "dport",
        "l3mdev", "suppress_prefixlength", "suppress_ifgroup", "protocol", "no_track",
        "track_group", "blackhole", "prohibit", "unreachable", "type",
    ]),
];

/// The keyword `name` as vrrpd reads it in `block`.
pub(crate) fn lookup(block: Block, name: &str) -> Option<&'static Keyword> {
    KEYWORDS
        .iter()
        .find(|kw| kw.block == block && kw.name == name && kw.supported())
}

/// The keywords vrrpd reads in `block`, in table order (the "did you mean" candidates).
pub(crate) fn supported(block: Block) -> impl Iterator<Item = &'static str> {
    KEYWORDS
        .iter()
        .filter(move |kw| kw.block == block && kw.supported())
        .map(|kw| kw.name)
}

/// Whether `name` opens a `{ }` block in `block`.
pub(crate) fn opens_block(block: Block, name: &str) -> bool {
    lookup(block, name).is_some_and(|kw| kw.shape.opens_block())
}

/// The key under which a repetition of `name` is detected in `block`; `None` for lists, which
/// may be repeated.
pub(crate) fn seen_key(block: Block, name: &str) -> Option<&'static str> {
    let kw = lookup(block, name)?;
    match kw.repeat {
        Repeat::First => Some(kw.name),
        Repeat::SameAs(key) => Some(key),
        Repeat::Adds => None,
    }
}

/// The blocks in which `name` opens a block of its own (a block keyword written elsewhere).
pub(crate) fn block_parents(name: &str) -> Vec<Block> {
    KEYWORDS
        .iter()
        .filter(|kw| kw.name == name && kw.shape.opens_block())
        .map(|kw| kw.block)
        .collect()
}

/// Whether `name` only starts a top-level block (met inside a block, a `}` is missing).
pub(crate) fn top_level_only(name: &str) -> bool {
    KEYWORDS
        .iter()
        .any(|kw| kw.top_level_only && kw.name == name)
}

/// Whether keepalived knows `name` although vrrpd refuses it.
pub(crate) fn keepalived_only(name: &str) -> bool {
    KEYWORDS
        .iter()
        .any(|kw| kw.shape == Shape::Unsupported && kw.name == name)
}

/// Whether `word` is an option of `line` that vrrpd refuses.
pub(crate) fn refused_option(line: Line, word: &str) -> bool {
    REFUSED_OPTIONS
        .iter()
        .any(|(l, words)| *l == line && words.contains(&word))
}

/// The generated keyword index of `docs/config.md` (between its `keywords` markers).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn markdown() -> String {
    let mut out = String::from("| Block | Keyword | Kind | Summary |\n|---|---|---|---|\n");
    for block in Block::ALL {
        for kw in KEYWORDS.iter().filter(|kw| kw.block == block) {
            let doc = kw.doc.replace('|', "\\|");
            out.push_str(&format!(
                "| {} | `{}` | {} | {doc} |\n",
                block.title(),
                kw.name,
                kw.shape.label()
            ));
        }
    }
    out.push_str(
        "\nOptions that keepalived (or `ip`) takes on a line of these blocks and vrrpd refuses \
         (\"unsupported option\"):\n\n",
    );
    for (line, words) in REFUSED_OPTIONS {
        let list: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
        out.push_str(&format!("- `{}`: {}\n", line.keyword(), list.join(", ")));
    }
    out
}
