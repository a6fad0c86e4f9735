//! The active-active lab of issue 12: balancers behind ECMP routing, announced with BGP.
//!
//! Two LANs. The edge LAN holds the client (one address per flow, `.10` up) and the
//! router's `eth1` (`.254`). The core LAN holds the router (`.1`, FRR zebra + bgpd +
//! bfdd, `maximum-paths 8`, L4 multipath hashing), the balancers `lb1..` (`.2..`, vrrpd +
//! FRR: the VIP/32 in kernel table 200, imported by zebra and redistributed by bgpd; BFD on
//! the BGP session, 100 ms x 3) and the nginx real servers `rs1..` (VIP on `lo` with the
//! ARP sysctls, default route to the router). In DR mode the balancers hand the client's
//! frames to a server's MAC and the server answers through the router; in NAT mode they
//! masquerade, so answers come back through the same balancer.
//!
//! Each balancer also gets a netdev table `bgplab` (ingress, before vrrpd's): counters of
//! the VIP's packets and SYNs, and a set of the flows (source address and port) seen in
//! the last seconds, so a test knows which balancer carries which flow.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::frr::{Frr, FrrConf};
use crate::{Daemon, DaemonProc, Error, Lab, Nginx, Node, Result, wait_until};

/// The router's and the balancers' AS numbers.
const ROUTER_AS: u32 = 65000;
const BALANCER_AS: u32 = 65100;
/// The kernel routing table the VIP/32 is announced from.
pub const ANNOUNCE_TABLE: u32 = 200;
/// The HTTP port of the service and of the real servers (DR cannot change ports).
pub const PORT: u16 = 80;

/// How the balancers forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarding {
    /// Direct routing: frames to the server's MAC, answers straight to the client.
    Dr,
    /// NAT with masquerade: answers back through the balancer.
    Nat,
}

impl Forwarding {
    /// `lb_kind`'s value.
    pub fn keyword(self) -> &'static str {
        match self {
            Forwarding::Dr => "DR",
            Forwarding::Nat => "NAT",
        }
    }
}

/// Who installs the VIP/32 in table 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    /// vrrpd, with `bgp_announce` (while the service has quorum).
    Vrrpd,
    /// The lab, with `ip route add` once vrrpd runs (before vrrpd had `bgp_announce`).
    ByHand,
}

/// The lab's shape and the balancers' configuration.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Number of balancers.
    pub balancers: usize,
    /// Number of real servers.
    pub servers: usize,
    /// Number of client addresses (flows).
    pub client_addresses: u8,
    /// DR or NAT.
    pub forwarding: Forwarding,
    /// `lb_algo`.
    pub scheduler: String,
    /// Who announces the VIP.
    pub announce: Announce,
    /// The vrrpd executable.
    pub vrrpd: PathBuf,
}

/// One balancer node: its FRR and its vrrpd, while they run.
pub struct Balancer {
    /// Its namespace on the core LAN.
    pub node: Node,
    /// Its FRR (None before it is started or after a crash).
    pub frr: Option<Frr>,
    /// Its vrrpd.
    pub vrrpd: Option<DaemonProc>,
}

/// The running lab; dropping it removes every namespace and process of both LANs.
pub struct ActiveActive {
    /// The lab's shape.
    pub spec: Spec,
    /// The router.
    pub router: Node,
    /// The router's FRR.
    pub router_frr: Frr,
    /// The balancers, `lb1..`.
    pub balancers: Vec<Balancer>,
    /// The real servers, `rs1..`, and their nginx.
    pub servers: Vec<(Node, Nginx)>,
    /// The client.
    pub client: Node,
    /// The client's flow addresses.
    pub sources: Vec<Ipv4Addr>,
    /// The service address.
    pub vip: Ipv4Addr,
    // Dropped last (fields drop in order): the processes above die with their lab.
    core: Lab,
    edge: Lab,
}

