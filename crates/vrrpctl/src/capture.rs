//! Readers for capture files: classic pcap (both byte orders, microsecond and nanosecond
//! timestamps) and pcapng (SHB, IDB, EPB, SPB and the obsolete PB; either byte order;
//! several sections and interfaces).
//!
//! Hand-written rather than taken from a crate: the formats are small (this file), the
//! readers must never panic or allocate without bound on hostile bytes (a capture handed
//! over in a ticket), and we need exactly the cases tcpdump and tshark write, including
//! SPB and per-interface timestamp resolution, which the small crates do not all cover.

use std::fmt;
use std::io::{self, Read};

/// The largest record or block accepted. Real captures stay far below (the default
/// snaplen is 262,144 bytes); anything larger is a corrupt length field, refused before
/// allocating.
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Link-layer header types (<https://www.tcpdump.org/linktypes.html>).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Raw IP, version from the first nibble.
pub const LINKTYPE_RAW: u32 = 101;
/// Linux "cooked" capture, version 1 (`tcpdump -i any`).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// Raw IPv4.
pub const LINKTYPE_IPV4: u32 = 228;
/// Raw IPv6.
pub const LINKTYPE_IPV6: u32 = 229;
/// Linux "cooked" capture, version 2.
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// A point in time, seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Whole seconds.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// The current wall-clock time (the epoch if the clock is before it).
    pub fn now() -> Timestamp {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(_) => Timestamp::default(),
        }
    }

    /// Seconds as a float, for interval arithmetic.
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// RFC 3339, UTC, microseconds: `2026-11-29T07:40:01.123456Z`.
    pub fn rfc3339(self) -> String {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.nanos / 1000
        )
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // d is in 1..=31 and m in 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// When it was captured.
    pub time: Timestamp,
    /// Its link-layer header type (`LINKTYPE_*`).
    pub linktype: u32,
    /// The captured bytes (possibly cut at the snapshot length).
    pub data: Vec<u8>,
    /// The length of the frame on the wire.
    pub orig_len: u32,
}

/// Why a capture file could not be read.
#[derive(Debug)]
pub enum CaptureError {
    /// Reading failed.
    Io(io::Error),
    /// Neither pcap nor pcapng.
    BadMagic(u32),
    /// The file ends inside a header, record or block.
    Truncated(&'static str),
    /// A length field that cannot be right.
    BadLength(&'static str, u64),
    /// A packet block names an interface that no IDB described.
    UnknownInterface(u32),
    /// One of the others, where it happened: after `frames` good frames, with `offset`
    /// bytes of the file read (for a truncated file, where it ends).
    At {
        /// Frames read before the error.
        frames: u64,
        /// Bytes of the file read when the error was found.
        offset: u64,
        /// What went wrong.
        error: Box<CaptureError>,
    },
}

impl CaptureError {
    /// Whether the file ends inside a header, record or block (a file still being
    /// written, a killed tcpdump): what came before is good.
    pub fn is_truncated(&self) -> bool {
        match self {
            CaptureError::Truncated(_) => true,
            CaptureError::At { error, .. } => error.is_truncated(),
            _ => false,
        }
    }

    /// What went wrong, without the position.
    pub fn kind(&self) -> &CaptureError {
        match self {
            CaptureError::At { error, .. } => error.kind(),
            other => other,
        }
    }

    fn at(self, frames: u64, offset: u64) -> CaptureError {
        match self {
            CaptureError::At { .. } => self,
            error => CaptureError::At {
                frames,
                offset,
                error: Box::new(error),
            },
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io(e) => write!(f, "{e}"),
            CaptureError::BadMagic(m) => {
                write!(f, "not a pcap or pcapng file (magic number {m:#010x})")
            }
            CaptureError::Truncated(what) => write!(f, "file ends inside a {what}"),
            CaptureError::BadLength(what, len) => write!(f, "bad {what} length {len}"),
            CaptureError::UnknownInterface(id) => {
                write!(f, "packet block for undeclared interface {id}")
            }
            CaptureError::At {
                frames,
                offset,
                error,
            } => write!(f, "{error} (at byte {offset}, after {frames} frames)"),
        }
    }
}

impl std::error::Error for CaptureError {}

impl From<io::Error> for CaptureError {
    fn from(e: io::Error) -> Self {
        CaptureError::Io(e)
    }
}

/// Byte order of a file or section.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let bytes: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(bytes),
            Endian::Big => u16::from_be_bytes(bytes),
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(bytes),
            Endian::Big => u32::from_be_bytes(bytes),
        })
    }

    fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u64::from_le_bytes(bytes),
            Endian::Big => u64::from_be_bytes(bytes),
        })
    }
}

