//! Links and addresses through rtnetlink: look up interfaces, add and remove virtual
//! addresses, create the virtual-MAC macvlan, and watch link and address changes.
//!
//! Everything here is async and must run inside a tokio runtime: [`Netlink::new`] and
//! [`events`] spawn the task that drives their netlink socket (aborted on drop).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt, TryStreamExt};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute, LinkFlags, LinkMessage, MacVlanMode,
    State,
};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::sys::SocketAddr;
use rtnetlink::{
    AddressMessageBuilder, Handle, LinkMacVlan, LinkUnspec, MulticastGroup,
    new_multicast_connection,
};
use tokio::task::JoinHandle;

/// A failed netlink operation, with what was being done and to which interface/address.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel (or the netlink connection) refused a request.
    #[error("{op} ({target}): {source}")]
    Netlink {
        /// What was being done, e.g. `add address`.
        op: &'static str,
        /// The interface or address it was done to.
        target: String,
        /// The kernel's (or the connection's) error.
        #[source]
        source: rtnetlink::Error,
    },
    /// A bounded wait ran out.
    #[error("{op} ({target}): timed out after {timeout:?}")]
    Timeout {
        /// What was being done.
        op: &'static str,
        /// The interface or address it was done to.
        target: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// Something else, e.g. a created link that cannot be found.
    #[error("{op} ({target}): {message}")]
    Other {
        /// What was being done.
        op: &'static str,
        /// The interface or address it was done to.
        target: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// The errno the kernel answered with, if this is a kernel error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Netlink { source, .. } => errno(source),
            _ => None,
        }
    }
}

/// The result of a netlink operation.
pub type Result<T> = std::result::Result<T, Error>;

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn nl_err(op: &'static str, target: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let target = target.into();
    move |source| Error::Netlink { op, target, source }
}

/// An interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The interface index.
    pub index: u32,
    /// The interface name.
    pub name: String,
    /// Administratively up and with carrier (IFF_UP, and IFF_RUNNING or operstate up).
    pub up: bool,
    /// The hardware address, when it is an Ethernet one.
    pub mac: Option<[u8; 6]>,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Link {
        let mut name = String::new();
        let mut mac = None;
        let mut oper_up = false;
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => name.clone_from(n),
                LinkAttribute::Address(bytes) => mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
                LinkAttribute::OperState(s) => oper_up = *s == State::Up,
                _ => {}
            }
        }
        let flags = m.header.flags;
        Link {
            index: m.header.index,
            name,
            up: flags.contains(LinkFlags::Up) && (flags.contains(LinkFlags::Running) || oper_up),
            mac,
        }
    }
}

/// An address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The IPv4 label (`eth0:vip`), if any.
    pub label: Option<String>,
    /// IPv6 duplicate address detection has not finished (or failed): not usable as a source.
    pub tentative: bool,
    /// IPv4 secondary address (another address of the same subnet was there first).
    pub secondary: bool,
}

impl Address {
    fn from_message(m: &AddressMessage) -> Option<Address> {
        let mut local = None;
        let mut address = None;
        let mut label = None;
        let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                // The 32-bit attribute, when present, supersedes the 8-bit header field.
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
        // point-to-point links (IPv6 only sends IFA_ADDRESS).
        let addr = local.or(address)?;
        Some(Address {
            addr,
            prefix_len: m.header.prefix_len,
            label,
            tentative: flags.intersects(AddressFlags::Tentative | AddressFlags::Dadfailed),
            secondary: flags.contains(AddressFlags::Secondary),
        })
    }
}

/// What to add: a virtual address and its attributes (as keepalived's `virtual_ipaddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSpec {
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length (`/32` or `/128` for a plain VIP).
    pub prefix_len: u8,
    /// IPv4 broadcast. `None` keeps the usual one derived from the prefix (none for /31, /32).
    pub broadcast: Option<Ipv4Addr>,
    /// IPv4 label (`eth0:vip`); ignored for IPv6, which has no labels.
    pub label: Option<String>,
    /// RT_SCOPE_* (0 universe, 253 link, 254 host); `None` = universe.
    pub scope: Option<u8>,
    /// IFA_F_NODAD: skip duplicate address detection (IPv6 VIPs must be usable at once).
    pub nodad: bool,
}

