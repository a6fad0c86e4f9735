//! One repetition: two routers (r1 Master, r2 Backup) and a client on a lab LAN, the
//! Master goes away, the port watch times what r2 sends.

use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use super::client::Client;
use super::frames::{Probe, Seen, TCP_PORT};
use super::ports::{Event, PortWatch, Router};
use super::{Case, Cut};
use crate::benchkit::{
    LinkSwitch, Res, Rng, in_netns, load1, mdi_ns, parse_mac, realtime_ns, sigkill_all, skew_ns,
    start_daemon, wait_daemon,
};
use crate::budget::Budget;
use crate::{Daemon, DaemonProc, KeepalivedConf, Lab, Node, State, VrrpInstance};

const VRID: u8 = 51;
const PRIO_MASTER: u8 = 200;
const PRIO_BACKUP: u8 = 100;
/// The macvlan both daemons create for `use_vmac` without a name.
const VMAC_IF: &str = "vrrp.51";
/// Longest life of the lab's capture and client threads.
const MAX_RUN: Duration = Duration::from_secs(6 * 3600);

/// The lab of the outage benchmark; reused by every repetition.
pub struct OutageLab {
    /// Owns the namespaces (deleted on drop).
    _lab: Lab,
    r1: Node,
    r2: Node,
    client: Node,
    r1_link: LinkSwitch,
    ports: PortWatch,
    /// A listener on the VIP's port in each router (held open).
    _listeners: Vec<TcpListener>,
}

/// One repetition's figures, in ns after the reference (the old Master's last
/// advertisement, or its priority-0 advertisement for SIGTERM).
#[derive(Clone, Debug)]
pub struct Sample {
    /// "vrrpd" or "keepalived".
    pub daemon: &'static str,
    /// Repetition number.
    pub rep: u32,
    /// Master_Down_Interval (SIGKILL, link down) or Skew_Time (SIGTERM) of the Backup.
    pub bound: i64,
    /// The new Master's first advertisement.
    pub advert: Option<i64>,
    /// Its first gratuitous ARP / unsolicited Neighbour Advertisement.
    pub announce: Option<i64>,
    /// Its first answer to the client's ARP request / Neighbour Solicitation.
    pub resolved: Option<i64>,
    /// Its first answer to the client's echo request.
    pub echo: Option<i64>,
    /// Its first SYN-ACK to the client.
    pub tcp: Option<i64>,
    /// From the reference to the signal or the cut (negative for SIGTERM).
    pub ref_to_cut: Option<i64>,
    /// The reference itself (CLOCK_REALTIME ns), to line up with daemon logs.
    pub reference: Option<i64>,
    /// 1-minute load average at the cut.
    pub load1: f64,
    /// What was missing, if anything.
    pub note: String,
}

impl Sample {
    /// The client's outage: until all three kinds of probe are answered.
    pub fn outage(&self) -> Option<i64> {
        Some(self.resolved?.max(self.echo?).max(self.tcp?))
    }
}

fn listener(node: &Node) -> Res<TcpListener> {
    in_netns(node.ns(), || {
        // [::] takes IPv4 too (bindv6only is 0 in a fresh namespace).
        TcpListener::bind(("::", TCP_PORT)).map_err(|e| format!("listen on {TCP_PORT}: {e}"))
    })
}

impl OutageLab {
    /// Creates the lab `tag`: r1, r2, a client, the port watch and the listeners.
    pub fn new(tag: &str) -> Res<OutageLab> {
        let mut lab = Lab::new(tag).map_err(|e| e.to_string())?;
        let r1 = lab.add_router("r1").map_err(|e| e.to_string())?;
        let r2 = lab.add_router("r2").map_err(|e| e.to_string())?;
        let client = lab.add_host("client").map_err(|e| e.to_string())?;
        let r1_link = LinkSwitch::open(r1.ns(), r1.ifname())?;
        let ports = PortWatch::start(lab.bridge_ns(), r1.bridge_port(), r2.bridge_port(), MAX_RUN)?;
        let _listeners = vec![listener(&r1)?, listener(&r2)?];
        Ok(OutageLab {
            _lab: lab,
            r1,
            r2,
            client,
            r1_link,
            ports,
            _listeners,
        })
    }

    fn vip(&self, case: &Case) -> IpAddr {
        // The lab's VIP numbering: node addresses end below .100.
        let n = 100;
        if case.family.ipv6() {
            let mut o = self.client.ipv6().octets();
            o[15] = n;
            IpAddr::from(o)
        } else {
            let mut o = self.client.ipv4().octets();
            o[3] = n;
            IpAddr::from(o)
        }
    }

