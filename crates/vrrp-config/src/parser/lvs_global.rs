//! The top-level `SSL { }` and the LVS keywords of `global_defs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::lvs::port;
use super::{BlockCtx, Parser, Stmt, word};
use crate::keywords::Block;
use crate::model::{FlushOnStop, LbDataplane, Location, LvsSyncDaemon, LvsTimeouts};
use crate::value;

impl<'t> Parser<'t, '_> {
    /// The top-level `SSL { }`.
    pub(super) fn ssl_block(&mut self, st: &Stmt<'t>) {
        self.no_args(st);
        if !self.expect_top_open(st) {
            return;
        }
        let ctx = BlockCtx {
            name: "SSL",
            span: st.span(),
        };
        let mut tls = self.ssl.take().unwrap_or_default();
        let mut seen = HashMap::new();
        while let Some(s) = self.lvs_stmt(&ctx, Block::Ssl, None, &mut seen) {
            let Some((s, _)) = s else { continue };
            let path = |p: &mut Self| p.value(&s, |w| Ok(PathBuf::from(w))).map(|v| v.v);
            match s.name {
                "password" => tls.password = self.value(&s, |w| Ok(w.to_owned())).map(|v| v.v),
                "ca" => tls.ca = path(self).or(tls.ca),
                "certificate" => tls.certificate = path(self).or(tls.certificate),
                "key" => tls.key = path(self).or(tls.key),
                _ => self.unsupported(&s, Block::Ssl),
            }
        }
        self.ssl = Some(tls);
    }

    /// The LVS keywords of `global_defs`.
    pub(super) fn lvs_global(&mut self, s: &Stmt<'t>) {
        match s.name {
            "lb_dataplane" => {
                if let Some(v) = self.value(s, |w| match w {
                    "auto" => Ok(LbDataplane::Auto),
                    "nftables" => Ok(LbDataplane::Nftables),
                    "ipvs" => Ok(LbDataplane::Ipvs),
                    _ => Err("must be auto, nftables or ipvs".to_owned()),
                }) {
                    self.global.defs.lvs.dataplane = v.v;
                }
            }
            "lvs_flush" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.lvs.flush = v.v;
                }
            }
            "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                self.global.defs.lvs.flush_on_stop = match s.args.as_slice() {
                    [] => FlushOnStop::All,
                    [v] if word(v) == "VS" => FlushOnStop::VirtualServers,
                    [v, ..] => {
                        self.d.error_hint(
                            v.span,
                            format!("unexpected `{}` after `{}`", word(v), s.name),
                            format!("write `{}` or `{} VS`", s.name, s.name),
                        );
                        return;
                    }
                };
            }
            "checker_log_all_failures" | "rs_init_notifies" | "lb_nat_masquerade" => {
                if let Some(v) = self.flag(s) {
                    let g = &mut self.global.defs.lvs;
                    match s.name {
                        "rs_init_notifies" => g.rs_init_notifies = v.v,
                        "lb_nat_masquerade" => g.nat_masquerade = v.v,
                        _ => g.checker_log_all_failures = v.v,
                    }
                }
            }
            "bgp_announce_table" => {
                let max = i64::from(crate::model::BGP_MAX_TABLE);
                if let Some(v) = self.value(s, |w| value::int(w, 1, max)) {
                    self.global.defs.lvs.bgp.table = u32::try_from(v.v).unwrap_or(200);
                }
            }
            "bgp_announce_drain" => {
                if let Some(v) = self.value(s, |w| value::timer(w, 3600)) {
                    self.global.defs.lvs.bgp.drain = v.v;
                }
            }
            "bgp_frr_config" => {
                if let Some(v) = self.value(s, |w| Ok(PathBuf::from(w))) {
                    self.global.defs.lvs.bgp.frr_config = v.v;
                }
            }
            "lvs_timeouts" => self.lvs_timeouts(s),
            "lvs_sync_daemon" => self.lvs_sync_daemon(s),
            "lvs_notify_fifo" => self.fifo(s),
            _ => self.fifo_script(s),
        }
    }

    fn lvs_timeouts(&mut self, s: &Stmt<'t>) {
        let mut t = LvsTimeouts::default();
        let mut it = s.args.iter();
        while let Some(k) = it.next() {
            let Some(v) = it.next() else {
                self.d
                    .error(k.span, format!("`{}` needs a number of seconds", word(k)));
                return;
            };
            let secs = match value::int(word(v), 1, 86400 * 365) {
                Ok(n) => Duration::from_secs(n.unsigned_abs()),
                Err(reason) => {
                    self.d.error(
                        v.span,
                        format!("invalid {} `{}`: {reason}", word(k), word(v)),
                    );
                    return;
                }
            };
            let slot = match word(k) {
                "tcp" => &mut t.tcp,
                "tcpfin" => &mut t.tcpfin,
                "udp" => &mut t.udp,
                w => {
                    self.d.error_hint(
                        k.span,
                        format!("unexpected `{w}` in `lvs_timeouts`"),
                        "write `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`",
                    );
                    return;
                }
            };
            *slot = Some(secs);
        }
        self.global.defs.lvs.timeouts = Some(t);
    }

    fn lvs_sync_daemon(&mut self, s: &Stmt<'t>) {
        const HINT: &str = "write `lvs_sync_daemon IF [inst VRRP] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`";
        let Some((ifname, rest)) = s.args.split_first() else {
            self.d
                .error_hint(s.span(), "`lvs_sync_daemon` needs an interface", HINT);
            return;
        };
        let interface = match value::ifname(word(ifname)) {
            Ok(n) => n,
            Err(reason) => {
                self.d.error(
                    ifname.span,
                    format!("invalid interface `{}`: {reason}", word(ifname)),
                );
                return;
            }
        };
        let mut sd = LvsSyncDaemon {
            interface,
            instance: None,
            sync_id: None,
            max_len: None,
            port: None,
            ttl: None,
            group: None,
            location: Location {
                file: PathBuf::new(),
                line: 0,
                column: 0,
            },
        };
        let mut i = 0;
        while let Some(k) = rest.get(i) {
            let key = word(k);
            let known = matches!(key, "inst" | "id" | "maxlen" | "port" | "ttl" | "group");
            // keepalived's old form: `lvs_sync_daemon IF VRRP_INSTANCE [SYNC_ID]`.
            if !known && i <= 1 {
                if i == 0 {
                    sd.instance = Some(key.to_owned());
                } else {
                    match value::int(key, 0, 255) {
                        Ok(n) => sd.sync_id = u8::try_from(n).ok(),
                        Err(reason) => {
                            self.d
                                .error(k.span, format!("invalid sync id `{key}`: {reason}"));
                            return;
                        }
                    }
                    self.d.warn_hint(
                        k.span,
                        "the sync id without `id` is deprecated",
                        "write `id N`",
                    );
                }
                i += 1;
                continue;
            }
            let Some(v) = rest.get(i + 1) else {
                self.d
                    .error_hint(k.span, format!("`{key}` needs a value"), HINT);
                return;
            };
            i += 2;
            let w = word(v);
            let res: Result<(), String> = match key {
                "inst" => {
                    sd.instance = Some(w.to_owned());
                    Ok(())
                }
                "id" => value::int(w, 0, 255).map(|n| sd.sync_id = u8::try_from(n).ok()),
                "maxlen" => value::int(w, 1, 65535 - 20 - 8)
                    .map(|n| sd.max_len = Some(u16::try_from(n).unwrap_or(0))),
                "port" => port(w).map(|n| sd.port = Some(n)),
                "ttl" => value::int(w, 1, 255).map(|n| sd.ttl = Some(u8::try_from(n).unwrap_or(1))),
                "group" => match value::ip(w) {
                    Ok(a) if a.is_multicast() => {
                        sd.group = Some(a);
                        Ok(())
                    }
                    Ok(_) => Err("is not a multicast address".to_owned()),
                    Err(e) => Err(e),
                },
                other => {
                    self.d.error_hint(
                        k.span,
                        format!("unexpected `{other}` in `lvs_sync_daemon`"),
                        HINT,
                    );
                    return;
                }
            };
            if let Err(reason) = res {
                self.d
                    .error(v.span, format!("invalid {key} `{w}`: {reason}"));
                return;
            }
        }
        self.global.lvs_sync_span = Some(s.span());
        self.global.defs.lvs.sync_daemon = Some(sd);
    }
}