impl AddressSpec {
    /// A plain address with defaults; IPv6 addresses get `nodad`.
    pub fn new(addr: IpAddr, prefix_len: u8) -> AddressSpec {
        AddressSpec {
            addr,
            prefix_len,
            broadcast: None,
            label: None,
            scope: None,
            nodad: addr.is_ipv6(),
        }
    }
}

/// A link or address change, from [`events`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A link appeared or changed. A deleted link is reported with `up: false`.
    Link(Link),
    /// An address was added, or its flags changed (e.g. an IPv6 address finished DAD: call
    /// [`Netlink::addresses`] to see whether it is still tentative).
    AddressAdded {
        /// The interface it is on.
        ifindex: u32,
        /// The address.
        addr: IpAddr,
    },
    /// An address was removed.
    AddressRemoved {
        /// The interface it was on.
        ifindex: u32,
        /// The address.
        addr: IpAddr,
    },
    /// The kernel dropped notifications (the socket's receive buffer overran, `ENOBUFS`):
    /// every link and address as dumped after the loss, or why the dump failed. Events
    /// after it apply on top of it.
    Resync(std::result::Result<Snapshot, String>),
}

/// Every link and address of the host, dumped after notifications were lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Every link.
    pub links: Vec<Link>,
    /// Every address, with the index of its interface.
    pub addresses: Vec<(u32, Address)>,
    /// Overruns seen since the previous snapshot (several coalesce into one dump).
    pub overruns: u64,
    /// From the first of those overruns to the end of the dump.
    pub took: Duration,
}

/// Aborts the netlink connection task when the last owner goes away.
#[derive(Debug)]
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An rtnetlink request connection.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: Handle,
    _task: Arc<Task>,
}

const ENODEV: i32 = libc::ENODEV;
const EEXIST: i32 = libc::EEXIST;
const EADDRNOTAVAIL: i32 = libc::EADDRNOTAVAIL;

impl Netlink {
    /// Opens a netlink socket and spawns its connection task on the current tokio runtime.
    pub fn new() -> io::Result<Netlink> {
        let (conn, handle, _unsolicited) = rtnetlink::new_connection()?;
        let task = tokio::spawn(conn);
        Ok(Netlink {
            handle,
            _task: Arc::new(Task(task)),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The link called `name`, or `None` if there is none.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<Link>> {
        let req = self.handle.link().get().match_name(name).execute();
        first_link(req, "get link", format!("interface {name}")).await
    }

    /// The link with index `index`, or `None` if there is none.
    pub async fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        let req = self.handle.link().get().match_index(index).execute();
        first_link(req, "get link", format!("ifindex {index}")).await
    }

    /// All links.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl_err("list links", "all"))?;
        Ok(msgs.iter().map(Link::from_message).collect())
    }

    /// The addresses of interface `ifindex` (both families).
    pub async fn addresses(&self, ifindex: u32) -> Result<Vec<Address>> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute()
            .try_collect()
            .await
            .map_err(nl_err("list addresses", format!("ifindex {ifindex}")))?;
        Ok(msgs.iter().filter_map(Address::from_message).collect())
    }

    /// Every address of the host (both families), with the index of its interface: one
    /// dump, where [`Netlink::addresses`] per interface would dump once per link.
    pub async fn all_addresses(&self) -> Result<Vec<(u32, Address)>> {
        let msgs: Vec<AddressMessage> =
            self.handle
                .address()
                .get()
                .execute()
                .try_collect()
                .await
                .map_err(nl_err("list addresses", "every interface".to_string()))?;
        Ok(msgs
            .iter()
            .filter_map(|m| Address::from_message(m).map(|a| (m.header.index, a)))
            .collect())
    }

    /// Adds an address; an address that is already there is not an error.
    pub async fn add_address(&self, ifindex: u32, spec: &AddressSpec) -> Result<()> {
        let target = format!("{}/{} on ifindex {ifindex}", spec.addr, spec.prefix_len);
        let mut req = self
            .handle
            .address()
            .add(ifindex, spec.addr, spec.prefix_len);
        let msg = req.message_mut();
        if let Some(brd) = spec.broadcast {
            msg.attributes
                .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
            if spec.addr.is_ipv4() {
                msg.attributes.push(AddressAttribute::Broadcast(brd));
            }
        }
        if let (Some(label), true) = (&spec.label, spec.addr.is_ipv4()) {
            msg.attributes.push(AddressAttribute::Label(label.clone()));
        }
        if let Some(scope) = spec.scope {
            msg.header.scope = AddressScope::from(scope);
        }
        if spec.nodad {
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
            Err(e) => Err(nl_err("add address", target)(e)),
        }
    }

