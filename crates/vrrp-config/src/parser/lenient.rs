//! Where keepalived carries on with a remark, the parser does too: a repeated single
//! setting (the first is kept), a block keyword out of place (said where it belongs), a
//! flag value keepalived would ignore.

use std::collections::HashMap;

use super::{At, Parser, Stmt, word};
use crate::diag::Span;
use crate::keywords::{self, Block};

/// Flags after which keepalived (2.2.7, checked) ignores a value: `nopreempt off` still sets
/// `nopreempt` there. vrrpd reads the value, and warns when the two disagree.
const KEEPALIVED_IGNORES_VALUE: &[&str] = &[
    "nopreempt",
    "enable_script_security",
    "vrrp_strict",
    "vrrp_skip_check_adv_addr",
];

impl<'t> Parser<'t, '_> {
    /// Whether `s` should be read: `false` for a repeated single setting of `block`, which is
    /// ignored (its block skipped) with a warning naming the first. keepalived keeps the
    /// first of several notify scripts and warns; vrrpd does so for every single setting.
    pub(super) fn first_time(
        &mut self,
        s: &Stmt<'t>,
        block: Block,
        seen: &mut HashMap<String, Span>,
    ) -> bool {
        let Some(key) = keywords::seen_key(block, s.name) else {
            seen.entry(s.name.to_owned()).or_insert(s.span());
            return true;
        };
        let Some(first) = seen.get(key).copied() else {
            seen.insert(key.to_owned(), s.span());
            if s.name != key {
                self.first_aliases.insert(s.span(), s.name);
            }
            return true;
        };
        // The keyword written first may be an alias (`preempt` / `nopreempt`). A map, not a
        // search of the tokens: a loop can repeat a setting thousands of times.
        let first_name = self.first_aliases.get(&first).copied().unwrap_or(key);
        let what = if first_name == s.name {
            format!("`{}` is already set", s.name)
        } else {
            format!("`{}` sets what `{first_name}` already set", s.name)
        };
        self.d.warn_hint(
            s.span(),
            format!(
                "{what} at line {}, column {}; this one is ignored",
                first.line, first.col
            ),
            "the first value is used (as keepalived does); remove one of them",
        );
        if self.peek_open() {
            self.skip_block();
        }
        false
    }

    /// A block keyword written in a block that does not hold it: says where it belongs,
    /// rather than "unsupported". Its block is skipped.
    pub(super) fn misplaced_block(&mut self, st: &Stmt<'t>, block: Block, parents: &[Block]) {
        let titles: Vec<String> = parents.iter().map(|&b| place(b)).collect();
        let here = place(block);
        self.d.error_hint(
            st.span(),
            format!("the `{}` block is not allowed {here}", st.name),
            format!(
                "`{}` belongs {}; move it there (or look for a missing or extra `}}` above)",
                st.name,
                titles.join(" or ")
            ),
        );
        if self.peek_open() {
            self.skip_block();
        }
    }

    /// Warns when a flag's false value would be ignored by keepalived (see
    /// [`KEEPALIVED_IGNORES_VALUE`]).
    pub(super) fn flag_value_differs(&mut self, st: &Stmt<'t>, v: &At<bool>) {
        if !v.v && KEEPALIVED_IGNORES_VALUE.contains(&st.name) {
            self.d.warn_hint(
                v.span,
                format!(
                    "`{} {}` turns `{}` off in vrrpd, but keepalived ignores the value and sets it",
                    st.name,
                    st.args.first().map_or("", |t| word(t)),
                    st.name
                ),
                format!("remove the line to leave `{}` off in both", st.name),
            );
        }
    }
}

/// Where a block is, as a message says it: "at the top level", "inside `vrrp_instance`",
/// "inside `HTTP_GET` or `SSL_GET`".
fn place(block: Block) -> String {
    match block {
        Block::Top => "at the top level".to_owned(),
        Block::Checker => "inside a checker (`TCP_CHECK`, `HTTP_GET`, ...)".to_owned(),
        b => {
            let names: Vec<String> = b.title().split(" / ").map(|t| format!("`{t}`")).collect();
            format!("inside {}", names.join(" or "))
        }
    }
}