/// Reads as many bytes as `buf` holds. `Ok(0)` at a clean end of file, `Ok(buf.len())`
/// when filled, and the short count otherwise.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads exactly `len` bytes (bounded by [`MAX_RECORD`]), or fails as truncated.
fn read_vec(r: &mut impl Read, len: usize, what: &'static str) -> Result<Vec<u8>, CaptureError> {
    if len > MAX_RECORD {
        return Err(CaptureError::BadLength(what, len as u64));
    }
    let mut v = vec![0; len];
    if read_full(r, &mut v)? != len {
        return Err(CaptureError::Truncated(what));
    }
    Ok(v)
}

/// Classic pcap state.
struct PcapState {
    endian: Endian,
    nanos: bool,
    linktype: u32,
}

/// One pcapng interface (IDB).
#[derive(Clone, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp resolution: `(base, exponent)`, units of base^-exponent seconds.
    tsresol: (u8, u8),
    /// if_tsoffset: seconds added to every timestamp.
    tsoffset: i64,
}

struct PcapNgState {
    endian: Endian,
    interfaces: Vec<Interface>,
}

enum Format {
    Pcap(PcapState),
    PcapNg(PcapNgState),
}

/// A reader over a pcap or pcapng stream; an iterator of frames.
pub struct CaptureReader<R> {
    inner: Counted<R>,
    format: Format,
    done: bool,
    frames: u64,
}

/// A reader that counts the bytes read, so that errors can say where they are.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BYTE_ORDER: u32 = 0x1a2b_3c4d;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_PB: u32 = 2;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;

impl<R: Read> CaptureReader<R> {
    /// Reads the file header (pcap) or the first section header (pcapng).
    pub fn new(inner: R) -> Result<CaptureReader<R>, CaptureError> {
        let mut inner = Counted { inner, read: 0 };
        let format = read_header(&mut inner).map_err(|e| e.at(0, inner.read))?;
        Ok(CaptureReader {
            inner,
            format,
            done: false,
            frames: 0,
        })
    }

    /// The next frame, `Ok(None)` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let result = match &mut self.format {
            Format::Pcap(state) => next_pcap(&mut self.inner, state),
            Format::PcapNg(state) => next_pcapng(&mut self.inner, state),
        };
        match result {
            Ok(Some(frame)) => {
                self.frames += 1;
                Ok(Some(frame))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e.at(self.frames, self.inner.read))
            }
        }
    }
}

