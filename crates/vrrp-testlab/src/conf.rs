//! A keepalived.conf generator. vrrpd reads the same syntax, so one config
//! drives either daemon.

use std::fmt::Write;

/// Initial state of a VRRP instance (`state MASTER|BACKUP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// `state MASTER`
    Master,
    /// `state BACKUP`
    Backup,
}

/// One `vrrp_instance` block. Build with [`VrrpInstance::new`] and the
/// chained setters.
#[derive(Clone, Debug)]
pub struct VrrpInstance {
    /// The instance name.
    pub name: String,
    /// `interface`
    pub interface: String,
    /// `virtual_router_id`
    pub vrid: u8,
    /// `priority`
    pub priority: u8,
    /// Seconds; fractions (e.g. 0.1) need VRRPv3.
    pub advert_int: f64,
    /// 2 or 3.
    pub version: u8,
    /// VIPs with prefix length, e.g. `10.99.3.100/24` or `fd99:3::100/64`.
    pub vips: Vec<String>,
    /// `nopreempt`
    pub nopreempt: bool,
    /// Seconds.
    pub preempt_delay: Option<u32>,
    /// VRRPv2 simple password authentication.
    pub auth_pass: Option<String>,
    /// `unicast_src_ip`
    pub unicast_src: Option<String>,
    /// `unicast_peer { }`; empty means multicast.
    pub unicast_peers: Vec<String>,
    /// `use_vmac [NAME]`: `Some("")` for keepalived's default name.
    pub use_vmac: Option<String>,
    /// `state`; `None` leaves it out.
    pub state: Option<State>,
    /// Extra raw lines placed inside the block.
    pub extra: Vec<String>,
}

impl VrrpInstance {
    /// `vrrp_instance NAME { interface IFACE; virtual_router_id VRID; priority PRIO }`,
    /// VRRPv2 with advert_int 1.
    pub fn new(name: &str, interface: &str, vrid: u8, priority: u8) -> Self {
        VrrpInstance {
            name: name.into(),
            interface: interface.into(),
            vrid,
            priority,
            advert_int: 1.0,
            version: 2,
            vips: Vec::new(),
            nopreempt: false,
            preempt_delay: None,
            auth_pass: None,
            unicast_src: None,
            unicast_peers: Vec::new(),
            use_vmac: None,
            state: None,
            extra: Vec::new(),
        }
    }

    /// Sets `advert_int` in seconds.
    pub fn advert_int(mut self, secs: f64) -> Self {
        self.advert_int = secs;
        self
    }

    /// Sets the VRRP version (2 or 3).
    pub fn version(mut self, v: u8) -> Self {
        self.version = v;
        self
    }

    /// Adds a VIP, with its prefix length (`10.99.3.100/24`).
    pub fn vip(mut self, cidr: impl Into<String>) -> Self {
        self.vips.push(cidr.into());
        self
    }

    /// Sets `nopreempt`.
    pub fn nopreempt(mut self) -> Self {
        self.nopreempt = true;
        self
    }

    /// Sets `preempt_delay` in seconds.
    pub fn preempt_delay(mut self, secs: u32) -> Self {
        self.preempt_delay = Some(secs);
        self
    }

    /// Sets a VRRPv2 simple password.
    pub fn auth_pass(mut self, pass: impl Into<String>) -> Self {
        self.auth_pass = Some(pass.into());
        self
    }

    /// Sets `unicast_src_ip`.
    pub fn unicast_src(mut self, ip: impl Into<String>) -> Self {
        self.unicast_src = Some(ip.into());
        self
    }

    /// Adds a `unicast_peer`.
    pub fn unicast_peer(mut self, ip: impl Into<String>) -> Self {
        self.unicast_peers.push(ip.into());
        self
    }

    /// `use_vmac` (empty name: the daemon's default `vrrp.<vrid>`).
    pub fn use_vmac(mut self, name: impl Into<String>) -> Self {
        self.use_vmac = Some(name.into());
        self
    }

    /// Sets `state`.
    pub fn state(mut self, s: State) -> Self {
        self.state = Some(s);
        self
    }