    /// Removes an address; an address that is not there is not an error.
    pub async fn del_address(&self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let msg = match addr {
            IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(ifindex)
                .address(a, prefix_len)
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(ifindex)
                .address(a, prefix_len)
                .build(),
        };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(EADDRNOTAVAIL) => Ok(()),
            Err(e) => Err(nl_err(
                "delete address",
                format!("{addr}/{prefix_len} on ifindex {ifindex}"),
            )(e)),
        }
    }

    /// Creates (and sets up) a macvlan called `name` on `parent` with hardware address `mac`,
    /// for `use_vmac`. Returns its index. If a link of that name with that MAC already exists
    /// (a previous run), it is reused.
    ///
    /// Bridge mode: a peer's advertisements carry the same virtual MAC as source; in private
    /// (and passthru) mode the kernel hands such frames only to our own macvlan, hiding them
    /// from the base interface, while in bridge and VEPA mode they reach the base interface
    /// too, where the VRRP socket listens (see `VrrpSocket::open_on`). VEPA would hairpin
    /// traffic between local macvlans through the switch, which rarely supports it.
    ///
    /// IPv6: addrgenmode random, so the macvlan's link-local address (the source of IPv6
    /// advertisements) is not the EUI-64 of the shared virtual MAC, which would be the same on
    /// every router and fail DAD.
    pub async fn create_macvlan(&self, parent: u32, name: &str, mac: [u8; 6]) -> Result<u32> {
        let target = format!("{name} on ifindex {parent}");
        let msg = LinkMacVlan::new(name, parent, MacVlanMode::Bridge)
            .address(mac.to_vec())
            .build();
        match self.handle.link().add(msg).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(EEXIST) => {
                let existing = self.link_by_name(name).await?;
                if existing.as_ref().and_then(|l| l.mac) != Some(mac) {
                    return Err(nl_err("create macvlan", target)(e));
                }
            }
            Err(e) => return Err(nl_err("create macvlan", target)(e)),
        }
        let link = self.link_by_name(name).await?.ok_or_else(|| Error::Other {
            op: "create macvlan",
            target: target.clone(),
            message: "created link not found".into(),
        })?;
        let genmode = LinkUnspec::new_with_index(link.index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::Random)],
            )]))
            .build();
        self.handle
            .link()
            .set(genmode)
            .execute()
            .await
            .map_err(nl_err("set addrgenmode random", target))?;
        self.set_link_up(link.index).await?;
        Ok(link.index)
    }

    /// Deletes a link; a link that is already gone is not an error.
    pub async fn delete_link(&self, ifindex: u32) -> Result<()> {
        match self.handle.link().del(ifindex).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(nl_err("delete link", format!("ifindex {ifindex}"))(e)),
        }
    }

    /// Sets a link administratively up.
    pub async fn set_link_up(&self, ifindex: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(ifindex).up().build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(nl_err("set link up", format!("ifindex {ifindex}")))
    }

    /// Sets a link administratively down.
    pub async fn set_link_down(&self, ifindex: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(ifindex).down().build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(nl_err("set link down", format!("ifindex {ifindex}")))
    }
}

async fn first_link(
    req: impl Stream<Item = std::result::Result<LinkMessage, rtnetlink::Error>>,
    op: &'static str,
    target: String,
) -> Result<Option<Link>> {
    let mut req = std::pin::pin!(req);
    match req.try_next().await {
        Ok(m) => Ok(m.as_ref().map(Link::from_message)),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(nl_err(op, target)(e)),
    }
}

/// The first non-secondary IPv4 address: the instance's primary address (RFC 5798 §6.1,
/// the IPvX address the advertisements are sent from).
pub fn primary_ipv4(addrs: &[Address]) -> Option<Ipv4Addr> {
    addrs.iter().find_map(|a| match a.addr {
        IpAddr::V4(v4) if !a.secondary => Some(v4),
        _ => None,
    })
}

