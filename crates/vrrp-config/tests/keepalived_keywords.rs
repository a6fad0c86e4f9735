//! Every keyword keepalived knows is in vrrpd's keyword table, in the block where keepalived
//! reads it: supported, or refused with "keepalived knows this keyword but vrrpd does not
//! support it" rather than "did you mean". The list of keepalived's keywords is a committed
//! fixture extracted from keepalived 2.2.7's source (its header names the commit).

use std::path::PathBuf;

#[allow(dead_code)]
#[path = "../src/keywords.rs"]
mod keywords;

use keywords::{Block, KEYWORDS, Shape};

/// Where vrrpd looks a keyword of keepalived's block `path` up: the block itself, then the
/// checkers' shared block. `Err(root)`: vrrpd refuses the whole block `root`, so its inner
/// keywords are never read.
fn blocks_of(path: &str) -> Result<Vec<Block>, &str> {
    use Block::*;
    let last = path.rsplit('/').next().unwrap_or(path);
    let found = match last {
        "top" => vec![Top],
        "global_defs" => vec![Global],
        "vrrp_instance" => vec![Instance],
        "authentication" => vec![Auth],
        "vrrp_script" => vec![Script],
        "track_file" | "vrrp_track_file" => vec![TrackFile],
        "vrrp_track_process" => vec![Process],
        "vrrp_sync_group" => vec![SyncGroup],
        "virtual_server" => vec![VirtualServer],
        "real_server" => vec![RealServer],
        "HTTP_GET" | "SSL_GET" => vec![HttpCheck, Checker],
        "url" => vec![Url],
        "SMTP_CHECK" => vec![SmtpCheck, Checker],
        // SMTP_CHECK's `host { }` takes the checkers' connection keywords.
        "host" | "TCP_CHECK" | "PING_CHECK" => vec![Checker],
        "DNS_CHECK" => vec![DnsCheck, Checker],
        "MISC_CHECK" => vec![MiscCheck, Checker],
        "UDP_CHECK" => vec![UdpCheck, Checker],
        "FILE_CHECK" => vec![FileCheck],
        "SSL" => vec![Ssl],
        "garp_group" => vec![GarpGroup],
        _ => return Err(last),
    };
    Ok(found)
}

fn fixture() -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived-2.2.7-keywords.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (block, kw) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("fixture line `{l}` is not `BLOCK KEYWORD`"));
            (block.to_owned(), kw.to_owned())
        })
        .collect()
}

fn in_table(block: Block, name: &str) -> bool {
    KEYWORDS.iter().any(|k| k.block == block && k.name == name)
}

/// `include_check` and friends are read by the preprocessing wherever they are written.
fn preprocessor(name: &str) -> bool {
    KEYWORDS
        .iter()
        .any(|k| k.shape == Shape::Preprocessor && k.name == name)
}

#[test]
fn every_keepalived_keyword_is_in_the_table() {
    let list = fixture();
    assert!(
        list.len() > 400,
        "the fixture lists {} keywords",
        list.len()
    );
    let mut missing = Vec::new();
    for (path, kw) in &list {
        match blocks_of(path) {
            Ok(blocks) => {
                if !blocks.iter().any(|b| in_table(*b, kw)) && !preprocessor(kw) {
                    missing.push(format!("{path} {kw}"));
                }
            }
            // A refused block: its opening keyword must be refused where it is written.
            Err(root) => {
                let parent = path.rsplit_once('/').map_or("top", |(p, _)| p);
                let refused = blocks_of(parent).is_ok_and(|bs| {
                    bs.iter().any(|b| {
                        KEYWORDS.iter().any(|k| {
                            k.block == *b && k.name == root && k.shape == Shape::Unsupported
                        })
                    })
                });
                if !refused {
                    missing.push(format!("{parent} {root} (refused block)"));
                }
            }
        }
    }
    missing.dedup();
    assert!(
        missing.is_empty(),
        "keepalived keywords missing from crates/vrrp-config/src/keywords.rs \
         (add them, as not supported if vrrpd does not read them):\n{}",
        missing.join("\n")
    );
}