/// Reads the file header (pcap) or the first section header (pcapng).
fn read_header(inner: &mut impl Read) -> Result<Format, CaptureError> {
    let mut magic = [0u8; 4];
    if read_full(inner, &mut magic)? != 4 {
        return Err(CaptureError::Truncated("file header"));
    }
    let le = u32::from_le_bytes(magic);
    let be = u32::from_be_bytes(magic);
    let format = if le == PCAPNG_SHB {
        // The SHB type reads the same in both orders; the byte-order magic decides.
        let endian = read_shb(inner)?;
        Format::PcapNg(PcapNgState {
            endian,
            interfaces: Vec::new(),
        })
    } else {
        let (endian, nanos) = match (le, be) {
            (PCAP_MAGIC_US, _) => (Endian::Little, false),
            (PCAP_MAGIC_NS, _) => (Endian::Little, true),
            (_, PCAP_MAGIC_US) => (Endian::Big, false),
            (_, PCAP_MAGIC_NS) => (Endian::Big, true),
            _ => return Err(CaptureError::BadMagic(be)),
        };
        let mut rest = [0u8; 20];
        if read_full(inner, &mut rest)? != 20 {
            return Err(CaptureError::Truncated("file header"));
        }
        // version (4), thiszone (4), sigfigs (4), snaplen (4), then the link type in the low
        // 16 bits (the upper ones carry FCS information).
        let network = endian.u32(&rest, 16).unwrap_or(0);
        Format::Pcap(PcapState {
            endian,
            nanos,
            linktype: network & 0xffff,
        })
    };
    Ok(format)
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<Frame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

fn next_pcap(r: &mut impl Read, st: &PcapState) -> Result<Option<Frame>, CaptureError> {
    let mut hdr = [0u8; 16];
    match read_full(r, &mut hdr)? {
        0 => return Ok(None),
        16 => {}
        _ => return Err(CaptureError::Truncated("record header")),
    }
    let e = st.endian;
    let secs = e.u32(&hdr, 0).unwrap_or(0);
    let frac = e.u32(&hdr, 4).unwrap_or(0);
    let incl = e.u32(&hdr, 8).unwrap_or(0);
    let orig = e.u32(&hdr, 12).unwrap_or(0);
    let data = read_vec(r, incl as usize, "record")?;
    let nanos = if st.nanos {
        frac
    } else {
        frac.saturating_mul(1000)
    };
    // A fraction of a second or more (a writer bug) carries into the seconds.
    let time = Timestamp {
        secs: i64::from(secs) + i64::from(nanos / 1_000_000_000),
        nanos: nanos % 1_000_000_000,
    };
    Ok(Some(Frame {
        time,
        linktype: st.linktype,
        data,
        orig_len: orig,
    }))
}

/// Reads the rest of a section header block after its type; returns the byte order.
fn read_shb(r: &mut impl Read) -> Result<Endian, CaptureError> {
    let mut head = [0u8; 8];
    if read_full(r, &mut head)? != 8 {
        return Err(CaptureError::Truncated("section header block"));
    }
    let endian = match u32::from_le_bytes([head[4], head[5], head[6], head[7]]) {
        PCAPNG_BYTE_ORDER => Endian::Little,
        _ if u32::from_be_bytes([head[4], head[5], head[6], head[7]]) == PCAPNG_BYTE_ORDER => {
            Endian::Big
        }
        other => return Err(CaptureError::BadMagic(other)),
    };
    let total = endian.u32(&head, 0).unwrap_or(0) as usize;
    if total < 28 || !total.is_multiple_of(4) {
        return Err(CaptureError::BadLength(
            "section header block",
            total as u64,
        ));
    }
    // Skip version, section length, options and the trailing length: total - 12 read.
    read_vec(r, total - 12, "section header block")?;
    Ok(endian)
}

fn next_pcapng(r: &mut impl Read, st: &mut PcapNgState) -> Result<Option<Frame>, CaptureError> {
    loop {
        let mut head = [0u8; 8];
        match read_full(r, &mut head)? {
            0 => return Ok(None),
            8 => {}
            _ => return Err(CaptureError::Truncated("block header")),
        }
        let raw_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if raw_type == PCAPNG_SHB {
            // A new section: its own byte order and interface numbering. The 8 bytes
            // already read are the type and the length, which read_shb reads again
            // from its own buffer, so hand it a reader that replays the length.
            let replay = head.get(4..8).unwrap_or(&[]).to_vec();
            let mut chained = io::Cursor::new(replay).chain(&mut *r);
            st.endian = read_shb(&mut chained)?;
            st.interfaces.clear();
            continue;
        }
        let e = st.endian;
        let block_type = e.u32(&head, 0).unwrap_or(0);
        let total = e.u32(&head, 4).unwrap_or(0) as usize;
        if total < 12 || !total.is_multiple_of(4) {
            return Err(CaptureError::BadLength("block", total as u64));
        }
        // Body plus the trailing copy of the length.
        let body = read_vec(r, total - 8, "block")?;
        let body = body.get(..body.len().saturating_sub(4)).unwrap_or(&[]);
        match block_type {
            PCAPNG_IDB => st.interfaces.push(parse_idb(e, body)?),
            PCAPNG_EPB | PCAPNG_PB => {
                let (iface, ts_at, cap_at) = if block_type == PCAPNG_EPB {
                    (e.u32(body, 0), 4, 12)
                } else {
                    (e.u16(body, 0).map(u32::from), 4, 12)
                };
                // A block too short for its fields is a bad length, not the end of the file.
                let short = CaptureError::BadLength("packet block", total as u64);
                let iface_id = iface.ok_or(short)?;
                let ifc = st
                    .interfaces
                    .get(iface_id as usize)
                    .ok_or(CaptureError::UnknownInterface(iface_id))?;
                let (Some(hi), Some(lo), Some(caplen), Some(orig)) = (
                    e.u32(body, ts_at),
                    e.u32(body, ts_at + 4),
                    e.u32(body, cap_at),
                    e.u32(body, cap_at + 4),
                ) else {
                    return Err(CaptureError::BadLength("packet block", total as u64));
                };
                let start = cap_at + 8;
                let data = body
                    .get(start..start.saturating_add(caplen as usize))
                    .ok_or(CaptureError::BadLength("packet data", u64::from(caplen)))?;
                let ts = u64::from(hi) << 32 | u64::from(lo);
                return Ok(Some(Frame {
                    time: convert_ts(ts, ifc),
                    linktype: ifc.linktype,
                    data: data.to_vec(),
                    orig_len: orig,
                }));
            }
            PCAPNG_SPB => {
                let ifc = st
                    .interfaces
                    .first()
                    .ok_or(CaptureError::UnknownInterface(0))?;
                let orig = e
                    .u32(body, 0)
                    .ok_or(CaptureError::BadLength("packet block", total as u64))?;
                let avail = body.len().saturating_sub(4);
                let mut caplen = (orig as usize).min(avail);
                if ifc.snaplen != 0 {
                    caplen = caplen.min(ifc.snaplen as usize);
                }
                let data = body.get(4..4 + caplen).unwrap_or(&[]);
                // SPBs carry no timestamp.
                return Ok(Some(Frame {
                    time: Timestamp::default(),
                    linktype: ifc.linktype,
                    data: data.to_vec(),
                    orig_len: orig,
                }));
            }
            // Name resolution, statistics, decryption secrets, custom blocks: skipped.
            _ => {}
        }
    }
}

fn parse_idb(e: Endian, body: &[u8]) -> Result<Interface, CaptureError> {
    let (Some(linktype), Some(snaplen)) = (e.u16(body, 0), e.u32(body, 4)) else {
        // The block is too short for its fields (the file goes on).
        return Err(CaptureError::BadLength(
            "interface description block",
            body.len() as u64 + 12,
        ));
    };
    let mut ifc = Interface {
        linktype: u32::from(linktype),
        snaplen,
        tsresol: (10, 6),
        tsoffset: 0,
    };
    // Options: code (2), length (2), value padded to 4.
    let mut at = 8usize;
    while let (Some(code), Some(len)) = (e.u16(body, at), e.u16(body, at + 2)) {
        let value_at = at + 4;
        let len = usize::from(len);
        let Some(value) = body.get(value_at..value_at + len) else {
            break;
        };
        match code {
            0 => break,
            // if_tsresol: high bit set = power of two, else power of ten.
            9 => {
                if let Some(&v) = value.first() {
                    ifc.tsresol = if v & 0x80 != 0 {
                        (2, v & 0x7f)
                    } else {
                        (10, v)
                    };
                }
            }
            // if_tsoffset: signed 64-bit seconds.
            14 => {
                if let Some(v) = e.u64(value, 0) {
                    ifc.tsoffset = v as i64;
                }
            }
            _ => {}
        }
        at = value_at + len.div_ceil(4) * 4;
    }
    Ok(ifc)
}

/// A pcapng timestamp in the interface's units to seconds and nanoseconds.
fn convert_ts(ts: u64, ifc: &Interface) -> Timestamp {
    let (secs, nanos) = match ifc.tsresol {
        (2, exp) => {
            let exp = u32::from(exp.min(63));
            let secs = ts >> exp;
            let frac = ts & ((1u64 << exp) - 1);
            (secs, ((u128::from(frac) * 1_000_000_000) >> exp) as u32)
        }
        (_, exp) => {
            let exp = u32::from(exp.min(38));
            let unit = 10u128.pow(exp);
            let secs = u128::from(ts) / unit;
            let frac = u128::from(ts) % unit;
            (
                u64::try_from(secs).unwrap_or(u64::MAX),
                (frac * 1_000_000_000 / unit) as u32,
            )
        }
    };
    Timestamp {
        secs: i64::try_from(secs)
            .unwrap_or(i64::MAX)
            .saturating_add(ifc.tsoffset),
        nanos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn pcap_file(
        endian: Endian,
        nanos: bool,
        linktype: u32,
        records: &[(u32, u32, &[u8])],
    ) -> Vec<u8> {
        let w32 = |v: u32| match endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        let w16 = |v: u16| match endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        let mut f = Vec::new();
        f.extend(w32(if nanos { PCAP_MAGIC_NS } else { PCAP_MAGIC_US }));
        f.extend(w16(2));
        f.extend(w16(4));
        f.extend(w32(0));
        f.extend(w32(0));
        f.extend(w32(65535));
        f.extend(w32(linktype));
        for (s, frac, data) in records {
            f.extend(w32(*s));
            f.extend(w32(*frac));
            f.extend(w32(data.len() as u32));
            f.extend(w32(data.len() as u32 + 4));
            f.extend_from_slice(data);
        }
        f
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Frame>, CaptureError> {
        CaptureReader::new(Cursor::new(bytes.to_vec()))?.collect()
    }

    #[test]
    fn pcap_both_orders_and_resolutions() {
        for endian in [Endian::Little, Endian::Big] {
            for nanos in [false, true] {
                let file = pcap_file(
                    endian,
                    nanos,
                    LINKTYPE_ETHERNET,
                    &[(1_700_000_000, 123_456, b"abc"), (1_700_000_001, 7, b"")],
                );
                let frames = read_all(&file).unwrap();
                assert_eq!(frames.len(), 2);
                assert_eq!(frames[0].data, b"abc");
                assert_eq!(frames[0].orig_len, 7);
                assert_eq!(frames[0].linktype, 1);
                assert_eq!(frames[0].time.secs, 1_700_000_000);
                let want = if nanos { 123_456 } else { 123_456_000 };
                assert_eq!(frames[0].time.nanos, want, "{endian:?} nanos={nanos}");
                assert_eq!(frames[1].data, b"");
            }
        }
    }

    #[test]
    fn pcap_linktype_fcs_bits_are_masked() {
        let file = pcap_file(Endian::Little, false, 0x1400_0000 | 113, &[]);
        let reader = CaptureReader::new(Cursor::new(file)).unwrap();
        match reader.format {
            Format::Pcap(st) => assert_eq!(st.linktype, 113),
            Format::PcapNg(_) => panic!("pcap expected"),
        }
    }

    #[test]
    fn pcap_truncated_record_is_an_error_after_the_good_ones() {
        let mut file = pcap_file(Endian::Little, false, 1, &[(1, 0, b"abcd")]);
        file.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
        let mut r = CaptureReader::new(Cursor::new(file)).unwrap();
        assert!(r.next_frame().unwrap().is_some());
        let err = r.next_frame().unwrap_err();
        assert!(err.is_truncated(), "{err}");
        // 24 bytes of header, 20 of the good record, the 6 of the cut one.
        assert_eq!(
            err.to_string(),
            "file ends inside a record header (at byte 50, after 1 frames)"
        );
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn bad_magic_and_huge_record() {
        assert!(matches!(
            read_all(b"GIF89a........................").map_err(|e| e.kind().to_string()),
            Err(e) if e.starts_with("not a pcap")
        ));
        assert!(read_all(b"\xd4\xc3").unwrap_err().is_truncated());
        let mut file = pcap_file(Endian::Little, false, 1, &[]);
        file.extend([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let err = read_all(&file).unwrap_err();
        assert!(matches!(err.kind(), CaptureError::BadLength(..)), "{err}");
    }

    /// pcapng writer for tests: blocks in the given byte order.
    struct Ng {
        big: bool,
        out: Vec<u8>,
    }

    impl Ng {
        fn w32(&self, v: u32) -> [u8; 4] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn w16(&self, v: u16) -> [u8; 2] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn block(&mut self, kind: u32, body: &[u8]) {
            let mut body = body.to_vec();
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let total = body.len() as u32 + 12;
            let (k, t) = (self.w32(kind), self.w32(total));
            self.out.extend(k);
            self.out.extend(t);
            self.out.extend(body);
            self.out.extend(t);
        }
        fn shb(&mut self) {
            let mut b = Vec::new();
            b.extend(self.w32(PCAPNG_BYTE_ORDER));
            b.extend(self.w16(1));
            b.extend(self.w16(0));
            b.extend([0xff; 8]);
            self.block(PCAPNG_SHB, &b);
        }
        fn idb(&mut self, linktype: u16, tsresol: Option<u8>) {
            let mut b = Vec::new();
            b.extend(self.w16(linktype));
            b.extend(self.w16(0));
            b.extend(self.w32(262_144));
            // An if_name option first, to check option walking.
            b.extend(self.w16(2));
            b.extend(self.w16(5));
            b.extend(b"veth0\0\0\0");
            if let Some(r) = tsresol {
                b.extend(self.w16(9));
                b.extend(self.w16(1));
                b.extend([r, 0, 0, 0]);
            }
            b.extend(self.w16(0));
            b.extend(self.w16(0));
            self.block(PCAPNG_IDB, &b);
        }
        fn epb(&mut self, iface: u32, ts: u64, data: &[u8]) {
            let mut b = Vec::new();
            b.extend(self.w32(iface));
            b.extend(self.w32((ts >> 32) as u32));
            b.extend(self.w32(ts as u32));
            b.extend(self.w32(data.len() as u32));
            b.extend(self.w32(data.len() as u32));
            b.extend(data);
            self.block(PCAPNG_EPB, &b);
        }
        fn spb(&mut self, data: &[u8]) {
            let mut b = Vec::new();
            b.extend(self.w32(data.len() as u32));
            b.extend(data);
            self.block(PCAPNG_SPB, &b);
        }
    }

    #[test]
    fn pcapng_both_orders_epb_spb_tsresol_and_sections() {
        for big in [false, true] {
            let mut ng = Ng {
                big,
                out: Vec::new(),
            };
            ng.shb();
            ng.idb(1, None);
            ng.idb(276, Some(9));
            ng.block(5, &[0; 12]); // an interface statistics block, skipped
            ng.epb(0, 1_700_000_000_123_456, b"hello");
            ng.epb(1, 1_700_000_000_123_456_789, b"x");
            ng.spb(b"simple");
            // A second section in the other byte order resets the interfaces.
            let mut second = Ng {
                big: !big,
                out: Vec::new(),
            };
            second.shb();
            second.idb(113, Some(0x80 | 10));
            second.epb(0, (5u64 << 10) | 512, b"two");
            ng.out.extend(second.out);
            let frames = read_all(&ng.out).unwrap();
            assert_eq!(frames.len(), 4, "big={big}");
            assert_eq!(frames[0].data, b"hello");
            assert_eq!(frames[0].linktype, 1);
            assert_eq!(
                frames[0].time,
                Timestamp {
                    secs: 1_700_000_000,
                    nanos: 123_456_000
                }
            );
            assert_eq!(frames[1].linktype, 276);
            assert_eq!(
                frames[1].time,
                Timestamp {
                    secs: 1_700_000_000,
                    nanos: 123_456_789
                }
            );
            assert_eq!(frames[2].data, b"simple");
            assert_eq!(frames[2].linktype, 1);
            assert_eq!(frames[3].linktype, 113);
            assert_eq!(
                frames[3].time,
                Timestamp {
                    secs: 5,
                    nanos: 500_000_000
                }
            );
        }
    }

    #[test]
    fn pcapng_packet_before_idb_is_an_error() {
        let mut ng = Ng {
            big: false,
            out: Vec::new(),
        };
        ng.shb();
        ng.epb(3, 0, b"x");
        let err = read_all(&ng.out).unwrap_err();
        assert!(
            matches!(err.kind(), CaptureError::UnknownInterface(3)),
            "{err}"
        );
    }

    #[test]
    fn rfc3339() {
        let t = Timestamp { secs: 0, nanos: 0 };
        assert_eq!(t.rfc3339(), "1970-01-01T00:00:00.000000Z");
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(t.rfc3339(), "2023-11-14T22:13:20.123456Z");
        let t = Timestamp {
            secs: 951_782_400,
            nanos: 0,
        }; // leap day
        assert_eq!(t.rfc3339(), "2000-02-29T00:00:00.000000Z");
    }
}