    fn cidr(&self, case: &Case) -> String {
        let vip = self.vip(case);
        format!("{vip}/{}", if vip.is_ipv6() { 64 } else { 24 })
    }

    fn conf(&self, case: &Case, prio: u8) -> String {
        let mut i = VrrpInstance::new("VI_1", "eth0", VRID, prio)
            .version(case.family.version())
            .advert_int(f64::from(case.int_cs) / 100.0)
            .vip(self.cidr(case));
        // r1 starts as Master at once: shorter repetitions, same for both daemons.
        if prio == PRIO_MASTER {
            i = i.state(State::Master);
        }
        if case.vmac {
            i = i.use_vmac("");
        }
        KeepalivedConf::new()
            .router_id(format!("outage{prio}"))
            .instance(i)
            .render()
    }

    /// Removes what a killed daemon leaves: the VIP, the macvlan.
    fn cleanup(&self, case: &Case) {
        let cidr = self.cidr(case);
        for n in [&self.r1, &self.r2] {
            let _ = n.run("ip", &["link", "del", VMAC_IF]);
            if n.addresses().is_ok_and(|a| a.contains(&self.vip(case))) {
                let _ = n.del_address(&cidr);
            }
        }
    }

    /// Log lines of a failed repetition's daemons.
    fn probe(&self, case: &Case) -> Res<Probe> {
        let ipv6 = case.family.ipv6();
        Ok(Probe {
            mac: parse_mac(self.client.mac())?,
            src: if ipv6 {
                self.client.ipv6().into()
            } else {
                self.client.ipv4().into()
            },
            vip: self.vip(case),
            ident: (std::process::id() as u16) ^ 0x6f75,
        })
    }

    /// One repetition of `case` with `daemon` on both routers.
    pub fn rep(
        &self,
        b: &Budget,
        daemon: &Daemon,
        case: &Case,
        rep: u32,
        rng: &mut Rng,
    ) -> Res<Sample> {
        self.r1_link.set(true)?;
        self.cleanup(case);
        let probe = self.probe(case)?;
        self.ports.reset(probe);
        let t_start = realtime_ns();
        let d2 = start_daemon(daemon, &self.r2, &self.conf(case, PRIO_BACKUP))?;
        let d1 = start_daemon(daemon, &self.r1, &self.conf(case, PRIO_MASTER))?;
        let result = (|| {
            wait_daemon(b, &d2)?;
            wait_daemon(b, &d1)?;
            let client = Client::start(self.client.ns(), probe, Duration::from_secs(300))?;
            self.steady(b, case, t_start)?;
            let int_ns = i64::from(case.int_cs) * 10_000_000;
            // Cut at a random phase of the advertisement period.
            b.sleep(Duration::from_nanos(
                (int_ns as f64 * (1.0 + rng.frac())) as u64,
            ))?;
            let t_cut = self.cut(case, &d1)?;
            let load = load1();
            self.wait_takeover(b, case, t_cut)?;
            drop(client);
            Ok(measure(
                daemon,
                case,
                rep,
                &self.ports.events(),
                t_cut,
                load,
            ))
        })();
        if case.cut == Cut::Term {
            let _ = d1.proc.wait_timeout(Duration::from_secs(5));
        }
        let _ = d1.crash();
        let _ = d2.crash();
        let _ = self.r1_link.set(true);
        self.cleanup(case);
        if let Err(e) = &result {
            eprintln!("{e}\n{}\n{}", d1.tail(15), d2.tail(15));
        }
        result
    }

    /// Waits for r1 to be the only Master and to answer the client.
    fn steady(&self, b: &Budget, case: &Case, t_start: i64) -> Res<()> {
        let int_ns = i64::from(case.int_cs) * 10_000_000;
        let quiet = 3 * int_ns + 50_000_000;
        let timeout = Duration::from_nanos(
            8 * mdi_ns(case.family.version(), PRIO_BACKUP, case.int_cs) as u64,
        ) + Duration::from_secs(10);
        let vip = self.vip(case);
        b.wait(
            "r1 to be the only Master",
            timeout,
            Duration::from_millis(20),
            || {
                let now = realtime_ns();
                let ev = self.ports.events();
                let from = |r: Router, f: &dyn Fn(&Seen) -> bool, since: i64| {
                    ev.iter()
                        .filter(|e| e.from == r && e.t >= since && f(&e.seen))
                        .count()
                };
                let advert = |s: &Seen| matches!(s, Seen::Advert { .. });
                from(
                    Router::Old,
                    &|s| {
                        matches!(
                            s,
                            Seen::Advert {
                                prio: PRIO_MASTER,
                                ..
                            }
                        )
                    },
                    0,
                ) >= 2
                    && now - t_start > quiet
                    && from(Router::New, &advert, now - quiet) == 0
                    && from(Router::Old, &|s| *s == Seen::Echo, now - 50_000_000) > 0
                    && from(Router::Old, &|s| *s == Seen::SynAck, now - 50_000_000) > 0
                    && self.r2.addresses().is_ok_and(|a| !a.contains(&vip))
            },
        )
    }

