//! SIGKILL and restart: the Backup takes over, the restarted Master preempts once, a
//! restarted Backup changes nothing, and after the final stop nothing is left behind.

use std::net::IpAddr;
use std::time::Duration;

use vrrp_testlab::chaos::{
    self, AddressEvents, Transitions, fdb_port, inventory, inventory_diff, realtime_ns,
};
use vrrp_testlab::{DaemonProc, Lab, Node, require, wait_until};

use super::{POLL, START, csv, knob, loadavg, start, vrrpd};

/// 00-00-5E-00-01-{VRID}, RFC 5798 §7.3 (VRID 51).
const VMAC: &str = "00:00:5e:00:01:33";
const INTERVAL: f64 = 0.1;
/// The Backup's Master_Down_Interval (priority 100: 3.61 intervals) and a margin for a
/// loaded machine.
const TAKEOVER: Duration = Duration::from_millis(361 + 400);
/// Longer than two of the Backup's Master_Down_Intervals: a flap would have happened.
const HOLD: Duration = Duration::from_millis(1000);

fn conf(lab: &Lab, node: &Node, host: &Node, priority: u8) -> String {
    let (vip, octet, h) = (lab.vip4(100), lab.octet(), host.ipv4());
    format!(
        "global_defs {{\n    router_id {}\n}}\n\
         vrrp_instance VI_1 {{\n    interface eth0\n    use_vmac\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int {INTERVAL}\n    version 3\n    \
         virtual_ipaddress {{\n        {vip}/24\n    }}\n    \
         virtual_routes {{\n        10.99.{octet}.192/26 via {h} dev eth0\n    }}\n}}\n\
         virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    \
         protocol TCP\n    real_server {h} 80 {{\n    }}\n}}\n",
        node.name()
    )
}

struct Rig {
    lab: Lab,
    r: [Node; 2],
    host: Node,
    confs: [String; 2],
    events: AddressEvents,
    vip: IpAddr,
}

impl Rig {
    fn master_is(&self, s: usize) -> bool {
        self.r[s].has_address(self.vip) && !self.r[1 - s].has_address(self.vip)
    }

    fn start(&self, s: usize) -> DaemonProc {
        start(&self.lab, &vrrpd(), &self.r[s], &self.confs[s])
    }

    /// The same daemon again (same configuration, pid file and socket), ready.
    fn restart(&self, s: usize, d: &DaemonProc) -> DaemonProc {
        let new = d.restart(&self.r[s]).expect("restart");
        if let Err(e) = new.wait_ready(START) {
            panic!("restarting r{}: {e}{}", s + 1, self.lab.diag());
        }
        new
    }

    /// What the LAN sees: the VIP answers, and the bridge sends the virtual MAC to `s`.
    fn lan_sees(&self, s: usize, what: &str) {
        assert!(
            self.host.ping(self.vip, 2, Duration::from_secs(3)),
            "{what}: the VIP does not answer{}",
            self.lab.diag()
        );
        let want = self.r[s].bridge_port().to_string();
        let ok = wait_until(Duration::from_secs(2), POLL, || {
            fdb_port(&self.lab, VMAC).ok().flatten().as_deref() == Some(want.as_str())
        });
        assert!(
            ok,
            "{what}: the bridge sends {VMAC} to {:?}, not {want}{}",
            fdb_port(&self.lab, VMAC),
            self.lab.diag()
        );
    }
}