impl ActiveActive {
    /// Builds both LANs, starts the router's FRR and the real servers; no balancer runs
    /// yet ([`ActiveActive::start_balancer`]).
    pub fn new(tag: &str, spec: Spec) -> Result<ActiveActive> {
        let mut core = Lab::new(tag)?;
        let mut edge = Lab::new(&format!("{tag}e"))?;
        let router = core.add_router("router")?;
        let mut balancers = Vec::new();
        for i in 1..=spec.balancers {
            let node = core.add_router(&format!("lb{i}"))?;
            balancers.push(Balancer {
                node,
                frr: None,
                vrrpd: None,
            });
        }
        // .200: in the core subnet, but the routers' /32 is longer than the connected /24.
        let vip = core.ipv4(200);
        let servers = start_servers(&mut core, spec.servers, vip)?;
        let client = edge.add_host("client")?;
        let sources = client_addresses(&edge, &client, spec.client_addresses)?;
        connect_router(&core, &edge, &router)?;
        for (n, _) in &servers {
            n.run_ok("ip", &["route", "add", "default", "via", &ip(&router)])?;
        }
        for b in &balancers {
            prepare_balancer(&b.node, &router, vip)?;
        }
        let router_frr = Frr::start(&router, &router_conf(&router, &balancers))?;
        Ok(ActiveActive {
            spec,
            router,
            router_frr,
            balancers,
            servers,
            client,
            sources,
            vip,
            core,
            edge,
        })
    }

    /// The core LAN (router, balancers, servers).
    pub fn core(&self) -> &Lab {
        &self.core
    }

    /// The edge LAN (client, router's `eth1`).
    pub fn edge(&self) -> &Lab {
        &self.edge
    }

    /// Starts balancer `i` (from 0): vrrpd, then its FRR; with [`Announce::ByHand`] the
    /// lab installs the VIP/32 in table 200 once vrrpd runs.
    pub fn start_balancer(&mut self, i: usize) -> Result<()> {
        let b = &self.balancers[i];
        let frr_conf = balancer_conf(&b.node, &self.router);
        let frr_path = write_frr_files(&b.node, &frr_conf)?;
        let conf = vrrpd_conf(&self.spec, self.vip, &self.servers, &frr_path);
        let d = Daemon::Vrrpd {
            binary: self.spec.vrrpd.clone(),
        }
        .start(&b.node, &conf)?;
        d.wait_ready(Duration::from_secs(20))?;
        if self.spec.announce == Announce::ByHand {
            let vip = format!("{}/32", self.vip);
            let table = ANNOUNCE_TABLE.to_string();
            b.node.run_ok(
                "ip",
                &["route", "replace", &vip, "dev", "lo", "table", &table],
            )?;
        }
        let frr = Frr::start(&b.node, &frr_conf)?;
        let b = &mut self.balancers[i];
        b.vrrpd = Some(d);
        b.frr = Some(frr);
        Ok(())
    }

