//! The demo's lab: the nodes, the nginx real servers, the balancers' configuration and
//! their daemons.

use std::net::Ipv4Addr;

use vrrp_testlab::{Daemon, Lab, Nginx, vrrpctl_next_to};

use super::clock::Clock;
use super::{Balancer, Demo, Opts, SERVERS, STEP};

/// A balancer's configuration: the VRRP instance holding the VIP and the virtual server.
fn config(vip: Ipv4Addr, priority: u8, advert_int: f64, servers: &[(Ipv4Addr, u32)]) -> String {
    let mut real_servers = String::new();
    for (addr, weight) in servers {
        real_servers.push_str(&format!(
            "    real_server {addr} 8080 {{\n        weight {weight}\n        HTTP_GET {{\n            \
             url {{\n                path /health\n                status_code 200\n            }}\n            \
             connect_timeout 1\n            retry 1\n            delay_before_retry 0.5\n        }}\n    }}\n"
        ));
    }
    format!(
        "global_defs {{\n    lb_nat_masquerade\n}}\n\
         vrrp_instance VI_LB {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 52\n    \
         priority {priority}\n    advert_int {advert_int}\n    version 3\n    virtual_ipaddress {{\n        \
         {vip}/24\n    }}\n}}\n\
         virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    \
         protocol TCP\n{real_servers}}}\n"
    )
}

pub(super) fn build(lab: &mut Lab, opts: &Opts, clock: Clock) -> Result<Demo, String> {
    let binary = match &opts.vrrpd {
        Some(b) => b.clone(),
        None => match Daemon::vrrpd_next_to_exe() {
            Daemon::Vrrpd { binary } => binary,
            Daemon::Keepalived => return Err("no vrrpd".into()),
        },
    };
    let vrrpctl = vrrpctl_next_to(&binary).map_err(|e| e.to_string())?;
    let daemon = Daemon::Vrrpd { binary };
    if let Some(why) = daemon.unavailable() {
        return Err(why);
    }
    let vip = lab.vip4(100);
    let err = |e: vrrp_testlab::Error| e.to_string();
    let lb_nodes = [
        lab.add_router("lb1").map_err(err)?,
        lab.add_router("lb2").map_err(err)?,
    ];
    let client = lab.add_host("client").map_err(err)?;
    let mut servers = Vec::new();
    for (name, _) in SERVERS {
        let node = lab.add_host(name).map_err(err)?;
        let web = Nginx::start(&node, name, 8080).map_err(err)?;
        servers.push((node, Some(web)));
    }
    let weighted: Vec<(Ipv4Addr, u32)> = servers
        .iter()
        .zip(SERVERS)
        .map(|((n, _), (_, w))| (n.ipv4(), w))
        .collect();
    let mut desc = format!(
        "LAN 10.99.{}.0/24 on a bridge in namespace {}; VIP {vip}:80",
        lab.octet(),
        lab.bridge_ns()
    );
    for (n, role) in [
        (&lb_nodes[0], "balancer, priority 150"),
        (&lb_nodes[1], "balancer, priority 100"),
        (&client, "client"),
    ] {
        desc.push_str(&format!(
            "\n  {:<6} {:<14} {role}",
            n.name(),
            n.ipv4().to_string()
        ));
    }
    for ((n, _), (_, w)) in servers.iter().zip(SERVERS) {
        desc.push_str(&format!(
            "\n  {:<6} {:<14} nginx :8080, weight {w}",
            n.name(),
            n.ipv4().to_string()
        ));
    }
    clock.say(desc);
    let mut balancers = Vec::new();
    for (node, priority) in lb_nodes.into_iter().zip([150u8, 100]) {
        let conf = config(vip, priority, opts.advert_int, &weighted);
        let d = daemon.start(&node, &conf).map_err(err)?;
        d.wait_started(STEP).map_err(err)?;
        balancers.push(Balancer { node, daemon: d });
    }
    clock.say(format!(
        "vrrpd started on lb1 and lb2 (VRRPv3 advert_int {} s; virtual_server {vip} 80: NAT + \
         lb_nat_masquerade, wrr, HTTP_GET /health every 1 s)",
        opts.advert_int
    ));
    Ok(Demo {
        clock,
        vrrpctl,
        balancers,
        servers,
        client,
        vip,
    })
}
