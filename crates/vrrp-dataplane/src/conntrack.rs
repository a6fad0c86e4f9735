//! Ending a removed destination's connections: every conntrack entry carrying its mark is
//! deleted through ctnetlink (one `IPCTNL_MSG_CT_DELETE` with a mark filter, which the kernel
//! runs as a filtered flush).
//!
//! Without its entry, the client's next packet is a new flow: it is balanced to a live
//! server, which answers a mid-stream segment with a reset, so the client reconnects at
//! once instead of retransmitting into a server that is gone.

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use crate::DataPathError;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const CTA_MARK: u16 = 8;
const CTA_MARK_MASK: u16 = 21;

/// The request: nlmsghdr, nfgenmsg (AF_UNSPEC: both families), CTA_MARK, CTA_MARK_MASK.
fn delete_by_mark_request(mark: u32, seq: u32) -> Vec<u8> {
    let mut msg = Vec::with_capacity(36);
    msg.extend_from_slice(&36u32.to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE).to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&[0, 0, 0, 0]); // family AF_UNSPEC, version 0, res_id 0
    for (kind, value) in [(CTA_MARK, mark), (CTA_MARK_MASK, u32::MAX)] {
        msg.extend_from_slice(&8u16.to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&value.to_be_bytes());
    }
    msg
}

/// The errno of the kernel's acknowledgement (0: done).
fn ack_errno(reply: &[u8]) -> Result<i32, DataPathError> {
    let bad = || DataPathError::Conntrack("a malformed ctnetlink answer".into());
    let kind = u16::from_ne_bytes(
        reply
            .get(4..6)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    if kind != NLMSG_ERROR {
        return Err(bad());
    }
    let code = i32::from_ne_bytes(
        reply
            .get(16..20)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    Ok(-code)
}

/// Deletes every connection marked `mark` (none is not an error).
pub(crate) fn delete_marked(mark: u32) -> Result<(), DataPathError> {
    let fail =
        |what: &str, e: std::io::Error| DataPathError::Conntrack(format!("ctnetlink {what}: {e}"));
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(|e| fail("socket", e))?;
    socket.bind_auto().map_err(|e| fail("bind", e))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(|e| fail("connect", e))?;
    socket
        .send(&delete_by_mark_request(mark, 1), 0)
        .map_err(|e| fail("send", e))?;
    // The kernel answers while handling the send, so this read does not wait.
    let mut reply = Vec::with_capacity(4096);
    socket.recv(&mut reply, 0).map_err(|e| fail("recv", e))?;
    match ack_errno(&reply)? {
        0 | libc::ENOENT => Ok(()),
        errno => Err(DataPathError::Conntrack(format!(
            "deleting the connections of mark {mark:#x}: {}",
            std::io::Error::from_raw_os_error(errno)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let m = delete_by_mark_request(0x7600_0001, 7);
        assert_eq!(m.len(), 36);
        assert_eq!(&m[4..6], &0x0102u16.to_ne_bytes());
        assert_eq!(&m[24..28], &0x7600_0001u32.to_be_bytes());
        assert_eq!(&m[32..36], &u32::MAX.to_be_bytes());
    }

    #[test]
    fn ack_parsing() {
        let mut r = vec![0u8; 36];
        r[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        r[16..20].copy_from_slice(&(-2i32).to_ne_bytes());
        assert_eq!(ack_errno(&r).unwrap(), 2);
        assert!(ack_errno(&r[..10]).is_err());
    }
}