    /// Makes r1 go away; returns the instant (CLOCK_REALTIME ns).
    fn cut(&self, case: &Case, d1: &DaemonProc) -> Res<i64> {
        let t = realtime_ns();
        match case.cut {
            Cut::Kill => {
                sigkill_all(d1);
                // The dead Master's VIP stays in its kernel: pull its cable at once.
                self.r1_link.set(false)?;
            }
            Cut::Term => d1
                .proc
                .kill_main(libc::SIGTERM)
                .map_err(|e| e.to_string())?,
            Cut::Link => self.r1_link.set(false)?,
        }
        Ok(t)
    }

    fn wait_takeover(&self, b: &Budget, case: &Case, t_cut: i64) -> Res<()> {
        let v = case.family.version();
        let bound = mdi_ns(v, PRIO_BACKUP, case.int_cs);
        let timeout = Duration::from_nanos((2 * bound) as u64) + Duration::from_secs(3);
        let _ = b.wait("the takeover", timeout, Duration::from_millis(5), || {
            let ev = self.ports.events();
            let got = |f: &dyn Fn(&Seen) -> bool| {
                ev.iter()
                    .any(|e| e.from == Router::New && e.t >= t_cut && f(&e.seen))
            };
            got(&|s| matches!(s, Seen::Advert { .. }))
                && got(&|s| *s == Seen::Resolved)
                && got(&|s| *s == Seen::Echo)
                && got(&|s| *s == Seen::SynAck)
        });
        // Late announcements still count.
        b.sleep(Duration::from_millis(20))
    }
}

/// The figures of one repetition from the port events.
fn measure(daemon: &Daemon, case: &Case, rep: u32, ev: &[Event], t_cut: i64, load1: f64) -> Sample {
    let first = |f: &dyn Fn(&Seen) -> bool| {
        ev.iter()
            .filter(|e| e.from == Router::New && e.t >= t_cut && f(&e.seen))
            .map(|e| e.t)
            .min()
    };
    let advert_t = first(&|s| matches!(s, Seen::Advert { .. }));
    let v = case.family.version();
    let before = advert_t.unwrap_or(i64::MAX);
    // The bound uses the interval the old Master advertised.
    let reference = match case.cut {
        Cut::Kill | Cut::Link => {
            ev.iter()
                .rev()
                .filter(|e| e.t < before)
                .find_map(|e| match e.seen {
                    Seen::Advert { prio, int_cs } if e.from == Router::Old && prio != 0 => {
                        Some((e.t, mdi_ns(v, PRIO_BACKUP, int_cs)))
                    }
                    _ => None,
                })
        }
        Cut::Term => ev
            .iter()
            .filter(|e| e.t >= t_cut)
            .find_map(|e| match e.seen {
                Seen::Advert { prio: 0, int_cs } if e.from == Router::Old => {
                    Some((e.t, skew_ns(v, PRIO_BACKUP, int_cs)))
                }
                _ => None,
            }),
    };
    let bound_guess = match case.cut {
        Cut::Term => skew_ns(v, PRIO_BACKUP, case.int_cs),
        _ => mdi_ns(v, PRIO_BACKUP, case.int_cs),
    };
    let r = reference.map(|r| r.0);
    let rel = |t: Option<i64>| Some(t? - r?);
    let mut s = Sample {
        daemon: daemon.name(),
        rep,
        bound: reference.map_or(bound_guess, |r| r.1),
        advert: rel(advert_t),
        announce: rel(first(&|s| *s == Seen::Announce)),
        resolved: rel(first(&|s| *s == Seen::Resolved)),
        echo: rel(first(&|s| *s == Seen::Echo)),
        tcp: rel(first(&|s| *s == Seen::SynAck)),
        ref_to_cut: r.map(|r| t_cut - r),
        reference: r,
        load1,
        note: String::new(),
    };
    for (what, v) in [
        ("old Master's reference advert", r),
        ("takeover advert", s.advert),
        ("ARP/ND answer", s.resolved),
        ("echo answer", s.echo),
        ("SYN-ACK", s.tcp),
    ] {
        if v.is_none() {
            s.note.push_str(&format!("no {what}; "));
        }
    }
    s
}