    /// Adds a raw configuration line inside the instance block.
    pub fn line(mut self, l: impl Into<String>) -> Self {
        self.extra.push(l.into());
        self
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "vrrp_instance {} {{", self.name);
        if let Some(s) = self.state {
            let s = match s {
                State::Master => "MASTER",
                State::Backup => "BACKUP",
            };
            let _ = writeln!(out, "    state {s}");
        }
        let _ = writeln!(out, "    interface {}", self.interface);
        if let Some(v) = &self.use_vmac {
            if v.is_empty() {
                let _ = writeln!(out, "    use_vmac");
            } else {
                let _ = writeln!(out, "    use_vmac {v}");
            }
        }
        let _ = writeln!(out, "    virtual_router_id {}", self.vrid);
        let _ = writeln!(out, "    priority {}", self.priority);
        let _ = writeln!(out, "    advert_int {}", fmt_secs(self.advert_int));
        let _ = writeln!(out, "    version {}", self.version);
        if self.nopreempt {
            let _ = writeln!(out, "    nopreempt");
        }
        if let Some(d) = self.preempt_delay {
            let _ = writeln!(out, "    preempt_delay {d}");
        }
        if let Some(p) = &self.auth_pass {
            let _ = writeln!(out, "    authentication {{");
            let _ = writeln!(out, "        auth_type PASS");
            let _ = writeln!(out, "        auth_pass {p}");
            let _ = writeln!(out, "    }}");
        }
        if let Some(s) = &self.unicast_src {
            let _ = writeln!(out, "    unicast_src_ip {s}");
        }
        if !self.unicast_peers.is_empty() {
            let _ = writeln!(out, "    unicast_peer {{");
            for p in &self.unicast_peers {
                let _ = writeln!(out, "        {p}");
            }
            let _ = writeln!(out, "    }}");
        }
        if !self.vips.is_empty() {
            let _ = writeln!(out, "    virtual_ipaddress {{");
            for v in &self.vips {
                let _ = writeln!(out, "        {v}");
            }
            let _ = writeln!(out, "    }}");
        }
        for l in &self.extra {
            let _ = writeln!(out, "    {l}");
        }
        let _ = writeln!(out, "}}");
    }
}

/// `1.0` -> "1", `0.1` -> "0.1".
fn fmt_secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        let t = format!("{s:.2}");
        t.trim_end_matches('0').to_string()
    }
}

/// A whole keepalived.conf: `global_defs` plus VRRP instances.
#[derive(Clone, Debug, Default)]
pub struct KeepalivedConf {
    /// `router_id` in `global_defs`.
    pub router_id: Option<String>,
    /// Raw lines added to `global_defs`.
    pub global_extra: Vec<String>,
    /// The `vrrp_instance` blocks.
    pub instances: Vec<VrrpInstance>,
}

impl KeepalivedConf {
    /// An empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `router_id`.
    pub fn router_id(mut self, id: impl Into<String>) -> Self {
        self.router_id = Some(id.into());
        self
    }

    /// Adds a raw line to `global_defs`.
    pub fn global(mut self, line: impl Into<String>) -> Self {
        self.global_extra.push(line.into());
        self
    }

    /// Adds a `vrrp_instance` block.
    pub fn instance(mut self, i: VrrpInstance) -> Self {
        self.instances.push(i);
        self
    }

    /// The configuration text.
    pub fn render(&self) -> String {
        let mut out = String::from("# generated by vrrp-testlab\n");
        if self.router_id.is_some() || !self.global_extra.is_empty() {
            out.push_str("global_defs {\n");
            if let Some(r) = &self.router_id {
                let _ = writeln!(out, "    router_id {r}");
            }
            for l in &self.global_extra {
                let _ = writeln!(out, "    {l}");
            }
            out.push_str("}\n");
        }
        for i in &self.instances {
            out.push('\n');
            i.render(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let c = KeepalivedConf::new()
            .router_id("r1")
            .instance(
                VrrpInstance::new("VI_1", "eth0", 51, 150)
                    .advert_int(0.1)
                    .version(3)
                    .vip("10.99.3.100/24")
                    .nopreempt()
                    .preempt_delay(5)
                    .auth_pass("secret")
                    .unicast_peer("10.99.3.2")
                    .use_vmac("")
                    .state(State::Backup),
            )
            .render();
        for want in [
            "router_id r1",
            "vrrp_instance VI_1 {",
            "    state BACKUP",
            "    interface eth0",
            "    use_vmac\n",
            "    virtual_router_id 51",
            "    priority 150",
            "    advert_int 0.1\n",
            "    version 3",
            "    nopreempt",
            "    preempt_delay 5",
            "        auth_pass secret",
            "        10.99.3.2",
            "        10.99.3.100/24",
        ] {
            assert!(c.contains(want), "missing {want:?} in\n{c}");
        }
        assert_eq!(fmt_secs(1.0), "1");
        assert_eq!(fmt_secs(0.25), "0.25");
    }
}
