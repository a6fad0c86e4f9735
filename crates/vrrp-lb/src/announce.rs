//! Which VIPs of `bgp_announce` services are announced (through FRR, by the driver).
//!
//! A VIP is announced while every announced service that has it has its quorum, no operator
//! has put it in maintenance, and the daemon is not stopping. One route carries every port
//! of a VIP, so a VIP whose services are only partly healthy is withdrawn: its peers' other
//! balancers take all of it. Pure: the driver passes the quorum and carries out the
//! [`Change`]s (add or remove a route), in order.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::spec::ServiceId;

/// Why a VIP is not announced.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Withheld {
    /// One of its services does not have its quorum (or is not running yet).
    NoQuorum,
    /// `vrrpctl announce drain VIP`.
    Maintenance,
    /// The daemon is stopping, or a reload removed its service: traffic drains away.
    Draining,
}

impl Withheld {
    /// The word `vrrpctl` and the metrics show.
    pub fn name(self) -> &'static str {
        match self {
            Withheld::NoQuorum => "no-quorum",
            Withheld::Maintenance => "maintenance",
            Withheld::Draining => "draining",
        }
    }
}

impl fmt::Display for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the driver must do to the routes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// Install the VIP's route.
    Announce(IpAddr),
    /// Remove it.
    Withdraw(IpAddr),
}

/// One VIP as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipStatus {
    /// The address.
    pub vip: IpAddr,
    /// Its route is installed.
    pub announced: bool,
    /// Why not, when it is not.
    pub withheld: Option<Withheld>,
    /// The services that have it.
    pub services: Vec<ServiceId>,
    /// Times it was announced or withdrawn (the first decision is not counted).
    pub transitions: u64,
}

#[derive(Clone, Debug, Default)]
struct Vip {
    services: Vec<ServiceId>,
    maintenance: bool,
    /// `None` until the first update: a previous run may have left its route either way,
    /// so the first update says what to do whatever it decides.
    announced: Option<bool>,
    transitions: u64,
}

/// The announced VIPs.
#[derive(Clone, Debug, Default)]
pub struct Announcements {
    vips: BTreeMap<IpAddr, Vip>,
    stopping: bool,
}

/// `vrrpctl announce` named a VIP no `bgp_announce` service has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoSuchVip(pub IpAddr);

impl fmt::Display for NoSuchVip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not the address of a bgp_announce virtual server",
            self.0
        )
    }
}

impl std::error::Error for NoSuchVip {}

impl Announcements {
    /// Takes the announced services and their addresses (start, reload). A VIP that is
    /// gone is withdrawn; one that stays keeps its maintenance. Call [`Self::update`] next.
    pub fn configure(&mut self, services: &[(ServiceId, Vec<IpAddr>)]) -> Vec<Change> {
        let mut next: BTreeMap<IpAddr, Vip> = BTreeMap::new();
        for (id, addrs) in services {
            for a in addrs {
                next.entry(*a).or_default().services.push(id.clone());
            }
        }
        let mut out = Vec::new();
        for (addr, old) in std::mem::take(&mut self.vips) {
            match next.get_mut(&addr) {
                Some(v) => {
                    v.maintenance = old.maintenance;
                    v.announced = old.announced;
                    v.transitions = old.transitions;
                }
                None if old.announced != Some(false) => out.push(Change::Withdraw(addr)),
                None => {}
            }
        }
        self.vips = next;
        out
    }

    /// The changes that bring the routes in line with the services' quorum.
    pub fn update(&mut self, quorum: impl Fn(&ServiceId) -> bool) -> Vec<Change> {
        let mut out = Vec::new();
        for (addr, v) in &mut self.vips {
            let wanted = withheld(v, self.stopping, &quorum).is_none();
            if v.announced != Some(wanted) {
                v.transitions += u64::from(v.announced.is_some());
                v.announced = Some(wanted);
                out.push(if wanted {
                    Change::Announce(*addr)
                } else {
                    Change::Withdraw(*addr)
                });
            }
        }
        out
    }

    /// `vrrpctl announce drain|restore VIP`: puts the VIP in maintenance or takes it out.
    /// Call [`Self::update`] next.
    pub fn set_maintenance(&mut self, vip: IpAddr, on: bool) -> Result<(), NoSuchVip> {
        let v = self.vips.get_mut(&vip).ok_or(NoSuchVip(vip))?;
        v.maintenance = on;
        Ok(())
    }

    /// The daemon stops: every VIP is withdrawn, and stays so.
    pub fn stop(&mut self) -> Vec<Change> {
        self.stopping = true;
        self.update(|_| false)
    }

    /// Whether any VIP is announced.
    pub fn any_announced(&self) -> bool {
        self.vips.values().any(|v| v.announced == Some(true))
    }

