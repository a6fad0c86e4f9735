//! The load-balancer lab: a client, a balancer running the nftables data path in its
//! namespace (a thread that `setns` into it), and nginx real servers, on one LAN. The
//! balancer masquerades, so the real servers answer through it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vrrp_dataplane::{DataPath, DataPathError, NftOptions, Nftables, Stats};
use vrrp_lb::dataplane::{DesiredState, Destination, Service, diff};
use vrrp_lb::spec::{
    Forwarding, Persistence, Protocol, RealServerKey, Scheduler, SchedulerFlags, ServiceAddr,
    ServiceId, ServiceKey,
};
use vrrp_testlab::{Lab, Nginx, Node};

type Job = Box<dyn FnOnce(&mut Option<Nftables>) + Send>;

/// A thread living in the balancer's network namespace, holding the data path.
pub(crate) struct Balancer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    pub(crate) state: DesiredState,
}

impl Balancer {
    pub(crate) fn start(node: &Node) -> Balancer {
        let path = format!("/run/netns/{}", node.ns());
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut dp = None;
            for job in rx {
                job(&mut dp);
            }
        });
        Balancer {
            tx: Some(tx),
            thread: Some(thread),
            state: DesiredState::default(),
        }
    }

    /// Runs `f` on the balancer's thread.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Option<Nftables>) -> R + Send + 'static,
    ) -> R {
        let (rtx, rrx) = mpsc::channel();
        let job: Job = Box::new(move |dp| {
            let _ = rtx.send(f(dp));
        });
        self.tx.as_ref().unwrap().send(job).unwrap();
        rrx.recv().unwrap()
    }

    pub(crate) fn open(&self, masquerade: bool) -> Result<(), DataPathError> {
        self.run(move |dp| {
            *dp = Some(Nftables::open(NftOptions { masquerade })?);
            Ok(())
        })
    }

    /// Installs `to` (the diff from the last state installed); returns the time taken.
    pub(crate) fn try_set(&mut self, to: DesiredState) -> Result<Duration, DataPathError> {
        let changes = diff(&self.state, &to);
        let desired = to.clone();
        let took = self.run(move |dp| {
            let start = Instant::now();
            dp.as_mut().unwrap().apply(&desired, &changes)?;
            Ok(start.elapsed())
        })?;
        self.state = to;
        Ok(took)
    }

    pub(crate) fn set(&mut self, to: DesiredState) -> Duration {
        self.try_set(to).unwrap()
    }

    pub(crate) fn stats(&self) -> Stats {
        self.run(|dp| dp.as_mut().unwrap().stats()).unwrap()
    }

    pub(crate) fn shutdown(&self, keep: bool) {
        self.run(move |dp| dp.as_mut().unwrap().shutdown(keep))
            .unwrap()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The lab: `client`, `lb` (VIPs .100 and .101 on its eth0), real servers `r1..rN`.
pub(crate) struct LbLab {
    pub(crate) balancer: Balancer,
    pub(crate) servers: Vec<(Node, Nginx)>,
    pub(crate) client: Node,
    pub(crate) lb: Node,
    pub(crate) lab: Lab,
}

impl LbLab {
    pub(crate) fn new(tag: &str, servers: usize) -> LbLab {
        let mut lab = Lab::new(tag).unwrap();
        let lb = lab.add_host("lb").unwrap();
        let client = lab.add_host("client").unwrap();
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.eth0.send_redirects", "0"),
        ] {
            lb.sysctl(key, value).unwrap();
        }
        for n in [100, 101] {
            lb.add_address(&format!("{}/24", lab.vip4(n))).unwrap();
            lb.run_ok(
                "ip",
                &[
                    "-6",
                    "addr",
                    "add",
                    &format!("{}/64", lab.vip6(n)),
                    "dev",
                    "eth0",
                    "nodad",
                ],
            )
            .unwrap();
        }
        let mut list = Vec::new();
        for i in 1..=servers {
            let node = lab.add_host(&format!("r{i}")).unwrap();
            let nginx = Nginx::start(&node, &format!("r{i}"), 80).unwrap();
            list.push((node, nginx));
        }
        let balancer = Balancer::start(&lb);
        LbLab {
            balancer,
            servers: list,
            client,
            lb,
            lab,
        }
    }

    pub(crate) fn vip4(&self) -> IpAddr {
        self.lab.vip4(100).into()
    }

    pub(crate) fn vip6(&self) -> IpAddr {
        self.lab.vip6(100).into()
    }

    /// Real server `i` (from 1) at `port`, by family of `like`.
    pub(crate) fn dest(&self, i: usize, like: IpAddr, port: u16, weight: u32) -> Destination {
        let node = &self.servers[i - 1].0;
        let addr: IpAddr = match like {
            IpAddr::V4(_) => node.ipv4().into(),
            IpAddr::V6(_) => node.ipv6().into(),
        };
        Destination {
            key: RealServerKey { addr, port },
            weight,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    /// `count` HTTP requests to `vip`, one connection each, from `source` (or the client's
    /// own address): the names of the servers that answered, in order.
    pub(crate) fn fetch(&self, vip: IpAddr, count: usize, source: Option<IpAddr>) -> Vec<String> {
        let host = match vip {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        let mut config = String::from("header = \"Connection: close\"\nmax-time = 5\n");
        for _ in 0..count {
            config.push_str(&format!("url = \"http://{host}/\"\n"));
        }
        let name = format!("curl-{}.conf", rand_tag());
        let path = self.client.write_file(&name, &config).unwrap();
        let mut args = vec!["-sg".to_string(), "-K".into(), path.display().to_string()];
        if let Some(src) = source {
            args.extend(["--interface".into(), src.to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self
            .client
            .run_timeout("curl", &refs, Duration::from_secs(120))
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

pub(crate) fn rand_tag() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn counts(names: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

/// A TCP or UDP service on `vip:port` with `dests`.
pub(crate) fn service(
    vip: IpAddr,
    port: u16,
    protocol: Protocol,
    scheduler: Scheduler,
    dests: Vec<Destination>,
) -> (ServiceId, Service) {
    let sa = SocketAddr::new(vip, port);
    (
        ServiceId {
            key: ServiceKey::Socket(sa),
            protocol,
        },
        Service {
            addrs: vec![ServiceAddr::Socket(sa)],
            scheduler,
            flags: SchedulerFlags::default(),
            persistence: None,
            destinations: dests.into_iter().map(|d| (d.key, d)).collect(),
        },
    )
}

pub(crate) fn with_persistence(mut s: (ServiceId, Service), secs: u64) -> (ServiceId, Service) {
    s.1.persistence = Some(Persistence {
        timeout: Duration::from_secs(secs),
        granularity: None,
    });
    s
}

pub(crate) fn state(services: Vec<(ServiceId, Service)>) -> DesiredState {
    DesiredState {
        services: services.into_iter().collect(),
    }
}
