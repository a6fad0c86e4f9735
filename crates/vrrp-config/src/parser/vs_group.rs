//! `virtual_server_group NAME { }`: addresses, ranges and fwmarks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use vrrp_lb::spec::{IpFamily, ServiceAddr};

use super::lvs::RawVsGroup;
use super::lvs::{family, fwmark, port};
use super::{At, BlockCtx, Parser, Stmt, word};
use crate::source::Token;
use crate::value;
/// The last address of a group range `FIRST-END`: END is a whole address, or replaces the
/// last byte (IPv4, decimal) or the last group (IPv6, hex), as keepalived reads it.
fn range_end(first: IpAddr, end: &str) -> Result<IpAddr, String> {
    if let Ok(last) = end.parse::<IpAddr>() {
        return Ok(last);
    }
    match first {
        IpAddr::V4(a) => {
            let n = value::int(end, 0, 255)
                .map_err(|_| format!("`{end}` is not an address nor a last byte 0-255"))?;
            let [b0, b1, b2, _] = a.octets();
            Ok(IpAddr::V4(Ipv4Addr::new(
                b0,
                b1,
                b2,
                u8::try_from(n).unwrap_or(0),
            )))
        }
        IpAddr::V6(a) => {
            let n = u16::from_str_radix(end, 16)
                .map_err(|_| format!("`{end}` is not an address nor a last group 0-ffff"))?;
            let mut seg = a.segments();
            seg[7] = n;
            Ok(IpAddr::V6(Ipv6Addr::from(seg)))
        }
    }
}

/// `A.B.C.D-E`, `IP1-IP2` or `NET/LEN` as the first and last address, or a single address.
fn addr_or_range(s: &str) -> Result<(IpAddr, IpAddr), String> {
    if let Some((a, b)) = s.split_once('-') {
        let first = value::ip(a)?;
        let last = range_end(first, b)?;
        if first.is_ipv4() != last.is_ipv4() {
            return Err("both ends of a range must be of one family".to_owned());
        }
        if last < first {
            return Err("the range ends before it starts".to_owned());
        }
        return Ok((first, last));
    }
    if s.contains('/') {
        let (net, len) = value::ip_prefix(s)?;
        return Ok(match net {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let lo = u32::from(a) & !mask;
                (
                    IpAddr::V4(Ipv4Addr::from(lo)),
                    IpAddr::V4(Ipv4Addr::from(lo | mask)),
                )
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let lo = u128::from(a) & !mask;
                (
                    IpAddr::V6(Ipv6Addr::from(lo)),
                    IpAddr::V6(Ipv6Addr::from(lo | mask)),
                )
            }
        });
    }
    let a = value::ip(s)?;
    Ok((a, a))
}

impl<'t> Parser<'t, '_> {
    pub(super) fn vs_group(&mut self, st: &Stmt<'t>) {
        let Some((name, name_span)) = self.named_block(st) else {
            return;
        };
        let ctx = BlockCtx {
            name: "virtual_server_group",
            span: st.span(),
        };
        let mut addrs = Vec::new();
        while let Some(words) = self.next_list_line(&ctx) {
            if let Some(a) = self.group_line(&words) {
                addrs.push(a);
            }
        }
        self.vs_groups.push(RawVsGroup {
            name,
            span: st.span(),
            name_span,
            addrs,
        });
    }

    fn group_line(&mut self, words: &[&'t Token]) -> Option<At<ServiceAddr>> {
        const HINT: &str = "one entry per line: `IP [PORT]`, `A.B.C.D-E [PORT]`, `NET/LEN [PORT]` or `fwmark N [inet|inet6]`";
        let (first, rest) = words.split_first()?;
        let span = first.span;
        if word(first) == "fwmark" {
            let (m, fam) = match rest {
                [m] => (m, None),
                [m, f] => (m, Some(f)),
                _ => {
                    self.d.error_hint(span, "`fwmark` needs a mark", HINT);
                    return None;
                }
            };
            let mark = fwmark(word(m))
                .map_err(|r| {
                    self.d
                        .error(m.span, format!("invalid fwmark `{}`: {r}", word(m)))
                })
                .ok()?;
            let family = match fam {
                None => IpFamily::V4,
                Some(f) => family(word(f))
                    .map_err(|r| {
                        self.d
                            .error(f.span, format!("invalid family `{}`: {r}", word(f)))
                    })
                    .ok()?,
            };
            return Some(At {
                v: ServiceAddr::Fwmark { mark, family },
                span,
            });
        }
        let (first_ip, last) = match addr_or_range(word(first)) {
            Ok(v) => v,
            Err(reason) => {
                self.d.error_hint(
                    span,
                    format!(
                        "invalid entry `{}` in `virtual_server_group`: {reason}",
                        word(first)
                    ),
                    HINT,
                );
                return None;
            }
        };
        let p = match rest {
            [] => 0,
            [p] => port(word(p))
                .map_err(|r| {
                    self.d
                        .error(p.span, format!("invalid port `{}`: {r}", word(p)))
                })
                .ok()?,
            [_, extra, ..] => {
                self.d.error_hint(
                    extra.span,
                    format!("unexpected `{}` in `virtual_server_group`", word(extra)),
                    HINT,
                );
                return None;
            }
        };
        let v = if first_ip == last {
            ServiceAddr::Socket(SocketAddr::new(first_ip, p))
        } else {
            ServiceAddr::Range {
                first: first_ip,
                last,
                port: p,
            }
        };
        Some(At { v, span })
    }
}