/// A usable (non-tentative) IPv6 link-local address (fe80::/10), the source of IPv6
/// advertisements (RFC 5798 §5.1.2.1).
pub fn link_local_ipv6(addrs: &[Address]) -> Option<Ipv6Addr> {
    addrs.iter().find_map(|a| match a.addr {
        IpAddr::V6(v6) if !a.tentative && (v6.segments()[0] & 0xffc0) == 0xfe80 => Some(v6),
        _ => None,
    })
}

/// Waits (polling every 50 ms, at most `timeout`) until interface `ifindex` has a usable
/// link-local address. A link-local stays tentative during DAD, about a second after the link
/// comes up, and cannot be used as a source address until then.
pub async fn wait_link_local(nl: &Netlink, ifindex: u32, timeout: Duration) -> Result<Ipv6Addr> {
    let poll = async {
        loop {
            if let Some(ll) = link_local_ipv6(&nl.addresses(ifindex).await?) {
                return Ok(ll);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    match tokio::time::timeout(timeout, poll).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            op: "wait for link-local address",
            target: format!("ifindex {ifindex}"),
            timeout,
        }),
    }
}

/// Overruns seen by every [`events`] stream of the process.
static OVERRUNS: AtomicU64 = AtomicU64::new(0);
/// Snapshots taken after overruns ([`Event::Resync`]), by every stream of the process.
static RESYNCS: AtomicU64 = AtomicU64::new(0);

/// How many times an [`events`] socket overran (the kernel dropped notifications).
pub fn overruns_total() -> u64 {
    OVERRUNS.load(Ordering::Relaxed)
}

/// How many full dumps followed overruns ([`Event::Resync`]).
pub fn resyncs_total() -> u64 {
    RESYNCS.load(Ordering::Relaxed)
}

type Dump = Pin<Box<dyn Future<Output = Result<(Vec<Link>, Vec<(u32, Address)>)>> + Send>>;

/// The stream returned by [`events`]; stops its connection task when dropped.
pub struct EventStream {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    pending: std::collections::VecDeque<Event>,
    /// For the dumps after an overrun.
    nl: Netlink,
    /// The dump under way, with when its first overrun was seen and how many it covers.
    dump: Option<(Dump, Instant, u64)>,
    /// Overruns seen while a dump ran: another dump follows it (that one may have missed
    /// what they dropped).
    again: Option<(Instant, u64)>,
    receive_buffer: usize,
    _task: Task,
}

impl EventStream {
    /// The socket's receive buffer as the kernel set it (twice what was asked, for its
    /// own bookkeeping).
    pub fn receive_buffer(&self) -> usize {
        self.receive_buffer
    }

    /// Dumps every link and address and reports them as an [`Event::Resync`], as after an
    /// overrun.
    pub fn request_resync(&mut self) {
        self.overrun(false);
    }

    fn overrun(&mut self, counted: bool) {
        let n = u64::from(counted);
        if counted {
            OVERRUNS.fetch_add(1, Ordering::Relaxed);
        }
        if self.dump.is_some() {
            // The dump under way may have been read before this loss: one more after it.
            self.again.get_or_insert((Instant::now(), 0)).1 += n;
            return;
        }
        self.start_dump(Instant::now(), n);
    }

    fn start_dump(&mut self, since: Instant, overruns: u64) {
        let nl = self.nl.clone();
        let dump: Dump = Box::pin(async move {
            let links = nl.links().await?;
            let addresses = nl.all_addresses().await?;
            Ok((links, addresses))
        });
        self.dump = Some((dump, since, overruns));
    }