    /// The router's next hops for the VIP (the kernel's route, as zebra installed it).
    pub fn next_hops(&self) -> Vec<Ipv4Addr> {
        let vip = self.vip.to_string();
        let out = self
            .router
            .run_ok("ip", &["-j", "route", "show", &vip])
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let mut hops = Vec::new();
        for route in v.as_array().into_iter().flatten() {
            if route["dst"].as_str() != Some(vip.as_str()) {
                continue;
            }
            let gateways = route["nexthops"]
                .as_array()
                .map(|a| a.iter().map(|h| h["gateway"].clone()).collect::<Vec<_>>())
                .unwrap_or_else(|| vec![route["gateway"].clone()]);
            hops.extend(
                gateways
                    .iter()
                    .filter_map(|g| g.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok())),
            );
        }
        hops.sort();
        hops
    }

    /// Waits (bounded) until the router routes the VIP through exactly these balancers;
    /// returns how long it took.
    pub fn wait_next_hops(&self, balancers: &[usize], timeout: Duration) -> Result<Duration> {
        let mut want: Vec<Ipv4Addr> = balancers
            .iter()
            .map(|&i| self.balancers[i].node.ipv4())
            .collect();
        want.sort();
        let start = Instant::now();
        if wait_until(timeout, Duration::from_millis(5), || {
            self.next_hops() == want
        }) {
            return Ok(start.elapsed());
        }
        Err(Error::msg(format!(
            "the router's next hops for {} are {:?}, not {want:?} after {timeout:?}\n{}",
            self.vip,
            self.next_hops(),
            self.router_frr
                .vtysh("show bgp ipv4 unicast summary")
                .unwrap_or_default()
        )))
    }

    /// A balancer's death: its link down first (a dead machine sends nothing, not even
    /// the FIN of its BGP session: only BFD can tell), then SIGKILL to vrrpd and its FRR
    /// daemons. Returns when it happened.
    pub fn crash_balancer(&mut self, i: usize) -> Result<Instant> {
        let b = &mut self.balancers[i];
        let at = Instant::now();
        b.node.link_down()?;
        if let Some(d) = b.vrrpd.take() {
            d.crash()?;
        }
        if let Some(f) = b.frr.take() {
            f.crash()?;
        }
        Ok(at)
    }

    /// A dead balancer back: its link up, then vrrpd and FRR started afresh (vrrpd builds
    /// its tables in one go from the servers it finds alive).
    pub fn restart_balancer(&mut self, i: usize) -> Result<()> {
        self.balancers[i].node.link_up()?;
        self.start_balancer(i)
    }

    /// Balancer `i` into maintenance: `vrrpctl announce drain VIP` (vrrpd withdraws the
    /// route, waits `bgp_announce_drain`, and keeps the service), or with
    /// [`Announce::ByHand`] the route deleted by hand.
    pub fn maintenance(&self, i: usize) -> Result<()> {
        let b = &self.balancers[i];
        let vip = self.vip.to_string();
        match (self.spec.announce, &b.vrrpd) {
            (Announce::Vrrpd, Some(d)) => {
                let sock = d
                    .control_socket
                    .as_ref()
                    .ok_or_else(|| Error::msg("vrrpd has no control socket"))?
                    .to_string_lossy()
                    .into_owned();
                let ctl = crate::vrrpctl_next_to(&self.spec.vrrpd)?;
                b.node.run_ok(
                    &ctl.to_string_lossy(),
                    &["--socket", &sock, "announce", "drain", &vip],
                )?;
            }
            _ => {
                let table = ANNOUNCE_TABLE.to_string();
                b.node.run_ok(
                    "ip",
                    &["route", "del", &format!("{vip}/32"), "table", &table],
                )?;
            }
        }
        Ok(())
    }

    /// Packets and SYNs to the VIP that balancer `i` received so far.
    pub fn balancer_counts(&self, i: usize) -> (u64, u64) {
        let node = &self.balancers[i].node;
        let count = |name: &str| {
            node.run_ok("nft", &["list", "counter", "netdev", "bgplab", name])
                .map(|t| crate::nft_counter_packets(&t))
                .unwrap_or(0)
        };
        (count("pkts"), count("syns"))
    }

    /// The flows (source address, port) balancer `i` saw in the last 3 seconds.
    pub fn balancer_flows(&self, i: usize) -> Vec<(Ipv4Addr, u16)> {
        let node = &self.balancers[i].node;
        let out = node
            .run_ok("nft", &["-j", "list", "set", "netdev", "bgplab", "flows"])
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let mut flows = Vec::new();
        for item in v["nftables"].as_array().into_iter().flatten() {
            for e in item["set"]["elem"].as_array().into_iter().flatten() {
                let concat = e["elem"]["val"]["concat"]
                    .as_array()
                    .or_else(|| e["concat"].as_array());
                if let Some(c) = concat
                    && let (Some(a), Some(p)) = (c.first(), c.get(1))
                    && let (Some(a), Some(p)) = (a.as_str(), p.as_u64())
                    && let Ok(a) = a.parse()
                {
                    flows.push((a, p as u16));
                }
            }
        }
        flows
    }
}

