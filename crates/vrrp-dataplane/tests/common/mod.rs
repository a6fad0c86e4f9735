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
    /// A TCP service on `vip`:80 over real servers 1, 2, ... with these weights.
    pub(crate) fn http_service(
        &self,
        vip: IpAddr,
        scheduler: Scheduler,
        weights: &[u32],
    ) -> (ServiceId, Service) {
        let dests = (1..=weights.len())
            .zip(weights)
            .map(|(i, w)| self.dest(i, vip, 80, *w))
            .collect();
        service(vip, 80, Protocol::Tcp, scheduler, dests)
    }

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

/// A TCP connection held open by a client script: one request at once, a second when
/// [`Held::trigger`] is called; its output is `first rN`, then `second rN` or
/// `second closed STATUS` (1: reset or closed, above 128: no answer in 4 s).
pub(crate) struct Held {
    proc: vrrp_testlab::Proc,
    trigger: std::path::PathBuf,
}

const HOLD: &str = r#"
trap '' PIPE
exec 3<>/dev/tcp/$VIP/80 || { echo "connect failed"; exit 1; }
ask() {
  printf 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' >&3 || { echo "$1 closed write"; return; }
  local line
  while true; do
    IFS= read -r -t 4 line <&3 || { echo "$1 closed $?"; return; }
    if [ "$line" = $'\r' ]; then
      IFS= read -r -t 4 line <&3 && echo "$1 $line" || echo "$1 closed $?"
      return
    fi
  done
}
ask first
while [ ! -e "$TRIGGER" ]; do sleep 0.02; done
ask second
"#;

impl Held {
    pub(crate) fn open(t: &LbLab, vip: IpAddr) -> Held {
        let trigger = t.client.lab_path(&format!("trigger-{}", rand_tag()));
        let script = t
            .client
            .write_file(&format!("hold-{}.sh", rand_tag()), HOLD)
            .unwrap();
        let vip = vip.to_string();
        let trig = trigger.display().to_string();
        let proc = t
            .client
            .spawn(
                "bash",
                &[&script.display().to_string()],
                &[("VIP", &vip), ("TRIGGER", &trig)],
            )
            .unwrap();
        let held = Held { proc, trigger };
        held.wait_line("first");
        held
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.proc.stdout_path()).unwrap_or_default()
    }

    /// The line starting with `what` (waits up to 10 s).
    pub(crate) fn wait_line(&self, what: &str) -> String {
        let found =
            vrrp_testlab::wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
                self.output().lines().any(|l| l.starts_with(what))
            });
        assert!(
            found,
            "no {what} line: {:?} {}",
            self.output(),
            self.proc.tail(5)
        );
        self.output()
            .lines()
            .find(|l| l.starts_with(what))
            .unwrap()
            .to_string()
    }

    /// The server of the first answer.
    pub(crate) fn server(&self) -> String {
        self.wait_line("first")
            .trim_start_matches("first ")
            .to_string()
    }

    /// Sends the second request; returns its line and how long it took.
    pub(crate) fn trigger(&self) -> (String, Duration) {
        let start = Instant::now();
        std::fs::write(&self.trigger, "").unwrap();
        let line = self.wait_line("second");
        (line, start.elapsed())
    }
}