    /// The finished dump as an event, if it is done.
    fn poll_dump(&mut self, cx: &mut Context<'_>) -> Option<Event> {
        let (dump, since, overruns) = self.dump.as_mut()?;
        let result = match dump.as_mut().poll(cx) {
            Poll::Ready(r) => r,
            Poll::Pending => return None,
        };
        let (since, overruns) = (*since, *overruns);
        self.dump = None;
        if let Some((next_since, next)) = self.again.take() {
            self.start_dump(next_since, next);
        }
        RESYNCS.fetch_add(1, Ordering::Relaxed);
        Some(Event::Resync(
            result
                .map(|(links, addresses)| Snapshot {
                    links,
                    addresses,
                    overruns,
                    took: since.elapsed(),
                })
                .map_err(|e| e.to_string()),
        ))
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Poll::Ready(Some(e));
            }
            if let Some(e) = self.poll_dump(cx) {
                return Poll::Ready(Some(e));
            }
            match self.messages.poll_next_unpin(cx) {
                Poll::Ready(Some((msg, _))) => {
                    if matches!(msg.payload, NetlinkPayload::Overrun(_)) {
                        self.overrun(true);
                    } else if let Some(e) = to_event(msg) {
                        self.pending.push_back(e);
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn to_event(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<Event> {
    let NetlinkPayload::InnerMessage(m) = msg.payload else {
        return None;
    };
    match m {
        RouteNetlinkMessage::NewLink(l) => Some(Event::Link(Link::from_message(&l))),
        RouteNetlinkMessage::DelLink(l) => {
            let mut link = Link::from_message(&l);
            link.up = false;
            Some(Event::Link(link))
        }
        RouteNetlinkMessage::NewAddress(a) => {
            Address::from_message(&a).map(|x| Event::AddressAdded {
                ifindex: a.header.index,
                addr: x.addr,
            })
        }
        RouteNetlinkMessage::DelAddress(a) => {
            Address::from_message(&a).map(|x| Event::AddressRemoved {
                ifindex: a.header.index,
                addr: x.addr,
            })
        }
        _ => None,
    }
}

/// The receive buffer [`events`] asks for: a burst of some thousand changes fits.
pub const EVENTS_RECEIVE_BUFFER: usize = 4 << 20;

/// Subscribes to link and address changes (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
/// RTNLGRP_IPV6_IFADDR) on a netlink connection of its own, with a receive buffer of
/// `receive_buffer` bytes (SO_RCVBUFFORCE with CAP_NET_ADMIN, else SO_RCVBUF within
/// `net.core.rmem_max`). Must be called inside a tokio runtime. When the kernel drops
/// messages all the same (the buffer overran), the stream dumps every link and address
/// and reports them as one [`Event::Resync`].
pub async fn events(receive_buffer: usize) -> io::Result<EventStream> {
    let (mut conn, _handle, messages) = new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    let fd = conn.socket_mut().as_raw_fd();
    let receive_buffer = set_receive_buffer(fd, receive_buffer)?;
    let nl = Netlink::new()?;
    let task = tokio::spawn(conn);
    Ok(EventStream {
        messages,
        pending: Default::default(),
        nl,
        dump: None,
        again: None,
        receive_buffer,
        _task: Task(task),
    })
}

/// Sets a socket's receive buffer, forced past `rmem_max` when allowed; returns the size
/// the kernel set.
fn set_receive_buffer(fd: RawFd, bytes: usize) -> io::Result<usize> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let set = |option| {
        // SAFETY: a valid descriptor and a c_int of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&raw const value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if set(libc::SO_RCVBUFFORCE) != 0 && set(libc::SO_RCVBUF) != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut got: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid descriptor, and room for a c_int.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw mut got).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(got).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str, tentative: bool, secondary: bool) -> Address {
        Address {
            addr: s.parse().expect("address"),
            prefix_len: 24,
            label: None,
            tentative,
            secondary,
        }
    }

    #[test]
    fn primary_is_first_non_secondary_ipv4() {
        let a = [
            addr("fd99::1", false, false),
            addr("10.99.0.9", false, true),
            addr("10.99.0.1", false, false),
        ];
        assert_eq!(primary_ipv4(&a), Some(Ipv4Addr::new(10, 99, 0, 1)));
        assert_eq!(primary_ipv4(&a[..2]), None);
    }

    #[test]
    fn link_local_skips_tentative() {
        let a = [
            addr("fd99::1", false, false),
            addr("fe80::1", true, false),
            addr("fe80::2", false, false),
        ];
        assert_eq!(link_local_ipv6(&a), Some("fe80::2".parse().expect("addr")));
        assert_eq!(link_local_ipv6(&a[..2]), None);
    }
}
