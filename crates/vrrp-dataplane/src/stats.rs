//! Reading back the rule counters of `list table inet vrrpd_lb`: the first `counter` of each
//! chain (`dM` counts connections, `aM` their packets and bytes).

use std::collections::BTreeMap;

/// `chain -> (packets, bytes)` of the first counter of every chain in `listing`.
pub(crate) fn chain_counters(listing: &str) -> BTreeMap<String, (u64, u64)> {
    let mut counters = BTreeMap::new();
    let mut chain: Option<String> = None;
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["chain", name, "{"] = words.as_slice() {
            chain = Some((*name).to_string());
            continue;
        }
        let Some(at) = words.windows(2).position(|w| w == ["counter", "packets"]) else {
            continue;
        };
        if let (Some(name), Some(p), Some(b)) = (
            chain.take(),
            words.get(at + 2).and_then(|w| w.parse().ok()),
            words.get(at + 4).and_then(|w| w.parse().ok()),
        ) {
            counters.insert(name, (p, b));
        }
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nft_listing() {
        let text = "table inet vrrpd_lb {\n\tchain d5 {\n\t\tcounter packets 3 bytes 180\n\
                    \t\tct mark set 0x00000005\n\t}\n\tchain a5 {\n\t\tcounter packets 10 bytes 1234\n\t}\n\
                    \tchain s1 {\n\t\tnumgen inc mod 2 vmap @w1\n\t}\n}\n";
        let c = chain_counters(text);
        assert_eq!(c["d5"], (3, 180));
        assert_eq!(c["a5"], (10, 1234));
        assert_eq!(c.len(), 2);
    }
}
