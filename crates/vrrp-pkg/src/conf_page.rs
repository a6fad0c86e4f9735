//! vrrpd.conf(5): the keyword reference, written from the parser's keyword table.

use std::fmt::Write as _;

use crate::keywords::{Block, KEYWORDS, REFUSED_OPTIONS};

const HEAD: &str = r#".TH VRRPD.CONF 5 "" "vrrpd VERSION" "File Formats"
.SH NAME
vrrpd.conf \- configuration of vrrpd, in the language of keepalived.conf
.SH SYNOPSIS
.I /etc/vrrpd/vrrpd.conf
(else
.IR /etc/keepalived/keepalived.conf )
.SH DESCRIPTION
vrrpd reads keepalived's configuration language: keywords, each followed by its values on
the same line, and blocks in braces. A
.B #
or
.B !
starts a comment. Timers are seconds (fractions allowed).
.PP
Check a file with
.BR "vrrpd \-t \-f" " FILE" .
A keyword that keepalived knows and vrrpd does not support is an error that says so; a
misspelt keyword is an error with a suggestion.
.PP
This page lists every keyword, block by block, with its kind: a
.I value
(values on the keyword's line), a
.I flag
(keepalived's optional boolean after it), a
.I block
of keywords, a
.I list block
(one entry per line),
.I preprocessing
(read before parsing), or
.I not supported
(refused). The full reference, with defaults and the differences from keepalived, is in
.IR /usr/share/doc/vrrpd/config.md .
.SH KEYWORDS
"#;

const TAIL: &str = r#".SH FILES
.TP
.I /etc/vrrpd/vrrpd.conf
The configuration file.
.TP
.I /usr/share/doc/vrrpd/examples/
Example configurations.
.SH SEE ALSO
.BR vrrpd (8),
.BR vrrpctl (8),
.BR keepalived.conf (5)
"#;

/// The whole page.
pub(crate) fn render() -> String {
    let mut out = HEAD.replace("VERSION", env!("CARGO_PKG_VERSION"));
    for block in Block::ALL {
        let _ = writeln!(out, ".SS {}", text(block.title()));
        for kw in KEYWORDS.iter().filter(|kw| kw.block == block) {
            let _ = writeln!(out, ".TP\n.BR {} \" ({})\"", kw.name, kw.shape.label());
            let _ = writeln!(out, "{}", text(kw.doc));
        }
    }
    out.push_str(".SS Refused line options\nOptions that keepalived (or\n.BR ip )\n");
    out.push_str("takes on a line of these blocks and vrrpd refuses (\"unsupported option\"):\n");
    for (line, words) in REFUSED_OPTIONS {
        let _ = writeln!(
            out,
            ".TP\n.B {}\n{}",
            line.keyword(),
            text(&words.join(", "))
        );
    }
    out.push_str(TAIL);
    out
}

/// `s` as roff text: escapes, and the documentation's `code` in bold.
fn text(s: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    for c in s.chars() {
        match c {
            '`' => {
                out.push_str(if bold { "\\fR" } else { "\\fB" });
                bold = !bold;
            }
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            _ => out.push(c),
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    // A line starting with a dot or a quote would be read as a request.
    if out.starts_with(['.', '\'']) {
        out.insert_str(0, "\\&");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_bold_and_escapes_hold() {
        assert_eq!(text("`1-255`: VRID"), "\\fB1\\-255\\fR: VRID");
        assert_eq!(text(".x \\"), "\\&.x \\e");
    }

    #[test]
    fn every_keyword_is_on_the_page() {
        let page = render();
        for kw in KEYWORDS {
            assert!(page.contains(&format!(".BR {} ", kw.name)), "{}", kw.name);
        }
    }
}