/// One round: kill the Master r1 and restart it, then kill the Backup r2 and restart it.
fn round(rig: &Rig, n: usize, d: &mut [DaemonProc; 2]) -> Duration {
    let t2 = chaos::transitions(&d[1], "VI_1");
    let killed_at = realtime_ns();
    d[0].crash().expect("SIGKILL r1");
    let took = wait_until(TAKEOVER + Duration::from_secs(5), POLL, || {
        rig.r[1].has_address(rig.vip)
    });
    assert!(took, "round {n}: r2 did not take over{}", rig.lab.diag());
    let at = rig
        .events
        .events()
        .expect("address events")
        .iter()
        .find(|e| !e.deleted && e.addr == rig.vip && e.t_ns >= killed_at)
        .map(|e| Duration::from_nanos((e.t_ns - killed_at) as u64))
        .expect("r2's VIP event");
    assert!(
        at <= TAKEOVER,
        "round {n}: takeover took {at:?}{}",
        rig.lab.diag()
    );
    rig.lan_sees(1, &format!("round {n}, r1 killed"));

    d[0] = rig.restart(0, &d[0]);
    let back = wait_until(START, POLL, || rig.master_is(0));
    assert!(back, "round {n}: r1 did not preempt{}", rig.lab.diag());
    std::thread::sleep(HOLD);
    assert!(
        rig.master_is(0),
        "round {n}: r1 lost it again{}",
        rig.lab.diag()
    );
    rig.lan_sees(0, &format!("round {n}, r1 restarted"));
    let r1 = chaos::transitions(&d[0], "VI_1");
    let r2 = chaos::transitions(&d[1], "VI_1") - t2;
    let once = Transitions {
        to_master: 1,
        to_backup: 1,
    };
    assert_eq!(
        (r1.to_master, r1.to_backup, r2),
        (1, 0, once),
        "round {n}: r1 should preempt once, r2 take over and yield once{}",
        rig.lab.diag()
    );

    let t1 = chaos::transitions(&d[0], "VI_1");
    d[1].crash().expect("SIGKILL r2");
    d[1] = rig.restart(1, &d[1]);
    std::thread::sleep(HOLD);
    let r2 = chaos::transitions(&d[1], "VI_1");
    assert_eq!(
        (chaos::transitions(&d[0], "VI_1") - t1, r2.to_master),
        (Transitions::default(), 0),
        "round {n}: the restarted Backup caused a transition{}",
        rig.lab.diag()
    );
    assert!(rig.master_is(0), "round {n}{}", rig.lab.diag());
    at
}

#[test]
fn sigkill_and_restart_leave_nothing_behind() {
    require!("nft", "bridge", "ping");
    let rounds: usize = knob("VRRPD_CHAOS_ROUNDS", 10);
    let mut lab = Lab::new("kill").expect("lab");
    let r = [
        lab.add_router("r1").expect("router"),
        lab.add_router("r2").expect("router"),
    ];
    let host = lab.add_host("h").expect("host");
    let confs = [conf(&lab, &r[0], &host, 200), conf(&lab, &r[1], &host, 100)];
    let before = [
        inventory(&r[0]).expect("inv"),
        inventory(&r[1]).expect("inv"),
    ];
    let events = AddressEvents::start(&r[1]).expect("ip monitor");
    let vip = IpAddr::V4(lab.vip4(100));
    let rig = Rig {
        lab,
        r,
        host,
        confs,
        events,
        vip,
    };
    let mut d = [rig.start(0), rig.start(1)];
    assert!(
        wait_until(START, POLL, || rig.master_is(0)),
        "no first election{}",
        rig.lab.diag()
    );
    eprintln!("chaos-kill: load before {}", loadavg());
    let mut takeovers = Vec::new();
    for n in 0..rounds {
        let t = round(&rig, n, &mut d);
        csv(
            "kill.csv",
            "round,takeover_ms",
            &format!("{n},{:.3}", t.as_secs_f64() * 1e3),
        );
        takeovers.push(t);
    }
    eprintln!("chaos-kill: load after {}", loadavg());
    takeovers.sort();
    if let Some(max) = takeovers.last() {
        eprintln!(
            "chaos-kill: {rounds} rounds: takeover after SIGKILL median {:.1} ms, max {:.1} ms",
            takeovers[takeovers.len() / 2].as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    for x in &d {
        assert!(
            x.stop(Duration::from_secs(10)).expect("stop"),
            "{}",
            rig.lab.diag()
        );
    }
    for (s, before) in before.iter().enumerate() {
        let diff = inventory_diff(before, &inventory(&rig.r[s]).expect("inventory"));
        assert!(
            diff.is_empty(),
            "r{} after {rounds} kills and the final stop:\n{}{}",
            s + 1,
            diff.join("\n"),
            rig.lab.diag()
        );
    }
}