    /// Every VIP, in address order.
    pub fn status(&self, quorum: impl Fn(&ServiceId) -> bool) -> Vec<VipStatus> {
        self.vips
            .iter()
            .map(|(addr, v)| VipStatus {
                vip: *addr,
                announced: v.announced == Some(true),
                withheld: withheld(v, self.stopping, &quorum),
                services: v.services.clone(),
                transitions: v.transitions,
            })
            .collect()
    }
}

/// Why `v` should not be announced, if it should not.
fn withheld(v: &Vip, stopping: bool, quorum: &impl Fn(&ServiceId) -> bool) -> Option<Withheld> {
    if stopping {
        Some(Withheld::Draining)
    } else if v.maintenance {
        Some(Withheld::Maintenance)
    } else if !v.services.iter().all(quorum) {
        Some(Withheld::NoQuorum)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::spec::{Protocol, ServiceKey};

    fn id(port: u16) -> ServiceId {
        ServiceId {
            key: ServiceKey::Socket(format!("10.99.0.100:{port}").parse().unwrap()),
            protocol: Protocol::Tcp,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn setup() -> Announcements {
        let mut a = Announcements::default();
        let vip = vec![ip("10.99.0.100")];
        let c = a.configure(&[(id(80), vip.clone()), (id(443), vip)]);
        assert_eq!(c, []);
        a
    }

    #[test]
    fn announced_only_while_every_service_has_its_quorum() {
        let mut a = setup();
        let vip = ip("10.99.0.100");
        // The first decision is always told, for a route a previous run left.
        assert_eq!(a.update(|_| false), [Change::Withdraw(vip)]);
        assert_eq!(a.update(|s| *s == id(80)), []);
        let st = a.status(|s| *s == id(80));
        assert_eq!(st[0].withheld, Some(Withheld::NoQuorum));
        assert_eq!(a.update(|_| true), [Change::Announce(vip)]);
        assert_eq!(a.update(|_| true), []);
        assert_eq!(a.update(|s| *s != id(443)), [Change::Withdraw(vip)]);
        assert_eq!(a.status(|_| true)[0].transitions, 2);
        // A VIP removed before any decision is withdrawn too.
        let mut b = Announcements::default();
        b.configure(&[(id(80), vec![vip])]);
        assert_eq!(b.configure(&[]), [Change::Withdraw(vip)]);
    }

    #[test]
    fn maintenance_withdraws_until_restored() {
        let mut a = setup();
        let vip = ip("10.99.0.100");
        a.update(|_| true);
        a.set_maintenance(vip, true).unwrap();
        assert_eq!(a.update(|_| true), [Change::Withdraw(vip)]);
        assert_eq!(a.status(|_| true)[0].withheld, Some(Withheld::Maintenance));
        assert_eq!(
            a.set_maintenance(ip("10.99.0.1"), true),
            Err(NoSuchVip(ip("10.99.0.1")))
        );
        a.set_maintenance(vip, false).unwrap();
        assert_eq!(a.update(|_| true), [Change::Announce(vip)]);
    }

    #[test]
    fn a_reload_withdraws_removed_vips_and_keeps_maintenance() {
        let mut a = Announcements::default();
        let (v1, v2) = (ip("10.99.0.100"), ip("10.99.0.101"));
        a.configure(&[(id(80), vec![v1, v2])]);
        a.update(|_| true);
        a.set_maintenance(v2, true).unwrap();
        a.update(|_| true);
        assert_eq!(a.configure(&[(id(81), vec![v2])]), [Change::Withdraw(v1)]);
        let st = a.status(|_| true);
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].withheld, Some(Withheld::Maintenance));
    }

    #[test]
    fn stopping_withdraws_everything_for_good() {
        let mut a = setup();
        a.update(|_| true);
        assert!(a.any_announced());
        assert_eq!(a.stop(), [Change::Withdraw(ip("10.99.0.100"))]);
        assert_eq!(a.update(|_| true), []);
        assert_eq!(a.status(|_| true)[0].withheld, Some(Withheld::Draining));
        assert!(!a.any_announced());
    }

    #[test]
    fn changes_alternate_per_vip() {
        // Whatever the sequence of quorum states, a VIP's changes alternate, starting
        // with an announcement: the driver never adds twice or removes what is not there.
        let mut a = setup();
        let mut seen = a.update(|_| true);
        for step in 0u32..64 {
            let up: HashSet<ServiceId> = [id(80), id(443)]
                .into_iter()
                .enumerate()
                .filter(|(i, _)| step.wrapping_mul(2_654_435_761) >> (7 + i) & 1 == 1)
                .map(|(_, s)| s)
                .collect();
            if step % 11 == 5 {
                let _ = a.set_maintenance(ip("10.99.0.100"), step % 2 == 1);
            }
            seen.extend(a.update(|s| up.contains(s)));
        }
        assert!(seen.len() > 4, "{seen:?}");
        for (i, c) in seen.iter().enumerate() {
            let want_announce = i % 2 == 0;
            assert_eq!(matches!(c, Change::Announce(_)), want_announce, "{seen:?}");
        }
    }
}
