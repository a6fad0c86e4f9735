//! A synchronous generic netlink socket speaking to the family `IPVS`: requests with an
//! acknowledgement, and dumps.
//!
//! The kernel handles a generic netlink request while the sender is in `sendmsg` (and a
//! dump while the reader is in `recvmsg`), so reads never wait on anything but the kernel.

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use super::message::{FAMILY, IpvsMessage};

/// What went wrong talking to IPVS.
#[derive(Debug)]
pub(crate) enum NlError {
    /// The socket itself.
    Io(std::io::Error),
    /// The kernel refused the request with this errno.
    Kernel(i32),
    /// The kernel has no family `IPVS` (no ip_vs module, or no IPVS at all).
    NoFamily,
    /// An answer that does not parse.
    Decode(String),
}

impl std::fmt::Display for NlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NlError::Io(e) => write!(f, "generic netlink socket: {e}"),
            NlError::Kernel(errno) => {
                write!(f, "{}", std::io::Error::from_raw_os_error(*errno))
            }
            NlError::NoFamily => write!(
                f,
                "this kernel has no IPVS (generic netlink family {FAMILY} not found)"
            ),
            NlError::Decode(e) => write!(f, "a malformed IPVS answer: {e}"),
        }
    }
}

/// One message of an answer, decoded with `P`.
enum Part<P> {
    Data(P),
    Ack,
    Done,
}

/// The socket and the family's number.
pub(crate) struct IpvsSocket {
    socket: Socket,
    family: u16,
    seq: u32,
}

impl std::fmt::Debug for IpvsSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpvsSocket")
            .field("family", &self.family)
            .finish()
    }
}

impl IpvsSocket {
    /// Opens a socket and resolves the family (which makes the kernel load ip_vs: genl
    /// requests the module aliased `net-pf-16-proto-16-family-IPVS`).
    pub(crate) fn open() -> Result<IpvsSocket, NlError> {
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(NlError::Io)?;
        socket.bind_auto().map_err(NlError::Io)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(NlError::Io)?;
        let mut me = IpvsSocket {
            socket,
            family: 0,
            seq: 0,
        };
        me.family = me.resolve()?;
        Ok(me)
    }

    fn resolve(&mut self) -> Result<u16, NlError> {
        let ctrl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY.to_owned())],
        });
        let seq = self.send(ctrl, NLM_F_REQUEST | NLM_F_ACK)?;
        let mut family = None;
        loop {
            match self.receive::<GenlMessage<GenlCtrl>>(seq) {
                Err(NlError::Kernel(libc::ENOENT)) => return Err(NlError::NoFamily),
                Err(e) => return Err(e),
                Ok(parts) => {
                    for part in parts {
                        match part {
                            Part::Data(m) => {
                                family = m.payload.nlas.iter().find_map(|a| match a {
                                    GenlCtrlAttrs::FamilyId(id) => Some(*id),
                                    _ => None,
                                })
                            }
                            Part::Ack | Part::Done => {
                                return family
                                    .ok_or(NlError::Decode("the family answer has no id".into()));
                            }
                        }
                    }
                }
            }
        }
    }

    fn send<P>(&mut self, payload: P, flags: u16) -> Result<u32, NlError>
    where
        P: netlink_packet_core::NetlinkSerializable,
    {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(NlError::Io)?;
        Ok(self.seq)
    }

    /// The messages of one datagram that answer `seq` (others are stale and skipped).
    fn receive<P>(&mut self, seq: u32) -> Result<Vec<Part<P>>, NlError>
    where
        P: netlink_packet_core::NetlinkDeserializable,
    {
        let (datagram, _) = self.socket.recv_from_full().map_err(NlError::Io)?;
        parse_datagram(&datagram, seq)
    }

    fn genl(&self, msg: IpvsMessage) -> GenlMessage<IpvsMessage> {
        let mut m = GenlMessage::from_payload(msg);
        m.set_resolved_family_id(self.family);
        m
    }

    /// Sends `msg` and waits for the kernel's acknowledgement.
    pub(crate) fn request(&mut self, msg: IpvsMessage) -> Result<(), NlError> {
        let seq = self.send(self.genl(msg), NLM_F_REQUEST | NLM_F_ACK)?;
        loop {
            for part in self.receive::<GenlMessage<IpvsMessage>>(seq)? {
                if let Part::Ack | Part::Done = part {
                    return Ok(());
                }
            }
        }
    }

    /// Sends `msg` as a dump request and collects the answer.
    pub(crate) fn dump(&mut self, msg: IpvsMessage) -> Result<Vec<IpvsMessage>, NlError> {
        let seq = self.send(self.genl(msg), NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP)?;
        let mut out = Vec::new();
        loop {
            for part in self.receive::<GenlMessage<IpvsMessage>>(seq)? {
                match part {
                    Part::Data(m) => out.push(m.payload),
                    Part::Ack | Part::Done => return Ok(out),
                }
            }
        }
    }
}

/// The netlink messages of `datagram` answering `seq`, decoded; an error message is the
/// kernel's errno.
fn parse_datagram<P>(datagram: &[u8], seq: u32) -> Result<Vec<Part<P>>, NlError>
where
    P: netlink_packet_core::NetlinkDeserializable,
{
    let mut parts = Vec::new();
    let mut at = 0;
    while at < datagram.len() {
        let rest = &datagram[at..];
        let len = NetlinkBuffer::new_checked(rest)
            .map_err(|e| NlError::Decode(e.to_string()))?
            .length() as usize;
        let msg = NetlinkMessage::<P>::deserialize(&rest[..len])
            .map_err(|e| NlError::Decode(e.to_string()))?;
        // Netlink aligns messages to 4 bytes.
        at += len.div_ceil(4) * 4;
        if msg.header.sequence_number != seq {
            continue;
        }
        match msg.payload {
            NetlinkPayload::Error(e) => match e.code {
                None => parts.push(Part::Ack),
                Some(code) => return Err(NlError::Kernel(code.get().saturating_abs())),
            },
            NetlinkPayload::Done(_) => parts.push(Part::Done),
            NetlinkPayload::InnerMessage(m) => parts.push(Part::Data(m)),
            _ => {}
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_datagram_is_an_error() {
        let mut d = vec![0u8; 20];
        d[0..4].copy_from_slice(&40u32.to_ne_bytes());
        assert!(matches!(
            parse_datagram::<GenlMessage<IpvsMessage>>(&d, 1),
            Err(NlError::Decode(_))
        ));
    }

    #[test]
    fn an_error_message_is_the_errno() {
        let mut d = vec![0u8; 36];
        d[0..4].copy_from_slice(&36u32.to_ne_bytes());
        d[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        d[8..12].copy_from_slice(&7u32.to_ne_bytes());
        d[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        d[20..24].copy_from_slice(&16u32.to_ne_bytes());
        assert!(matches!(
            parse_datagram::<GenlMessage<IpvsMessage>>(&d, 7),
            Err(NlError::Kernel(17))
        ));
        // Another request's answer is skipped.
        assert!(matches!(
            parse_datagram::<GenlMessage<IpvsMessage>>(&d, 8),
            Ok(v) if v.is_empty()
        ));
    }
}
