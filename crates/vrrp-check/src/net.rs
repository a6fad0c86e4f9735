//! Where a network checker connects and from where: `connect_ip`, `connect_port`, `bindto`,
//! `bind_port`, `bind_if` (SO_BINDTODEVICE) and `fwmark` (SO_MARK).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};
use vrrp_lb::check::CheckTarget;
use vrrp_lb::spec::RealServerKey;

use crate::Stage;

/// A checker's resolved endpoints.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Where to connect.
    pub(crate) addr: SocketAddr,
    bind: Option<SocketAddr>,
    bind_if: Option<String>,
    fwmark: Option<u32>,
}

impl Target {
    pub(crate) fn new(t: &CheckTarget, rs: RealServerKey) -> Target {
        let ip = t.connect_ip.unwrap_or(rs.addr);
        let addr = SocketAddr::new(ip, t.connect_port.unwrap_or(rs.port));
        let bind = match (t.bindto, t.bind_port) {
            (None, None) => None,
            (ip, port) => Some(SocketAddr::new(
                ip.unwrap_or_else(|| unspecified(addr.ip())),
                port.unwrap_or(0),
            )),
        };
        Target {
            addr,
            bind,
            bind_if: t.bind_if.clone(),
            fwmark: t.fwmark,
        }
    }

    /// A plain target (genhash).
    pub(crate) fn plain(addr: SocketAddr, fwmark: Option<u32>) -> Target {
        Target {
            addr,
            bind: None,
            bind_if: None,
            fwmark,
        }
    }

    /// A non-blocking socket of the target's family with the source settings applied.
    pub(crate) fn socket(&self, ty: Type, proto: Protocol) -> io::Result<Socket> {
        let s = Socket::new(Domain::for_address(self.addr), ty, Some(proto))?;
        self.prepare(&s)?;
        Ok(s)
    }

    /// Applies `bind_if`, `fwmark`, `bindto` and `bind_port` to `s`, and makes it
    /// non-blocking.
    pub(crate) fn prepare(&self, s: &Socket) -> io::Result<()> {
        s.set_nonblocking(true)?;
        if let Some(dev) = &self.bind_if {
            s.bind_device(Some(dev.as_bytes()))?;
        }
        if let Some(mark) = self.fwmark {
            s.set_mark(mark)?;
        }
        if let Some(b) = self.bind {
            if b.port() != 0 {
                // A fixed source port must be reusable by the next probe while the last
                // connection from it is in TIME_WAIT.
                s.set_reuse_address(true)?;
            }
            s.bind(&b.into())?;
        }
        Ok(())
    }
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// A fresh TCP connection to the target (TCP_CHECK is this alone).
pub(crate) async fn connect_tcp(t: &Target, stage: &Stage) -> Result<TcpStream, String> {
    stage.set("connecting");
    let fail = |e: io::Error| format!("connect to {}: {}", t.addr, io_reason(&e));
    let s = t
        .socket(Type::STREAM, Protocol::TCP)
        .map_err(|e| format!("socket for {}: {}", t.addr, io_reason(&e)))?;
    let s = TcpSocket::from_std_stream(std::net::TcpStream::from(s));
    let stream = s.connect(t.addr).await.map_err(fail)?;
    // A health check is a few small writes; waiting for ACKs (Nagle) only adds latency.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// An I/O error as a short lower-case phrase: "connection refused", not
/// "Connection refused (os error 111)".
pub(crate) fn io_reason(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let phrase = match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::UnexpectedEof => "connection closed by the server",
        K::BrokenPipe => "connection closed by the server (broken pipe)",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::PermissionDenied => "permission denied",
        K::AddrNotAvailable => "address not available",
        K::AddrInUse => "address in use",
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            let mut c = text.chars();
            return match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => "I/O error".to_string(),
            };
        }
    };
    phrase.to_string()
}
