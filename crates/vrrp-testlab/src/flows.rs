//! Clients of the active-active lab: threads in the client's namespace, each one flow from
//! its own source address to `VIP:80`, requesting `/` every `interval`, either over one
//! held keep-alive connection (a long-lived flow: does it survive?) or one connection per
//! request (new flows: do they fail?). Bounded: every wait has a timeout, and the threads
//! stop when the [`Flows`] is stopped or dropped.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Error, Node, Result, lock};

/// How a flow talks to the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowKind {
    /// One keep-alive connection for the flow's whole life; it ends at the first error.
    Held,
    /// A new connection for each request; a failure is counted and the next one tried.
    PerRequest,
}

/// What one flow saw.
#[derive(Clone, Debug, Default)]
pub struct FlowRecord {
    /// Its source address.
    pub source: Option<Ipv4Addr>,
    /// Its (last) source port.
    pub port: u16,
    /// Answers per server name.
    pub servers: BTreeMap<String, u64>,
    /// The server of the last answer.
    pub last_server: Option<String>,
    /// Requests answered.
    pub answered: u64,
    /// Requests failed (per-request flows).
    pub failed: u64,
    /// Why the held connection broke.
    pub broken: Option<String>,
    /// The longest time between two answers.
    pub max_gap: Duration,
}

/// Running flows; see the module documentation.
pub struct Flows {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    records: Vec<Arc<Mutex<FlowRecord>>>,
}

/// The request; nginx answers `NAME\n` with a Content-Length.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n";

