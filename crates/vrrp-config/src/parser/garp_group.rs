//! The top-level `garp_group { }`: the gaps between gratuitous ARPs and between unsolicited
//! NAs of the instances on one interface (keepalived's per-interface `vrrp_garp_interval`).

use std::collections::HashMap;
use std::time::Duration;

use super::{At, BlockCtx, Next, Parser, Stmt};
use crate::diag::Span;
use crate::keywords::{self, Block};
use crate::value;

/// One `garp_group { }` as written.
#[derive(Debug)]
pub(crate) struct RawGarpGroup {
    pub span: Span,
    pub garp_interval: Option<Duration>,
    pub gna_interval: Option<Duration>,
    pub interface: Option<At<String>>,
}

impl<'t> Parser<'t, '_> {
    pub(super) fn garp_group(&mut self, st: &Stmt<'t>) {
        const MAX_TIMER: u64 = u32::MAX as u64 / 1000;
        self.no_args(st);
        if !self.expect_top_open(st) {
            return;
        }
        let ctx = BlockCtx {
            name: "garp_group",
            span: st.span(),
        };
        let mut group = RawGarpGroup {
            span: st.span(),
            garp_interval: None,
            gna_interval: None,
            interface: None,
        };
        let mut seen = HashMap::new();
        while let Next::Stmt(s) = self.next_in_block(&ctx) {
            if keywords::lookup(Block::GarpGroup, s.name).is_none() {
                self.unsupported(&s, Block::GarpGroup);
                continue;
            }
            if !self.first_time(&s, Block::GarpGroup, &mut seen) {
                continue;
            }
            match s.name {
                "garp_interval" => {
                    if let Some(v) = self.value(&s, |w| value::timer(w, MAX_TIMER)) {
                        group.garp_interval = Some(v.v);
                    }
                }
                "gna_interval" => {
                    if let Some(v) = self.value(&s, |w| value::timer(w, MAX_TIMER)) {
                        group.gna_interval = Some(v.v);
                    }
                }
                "interface" => {
                    group.interface = self.value(&s, value::ifname).or(group.interface);
                }
                _ => self.unsupported(&s, Block::GarpGroup),
            }
        }
        self.garp_groups.push(group);
    }
}
