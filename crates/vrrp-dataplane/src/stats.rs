//! Reading back the named counters of `list counters table inet vrrpd_lb`.

use std::collections::BTreeMap;

/// `name -> (packets, bytes)` of every `counter NAME { packets P bytes B }` in `listing`.
pub(crate) fn parse_counters(listing: &str) -> BTreeMap<String, (u64, u64)> {
    let mut counters = BTreeMap::new();
    let mut name: Option<String> = None;
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["counter", n, "{"] => name = Some((*n).to_string()),
            ["packets", p, "bytes", b, ..] => {
                if let (Some(n), Ok(p), Ok(b)) = (name.take(), p.parse(), b.parse()) {
                    counters.insert(n, (p, b));
                }
            }
            _ => {}
        }
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nft_listing() {
        let text = "table inet vrrpd_lb {\n\tcounter c5 {\n\t\tpackets 3 bytes 180\n\t}\n\
                    \tcounter t5 {\n\t\tpackets 10 bytes 1234\n\t}\n}\n";
        let c = parse_counters(text);
        assert_eq!(c["c5"], (3, 180));
        assert_eq!(c["t5"], (10, 1234));
        assert_eq!(c.len(), 2);
    }
}
