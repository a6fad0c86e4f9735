//! The top-level `static_ipaddress`, `static_routes` and `static_rules` blocks: the line
//! syntax of `virtual_ipaddress`, `virtual_routes` and `virtual_rules`, read by their parsers.

use super::{At, Parser, RawRule, Stmt};
use crate::model::{Vip, VirtualRoute};

/// The static blocks as written (several blocks of one kind add up).
#[derive(Debug, Default)]
pub(crate) struct RawStatics {
    pub addresses: Vec<At<Vip>>,
    pub routes: Vec<At<VirtualRoute>>,
    pub rules: Vec<At<RawRule>>,
}

impl<'t> Parser<'t, '_> {
    /// `static_ipaddress { }`, `static_routes { }` or `static_rules { }`.
    pub(super) fn static_block(&mut self, st: &Stmt<'t>) {
        self.no_args(st);
        if !self.expect_top_open(st) {
            return;
        }
        match st.name {
            "static_ipaddress" => {
                let list = self.vip_block(st);
                self.statics.addresses.extend(list);
            }
            "static_routes" => {
                let list = self.routes_block(st);
                self.statics.routes.extend(list);
            }
            _ => {
                let list = self.rules_block(st);
                self.statics.rules.extend(list);
            }
        }
    }
}