impl Flows {
    /// One flow per source address in `client`'s namespace to `vip:80`.
    pub fn start(
        client: &Node,
        vip: Ipv4Addr,
        sources: &[Ipv4Addr],
        kind: FlowKind,
        interval: Duration,
        timeout: Duration,
    ) -> Result<Flows> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut flows = Flows {
            stop: stop.clone(),
            threads: Vec::new(),
            records: Vec::new(),
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for &src in sources {
            let record = Arc::new(Mutex::new(FlowRecord {
                source: Some(src),
                ..FlowRecord::default()
            }));
            flows.records.push(record.clone());
            let (ns, stop, ready) = (client.ns().to_string(), stop.clone(), ready_tx.clone());
            let flow = Flow {
                src,
                dst: SocketAddr::from((vip, 80)),
                interval,
                timeout,
                record,
                stop,
            };
            flows.threads.push(std::thread::spawn(move || {
                let entered = enter_netns(&ns);
                let ok = entered.is_ok();
                let _ = ready.send(entered.map_err(|e| e.to_string()));
                if ok {
                    flow.run(kind);
                }
            }));
        }
        for _ in sources {
            ready_rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| Error::msg("a flow thread did not start"))?
                .map_err(Error::msg)?;
        }
        Ok(flows)
    }

    /// A copy of every flow's record.
    pub fn records(&self) -> Vec<FlowRecord> {
        self.records.iter().map(|r| lock(r).clone()).collect()
    }

    /// Waits (bounded) until every flow has at least `n` answers.
    pub fn wait_answered(&self, n: u64, timeout: Duration) -> bool {
        crate::wait_until(timeout, Duration::from_millis(20), || {
            self.records().iter().all(|r| r.answered >= n)
        })
    }

    /// Stops the threads and returns the records.
    pub fn stop(mut self) -> Vec<FlowRecord> {
        self.halt();
        self.records()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Flows {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Moves the calling thread into the named network namespace.
fn enter_netns(ns: &str) -> Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) on an open namespace file; affects the calling thread only.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

struct Flow {
    src: Ipv4Addr,
    dst: SocketAddr,
    interval: Duration,
    timeout: Duration,
    record: Arc<Mutex<FlowRecord>>,
    stop: Arc<AtomicBool>,
}

impl Flow {
    fn run(&self, kind: FlowKind) {
        let mut held = None;
        let mut last_ok = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let begun = Instant::now();
            let answer = match kind {
                FlowKind::Held => self.on_held(&mut held),
                FlowKind::PerRequest => self.connect().and_then(|mut s| self.ask(&mut s)),
            };
            let mut r = lock(&self.record);
            match answer {
                Ok(name) => {
                    r.max_gap = r.max_gap.max(last_ok.elapsed());
                    last_ok = Instant::now();
                    r.answered += 1;
                    *r.servers.entry(name.clone()).or_default() += 1;
                    r.last_server = Some(name);
                }
                Err(e) if kind == FlowKind::Held => {
                    r.broken = Some(e);
                    return;
                }
                Err(_) => r.failed += 1,
            }
            drop(r);
            std::thread::sleep(self.interval.saturating_sub(begun.elapsed()));
        }
    }

    fn on_held(&self, held: &mut Option<TcpStream>) -> std::result::Result<String, String> {
        if held.is_none() {
            *held = Some(self.connect()?);
        }
        match held {
            Some(s) => self.ask(s),
            None => Err("no connection".into()),
        }
    }

    /// A connection from `src` (any port) to `dst`, bounded by the timeout.
    fn connect(&self) -> std::result::Result<TcpStream, String> {
        let s = bound_socket(self.src, self.timeout).map_err(|e| format!("socket: {e}"))?;
        let dst = libc_addr(match self.dst {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => return Err("IPv6".into()),
        });
        // SAFETY: connect(2) on our socket with a valid sockaddr_in; SO_SNDTIMEO bounds it.
        let rc = unsafe {
            libc::connect(
                s.0,
                (&dst as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
        if rc != 0 {
            return Err(format!("connect: {}", std::io::Error::last_os_error()));
        }
        let fd = s.into_raw();
        // SAFETY: fd is a connected TCP socket that we own and hand over.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        let _ = stream.set_read_timeout(Some(self.timeout));
        let _ = stream.set_write_timeout(Some(self.timeout));
        let _ = stream.set_nodelay(true);
        if let Ok(a) = stream.local_addr() {
            lock(&self.record).port = a.port();
        }
        Ok(stream)
    }

    /// One request on `s`: the answering server's name.
    fn ask(&self, s: &mut TcpStream) -> std::result::Result<String, String> {
        s.write_all(REQUEST).map_err(|e| format!("write: {e}"))?;
        read_answer(s)
    }
}

/// Reads one HTTP/1.1 answer with a Content-Length: its body, trimmed.
fn read_answer(s: &mut TcpStream) -> std::result::Result<String, String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = content_length(head).ok_or_else(|| format!("answer: {head:?}"))?;
            if body.len() >= len {
                if !head.starts_with("HTTP/1.1 200") {
                    return Err(format!("status: {head:?}"));
                }
                return Ok(body[..len].trim().to_string());
            }
        }
        if buf.len() > 64 * 1024 {
            return Err("answer too long".into());
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err("closed by the peer".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

/// An IPv4 TCP socket bound to `src` with send (connect) and receive timeouts; closed on
/// drop unless taken with [`Fd::into_raw`].
struct Fd(i32);

impl Fd {
    fn into_raw(self) -> i32 {
        let fd = self.0;
        std::mem::forget(self);
        fd
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: close(2) on a descriptor we own.
        unsafe { libc::close(self.0) };
    }
}

fn bound_socket(src: Ipv4Addr, timeout: Duration) -> std::io::Result<Fd> {
    // SAFETY: socket(2); the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = Fd(fd);
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    for opt in [libc::SO_SNDTIMEO, libc::SO_RCVTIMEO] {
        // SAFETY: setsockopt(2) with a timeval of the right size.
        unsafe {
            libc::setsockopt(
                fd.0,
                libc::SOL_SOCKET,
                opt,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
    }
    let addr = libc_addr(std::net::SocketAddrV4::new(src, 0));
    // SAFETY: bind(2) with a valid sockaddr_in.
    let rc = unsafe {
        libc::bind(
            fd.0,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn libc_addr(a: std::net::SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_found_in_any_case() {
        assert_eq!(
            content_length("HTTP/1.1 200 OK\r\ncontent-length: 4\r\nX: y"),
            Some(4)
        );
        assert_eq!(content_length("HTTP/1.1 200 OK\r\nX: y"), None);
    }
}
