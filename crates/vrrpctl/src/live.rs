//! Live capture: an AF_PACKET raw socket bound to one interface, all protocols; and the
//! SIGINT/SIGTERM flag that ends a capture cleanly.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::capture::{LINKTYPE_ETHERNET, LINKTYPE_RAW};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs SIGINT and SIGTERM handlers that set the stop flag (without SA_RESTART, so a
/// blocked `recv` returns EINTR at once).
pub fn install_stop_handlers() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic,
        // which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// True once SIGINT or SIGTERM arrived (after [`install_stop_handlers`]).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A bound AF_PACKET socket.
pub struct LiveCapture {
    fd: OwnedFd,
    /// How frames from this interface are parsed.
    pub linktype: u32,
    buf: Vec<u8>,
}

const ETH_P_ALL: u16 = 0x0003;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;

impl LiveCapture {
    /// Opens a raw packet socket on `ifname`. Fails with a clear message when the
    /// interface does not exist or the process lacks CAP_NET_RAW.
    pub fn open(ifname: &str) -> io::Result<LiveCapture> {
        let cname = CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
        // SAFETY: cname is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no such interface: {ifname}"),
            ));
        }
        let proto = ETH_P_ALL.to_be();
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("cannot open a packet socket (needs root or CAP_NET_RAW): {e}"),
            ));
        }
        // SAFETY: raw is a fresh, owned descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        // SAFETY: a zeroed sockaddr_ll is valid; the fields set below are plain data.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
        // SAFETY: sll is a properly sized sockaddr_ll.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("cannot bind to {ifname}: {e}"),
            ));
        }

        // Timeout on recv so that --duration and the stop flag are checked regularly.
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: tv is a valid timeval of the given size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }

        let linktype = match hardware_type(&fd, ifname) {
            Some(ARPHRD_ETHER | ARPHRD_LOOPBACK) | None => LINKTYPE_ETHERNET,
            // Tunnels and other link types without an Ethernet header start at IP.
            Some(_) => LINKTYPE_RAW,
        };
        Ok(LiveCapture {
            fd,
            linktype,
            buf: vec![0; 65_536],
        })
    }

    /// The next frame, or `Ok(None)` after the receive timeout (or a signal).
    pub fn next_frame(&mut self) -> io::Result<Option<&[u8]>> {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let n = usize::try_from(n).unwrap_or(0);
        Ok(self.buf.get(..n))
    }
}

/// The ARPHRD_* type of the interface (SIOCGIFHWADDR).
fn hardware_type(fd: &OwnedFd, ifname: &str) -> Option<u16> {
    // SAFETY: a zeroed ifreq is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(ifname.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return None;
    }
    // SAFETY: SIOCGIFHWADDR fills ifru_hwaddr.
    Some(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

/// A deadline helper for `--duration`.
pub fn deadline(duration: Option<f64>) -> Option<std::time::Instant> {
    duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| std::time::Instant::now() + Duration::from_secs_f64(d.min(1e9)))
}
