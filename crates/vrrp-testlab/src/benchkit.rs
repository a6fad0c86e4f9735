//! Pieces shared by the namespace-LAN benchmarks (`vrrp-bench` and its outage part): the
//! real-time clock of kernel packet stamps, raw sockets inside a lab namespace, a link
//! switch, the protocol's timing bounds, daemon start-up and small statistics.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::budget::Budget;
use crate::{Daemon, DaemonProc, Node};

/// Errors of the benchmarks: a message.
pub type Res<T> = Result<T, String>;

/// Locks a mutex, also one a panicking thread left poisoned.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Maps an error to a message prefixed with `what`.
pub fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}
// ---------------------------------------------------------------------------
// Clock, deadlines

/// CLOCK_REALTIME in nanoseconds (the clock of the kernel's packet time stamps).
pub fn realtime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Nanoseconds as milliseconds.
pub fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// The 1/5/15-minute load averages, as text.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    loadavg()
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A small xorshift generator for the kill phase.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniform fraction in [0, 1).
    pub fn frac(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
// ---------------------------------------------------------------------------
// Namespaces and raw sockets

/// Runs `f` on a thread that joined the network namespace `ns` (namespaces are per thread;
/// sockets created there stay in that namespace wherever they are used).
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Res<T> + Send + 'static,
) -> Res<T> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(err(&path))?;
    std::thread::spawn(move || {
        // SAFETY: setns on this thread only.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        f()
    })
    .join()
    .map_err(|_| "netns thread panicked".to_string())?
}

/// The index of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> Res<i32> {
    let c = CString::new(name).map_err(err("ifname"))?;
    // SAFETY: valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(format!("no interface {name}"));
    }
    Ok(i as i32)
}