/// The node's `frr.conf` and FRR's `daemons` (bgpd and bfdd on) side by side, as vrrpd's
/// `bgp_frr_config` check reads them; returns the `frr.conf` path.
fn write_frr_files(node: &Node, conf: &FrrConf) -> Result<PathBuf> {
    let dir = node.lab_path(&format!("{}-frr", node.name()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("daemons"), DAEMONS)?;
    let path = dir.join("frr.conf");
    std::fs::write(&path, conf.integrated())?;
    Ok(path)
}

/// FRR's `daemons` file: what the lab runs.
const DAEMONS: &str = "zebra=yes\nbgpd=yes\nbfdd=yes\n";

fn ip(n: &Node) -> String {
    n.ipv4().to_string()
}

fn start_servers(core: &mut Lab, count: usize, vip: Ipv4Addr) -> Result<Vec<(Node, Nginx)>> {
    let mut servers = Vec::new();
    for i in 1..=count {
        let node = core.add_host(&format!("rs{i}"))?;
        // DR: the VIP is the server's own address, never answered for in ARP.
        for (k, v) in [
            ("net.ipv4.conf.all.arp_ignore", "1"),
            ("net.ipv4.conf.all.arp_announce", "2"),
            ("net.ipv4.conf.eth0.arp_ignore", "1"),
            ("net.ipv4.conf.eth0.arp_announce", "2"),
        ] {
            node.sysctl(k, v)?;
        }
        node.run_ok("ip", &["addr", "add", &format!("{vip}/32"), "dev", "lo"])?;
        let web = Nginx::start(&node, &format!("rs{i}"), PORT)?;
        servers.push((node, web));
    }
    Ok(servers)
}

fn client_addresses(edge: &Lab, client: &Node, count: u8) -> Result<Vec<Ipv4Addr>> {
    let mut sources = Vec::new();
    for n in 10..10u8.saturating_add(count).min(250) {
        let a = edge.ipv4(n);
        client.add_address(&format!("{a}/24"))?;
        sources.push(a);
    }
    client.run_ok(
        "ip",
        &[
            "route",
            "add",
            "default",
            "via",
            &edge.ipv4(254).to_string(),
        ],
    )?;
    Ok(sources)
}

/// The router's `eth1`: a veth from its namespace into the edge LAN's bridge, `.254`.
fn connect_router(core: &Lab, edge: &Lab, router: &Node) -> Result<()> {
    let port = format!("p0-{}", core.prefix());
    let port: String = port.chars().take(15).collect();
    let br = edge.bridge_ns();
    let run = |args: &[&str]| crate::sh("ip", args).map(|_| ());
    run(&[
        "-n",
        br,
        "link",
        "add",
        &port,
        "type",
        "veth",
        "peer",
        "name",
        "eth1",
        "netns",
        router.ns(),
    ])?;
    run(&["-n", br, "link", "set", &port, "master", "br0", "up"])?;
    let addr = format!("{}/24", edge.ipv4(254));
    router.run_ok("ip", &["addr", "add", &addr, "dev", "eth1"])?;
    router.run_ok("ip", &["link", "set", "eth1", "up"])?;
    // L4 hashing: the flows of one client address spread over the balancers.
    router.sysctl("net.ipv4.fib_multipath_hash_policy", "1")?;
    Ok(())
}

/// A balancer's kernel side: default route, no redirects, and the `bgplab` counters. A
/// veth, unlike a NIC, passes frames for other MACs to the ingress hook (the bridge floods
/// a dead balancer's frames): dropped here, as a NIC's MAC filter would.
fn prepare_balancer(node: &Node, router: &Node, vip: Ipv4Addr) -> Result<()> {
    node.run_ok("ip", &["route", "add", "default", "via", &ip(router)])?;
    node.sysctl("net.ipv4.conf.all.send_redirects", "0")?;
    node.sysctl("net.ipv4.conf.eth0.send_redirects", "0")?;
    let script = format!(
        "table netdev bgplab {{\n\
           counter pkts {{}}\n  counter syns {{}}\n  counter other {{}}\n\
           set flows {{ type ipv4_addr . inet_service; flags dynamic,timeout; timeout 3s; size 65535; }}\n\
           chain seen {{\n\
             type filter hook ingress device \"eth0\" priority -200; policy accept;\n\
             meta pkttype other counter name \"other\" drop\n\
             ip daddr {vip} tcp dport {PORT} counter name \"pkts\"\n\
             ip daddr {vip} tcp dport {PORT} tcp flags & (syn | ack) == syn counter name \"syns\"\n\
             ip daddr {vip} tcp dport {PORT} update @flows {{ ip saddr . tcp sport }}\n\
           }}\n\
         }}\n"
    );
    let path = node.write_file(&format!("{}-bgplab.nft", node.name()), &script)?;
    node.run_ok("nft", &["-f", &path.to_string_lossy()])?;
    Ok(())
}

/// BFD: 100 ms x 3, on every BGP session.
const BFD_CONF: &str = "bfd\n profile fast\n  detect-multiplier 3\n  receive-interval 100\n  \
                        transmit-interval 100\n !\n!\n";

/// The router: one eBGP neighbor per balancer, BFD, and up to 8 equal paths.
fn router_conf(router: &Node, balancers: &[Balancer]) -> FrrConf {
    let mut bgp = format!(
        "router bgp {ROUTER_AS}\n bgp router-id {}\n no bgp ebgp-requires-policy\n \
         no bgp network import-check\n timers bgp 1 3\n",
        router.ipv4()
    );
    for b in balancers {
        let n = b.node.ipv4();
        bgp.push_str(&format!(
            " neighbor {n} remote-as {BALANCER_AS}\n neighbor {n} bfd profile fast\n \
             neighbor {n} timers connect 1\n"
        ));
    }
    bgp.push_str(" address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n!\n");
    FrrConf {
        zebra: "!\n".into(),
        bgpd: bgp,
        bfdd: BFD_CONF.into(),
    }
}

/// A balancer: zebra imports table 200, bgpd redistributes it to the router, with BFD.
fn balancer_conf(node: &Node, router: &Node) -> FrrConf {
    let r = router.ipv4();
    FrrConf {
        zebra: format!("ip import-table {ANNOUNCE_TABLE}\n!\n"),
        bgpd: format!(
            "router bgp {BALANCER_AS}\n bgp router-id {}\n no bgp ebgp-requires-policy\n \
             timers bgp 1 3\n neighbor {r} remote-as {ROUTER_AS}\n neighbor {r} bfd profile fast\n \
             neighbor {r} timers connect 1\n address-family ipv4 unicast\n  \
             redistribute table {ANNOUNCE_TABLE}\n exit-address-family\n!\n",
            node.ipv4()
        ),
        bfdd: BFD_CONF.into(),
    }
}

/// vrrpd's configuration on a balancer: one virtual server over every real server,
/// checked by HTTP_GET every second; no VRRP (the router's ECMP replaces it).
pub fn vrrpd_conf(
    spec: &Spec,
    vip: Ipv4Addr,
    servers: &[(Node, Nginx)],
    frr_conf: &std::path::Path,
) -> String {
    let mut globals = String::new();
    if spec.forwarding == Forwarding::Nat {
        globals.push_str("    lb_nat_masquerade\n");
    }
    // alpha: a (re)started balancer announces only once its checks pass.
    let mut vs_extra = String::from("    alpha\n");
    if spec.announce == Announce::Vrrpd {
        globals.push_str(&format!(
            "    bgp_announce_table {ANNOUNCE_TABLE}\n    bgp_frr_config {}\n",
            frr_conf.display()
        ));
        vs_extra.push_str("    bgp_announce\n");
    }
    let mut real = String::new();
    for (n, _) in servers {
        real.push_str(&format!(
            "    real_server {} {PORT} {{\n        weight 1\n        HTTP_GET {{\n            \
             url {{\n                path /health\n                status_code 200\n            }}\n            \
             connect_timeout 1\n            retry 1\n            delay_before_retry 0.5\n        }}\n    }}\n",
            n.ipv4()
        ));
    }
    format!(
        "global_defs {{\n{globals}}}\n\
         virtual_server {vip} {PORT} {{\n    delay_loop 1\n    lb_algo {}\n    lb_kind {}\n    \
         protocol TCP\n{vs_extra}{real}}}\n",
        spec.scheduler,
        spec.forwarding.keyword()
    )
}

/// [`Announce::Vrrpd`] when `vrrpd -t` accepts `bgp_announce`, else [`Announce::ByHand`]
/// (a vrrpd without the feature). `VRRP_BGPLAB_ANNOUNCE=hand` forces the latter.
pub fn announce_supported(vrrpd: &std::path::Path) -> Announce {
    if std::env::var("VRRP_BGPLAB_ANNOUNCE").is_ok_and(|v| v == "hand") {
        return Announce::ByHand;
    }
    let dir = std::env::temp_dir().join(format!("vrrp-bgplab-probe-{}", std::process::id()));
    let probe = || -> Result<bool> {
        std::fs::create_dir_all(&dir)?;
        let frr = dir.join("frr.conf");
        let conf = FrrConf {
            zebra: format!("ip import-table {ANNOUNCE_TABLE}\n"),
            bgpd: format!(
                "router bgp {BALANCER_AS}\n address-family ipv4 unicast\n  \
                 redistribute table {ANNOUNCE_TABLE}\n exit-address-family\n"
            ),
            bfdd: String::new(),
        };
        std::fs::write(&frr, conf.integrated())?;
        std::fs::write(dir.join("daemons"), DAEMONS)?;
        let text = format!(
            "global_defs {{\n    bgp_announce_table {ANNOUNCE_TABLE}\n    bgp_frr_config {}\n}}\n\
             virtual_server 10.99.0.200 {PORT} {{\n    lb_algo mh\n    lb_kind DR\n    \
             protocol TCP\n    bgp_announce\n    real_server 10.99.0.5 {PORT} {{\n        weight 1\n    }}\n}}\n",
            frr.display()
        );
        let path = dir.join("vrrpd.conf");
        std::fs::write(&path, text)?;
        let mut c = std::process::Command::new(vrrpd);
        c.arg("-t").arg("-f").arg(&path);
        Ok(crate::run_bounded(c, Duration::from_secs(20))?
            .status
            .success())
    };
    let ok = probe().unwrap_or(false);
    let _ = std::fs::remove_dir_all(&dir);
    if ok {
        Announce::Vrrpd
    } else {
        Announce::ByHand
    }
}