/// An AF_PACKET socket bound to `ifname` in the calling thread's namespace.
pub fn packet_socket(ifname: &str) -> Res<(OwnedFd, i32)> {
    let idx = ifindex(ifname)?;
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from((libc::ETH_P_ALL as u16).to_be()),
        )
    };
    if fd < 0 {
        return Err(format!(
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = idx;
    // SAFETY: sll is a valid sockaddr_ll of that size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(format!(
            "bind AF_PACKET: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok((fd, idx))
}

/// `struct ifreq` with the flags member (40 bytes on Linux).
#[repr(C)]
struct IfreqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Sets a link up or down with SIOCSIFFLAGS on a socket of the link's namespace: a
/// pulled cable within microseconds, no process to start.
pub struct LinkSwitch {
    fd: OwnedFd,
    name: String,
}

impl LinkSwitch {
    /// A switch for `ifname` in namespace `ns`.
    pub fn open(ns: &str, ifname: &str) -> Res<LinkSwitch> {
        let fd = in_netns(ns, || {
            // SAFETY: plain socket(2).
            let fd =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(format!("socket: {}", std::io::Error::last_os_error()));
            }
            // SAFETY: fresh descriptor we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })?;
        Ok(LinkSwitch {
            fd,
            name: ifname.to_string(),
        })
    }

    /// Sets the link up or down.
    pub fn set(&self, up: bool) -> Res<()> {
        let mut req = IfreqFlags {
            name: [0; 16],
            flags: 0,
            _pad: [0; 22],
        };
        let n = self.name.len().min(15);
        req.name[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        // SAFETY: ioctl with a properly sized ifreq.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } != 0 {
            return Err(format!("SIOCGIFFLAGS: {}", std::io::Error::last_os_error()));
        }
        if up {
            req.flags |= libc::IFF_UP as libc::c_short;
        } else {
            req.flags &= !(libc::IFF_UP as libc::c_short);
        }
        // SAFETY: as above.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } != 0 {
            return Err(format!("SIOCSIFFLAGS: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
pub fn parse_mac(s: &str) -> Res<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    v.try_into().map_err(|_| format!("bad MAC {s}"))
}
/// The Internet checksum (RFC 1071) of `d`.
pub fn csum(d: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in d.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
/// Centiseconds as seconds: `100` -> "1", `10` -> "0.1", `1` -> "0.01".
pub fn fmt_secs(cs: u16) -> String {
    if cs.is_multiple_of(100) {
        format!("{}", cs / 100)
    } else if cs.is_multiple_of(10) {
        format!("0.{}", cs / 10)
    } else {
        format!("0.{cs:02}")
    }
}

/// Skew_Time in ns for the backup's priority, from the Master's advertised interval.
pub fn skew_ns(version: u8, prio: u8, int_cs: u16) -> i64 {
    let w = 256 - i64::from(prio);
    if version == 2 {
        w * 1_000_000_000 / 256
    } else {
        w * i64::from(int_cs) * 10_000_000 / 256
    }
}

/// Master_Down_Interval in ns: 3 × the Master's interval + Skew_Time.
pub fn mdi_ns(version: u8, prio: u8, int_cs: u16) -> i64 {
    3 * i64::from(int_cs) * 10_000_000 + skew_ns(version, prio, int_cs)
}

/// The processes of a running daemon: (role, pid). keepalived: "parent" and "vrrp".
pub fn daemon_pids(d: &DaemonProc) -> Vec<(&'static str, i32)> {
    match d.daemon {
        Daemon::Keepalived => {
            let mut v = vec![("parent", d.pid() as i32)];
            v.extend(d.proc.children().into_iter().map(|p| ("vrrp", p)));
            v
        }
        Daemon::Vrrpd { .. } => vec![("vrrpd", d.pid() as i32)],
    }
}

/// Starts `daemon` on `node` with the config text `conf`.
pub fn start_daemon(daemon: &Daemon, node: &Node, conf: &str) -> Res<DaemonProc> {
    let d = daemon.start(node, conf).map_err(|e| e.to_string())?;
    Ok(d)
}

/// Waits until a started daemon runs (keepalived: until its VRRP child exists).
pub fn wait_daemon(b: &Budget, d: &DaemonProc) -> Res<()> {
    d.wait_started(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    if matches!(d.daemon, Daemon::Keepalived) {
        b.wait(
            "keepalived's VRRP child",
            Duration::from_secs(10),
            Duration::from_millis(10),
            || !d.proc.children().is_empty() || !d.is_running(),
        )?;
    }
    if !d.is_running() {
        return Err(format!("{} exited:\n{}", d.daemon.name(), d.tail(20)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Statistics
/// Nearest-rank percentile of sorted values.
pub fn pct(sorted: &[i64], p: f64) -> i64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
    sorted[rank.min(n) - 1]
}

/// Order statistics of a sample.
pub struct Stats {
    /// Number of values.
    pub n: usize,
    /// Smallest value.
    pub min: i64,
    /// Median (nearest rank).
    pub med: i64,
    /// 90th percentile (nearest rank).
    pub p90: i64,
    /// Largest value.
    pub max: i64,
}

/// Count, min, median, p90 and max of the present values.
pub fn stats(v: impl Iterator<Item = Option<i64>>) -> Option<Stats> {
    let mut s: Vec<i64> = v.flatten().collect();
    if s.is_empty() {
        return None;
    }
    s.sort_unstable();
    Some(Stats {
        n: s.len(),
        min: s[0],
        med: pct(&s, 50.0),
        p90: pct(&s, 90.0),
        max: s[s.len() - 1],
    })
}

/// Nanoseconds as milliseconds with 2 or 3 significant digits.
pub fn f2(ns: i64) -> String {
    let m = ms(ns);
    if m.abs() >= 100.0 {
        format!("{m:.0}")
    } else if m.abs() >= 10.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.2}")
    }
}
/// The current UTC time as `YYYY-MM-DD HH:MM UTC`, without a date crate.
pub fn chrono_utc() -> String {
    let secs = realtime_ns() / 1_000_000_000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60
    )
}

/// Turns on kernel receive time stamps (`SO_TIMESTAMPNS`) on a socket.
pub fn enable_stamps(fd: &OwnedFd) -> Res<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt with an int.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    if r != 0 {
        return Err(format!(
            "SO_TIMESTAMPNS: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// One frame read from a non-blocking packet socket.
pub struct Stamped {
    /// Frame length in the buffer.
    pub len: usize,
    /// Kernel receive stamp (CLOCK_REALTIME ns), or the read time when it was missing or
    /// implausible (`fallback`).
    pub t: i64,
    /// Whether `t` is the read time.
    pub fallback: bool,
    /// `sll_pkttype`: `PACKET_OUTGOING` for frames the interface sent.
    pub pkttype: u8,
}

/// Reads one frame with its kernel time stamp; `None` when nothing is queued.
pub fn recv_stamped(fd: &OwnedFd, buf: &mut [u8]) -> Option<Stamped> {
    let mut cbuf = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero sockaddr_ll and msghdr are valid; we set the buffers.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: recvmsg into our buffers on a non-blocking socket.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n <= 0 {
        return None;
    }
    let mut t = None;
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                t = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let now = realtime_ns();
    let (t, fallback) = match t {
        Some(t) if (now - t).abs() < 2_000_000_000 => (t, false),
        _ => (now, true),
    };
    Some(Stamped {
        len: n as usize,
        t,
        fallback,
        pkttype: sll.sll_pkttype,
    })
}

/// Waits up to `wait` (at most 1 s) for any of `fds` to become readable.
pub fn poll_in(fds: &[&OwnedFd], wait: Duration) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: wait.as_nanos().min(999_999_999) as libc::c_long,
    };
    // SAFETY: a valid pollfd array of that length, a valid timespec, no signal mask.
    unsafe {
        libc::ppoll(
            p.as_mut_ptr(),
            p.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
}

/// Sends one frame on a bound packet socket (a lost probe is just a lost probe).
pub fn send_frame(fd: &OwnedFd, f: &[u8]) {
    // SAFETY: send(2) on a bound packet socket.
    unsafe { libc::send(fd.as_raw_fd(), f.as_ptr().cast(), f.len(), 0) };
}

/// SIGKILL to every process of a daemon, keepalived's VRRP child first, so that nothing
/// shuts down gracefully.
pub fn sigkill_all(d: &DaemonProc) {
    for &(_, pid) in daemon_pids(d).iter().rev() {
        // SAFETY: kill(2) on our own daemon's verified PIDs.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// A named background thread, told to stop and joined on drop.
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Runs `f(stop)` on a thread named `name`; `f` returns once `stop` is set.
    pub fn spawn(name: &str, f: impl FnOnce(&AtomicBool) + Send + 'static) -> Res<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(&s))
            .map_err(err(name))?;
        Ok(Worker {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
