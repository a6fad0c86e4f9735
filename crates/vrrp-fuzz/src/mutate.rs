//! The mutator: a few stacked edits of one input, at byte level (bit flips, interesting
//! values, deletions, duplications, insertions, truncation), from other corpus entries
//! (splices, crossovers) and at token level (words of a dictionary, words and lines of the
//! input swapped, duplicated or dropped), so that text languages and binary formats alike
//! get mutants that are mostly well-formed and wrong in one place.

use crate::rng::Rng;

/// Single bytes that sit on boundaries (sign, ASCII, UTF-8 lead and continuation).
const BYTES: &[u8] = &[0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xc3, 0xfe, 0xff];

/// Wider integers on boundaries, written in either byte order.
const WORDS: &[u64] = &[
    0,
    1,
    0x7f,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
];

/// What mutants are made of, besides the input itself.
#[derive(Clone, Debug, Default)]
pub struct Mutator {
    /// Other inputs, for splices and crossovers (usually the whole corpus).
    pub donors: Vec<Vec<u8>>,
    /// Tokens of the format (keywords, punctuation, magic numbers) to insert or substitute.
    pub dictionary: Vec<Vec<u8>>,
    /// The longest mutant made; longer ones are cut.
    pub max_len: usize,
}

impl Mutator {
    /// A mutator over `donors` and `dictionary`, mutants at most 64 KiB.
    pub fn new(donors: Vec<Vec<u8>>, dictionary: &[&[u8]]) -> Mutator {
        Mutator {
            donors,
            dictionary: dictionary.iter().map(|t| t.to_vec()).collect(),
            max_len: 64 * 1024,
        }
    }

    /// One to eight stacked edits of `input` (mostly few: a mutant should stay close to
    /// the valid input it came from, to get past the first checks).
    pub fn mutate(&self, rng: &mut Rng, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        let edits = 1 << rng.below(4);
        for _ in 0..rng.below(edits) + 1 {
            self.edit(rng, &mut out);
        }
        out.truncate(self.max_len);
        out
    }

    fn edit(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let at = rng.below(out.len() + 1);
        match rng.below(16) {
            0 => flip_bit(rng, out),
            1 if at < out.len() => out[at] = rng.next_u64() as u8,
            2 if at < out.len() => out[at] = BYTES[rng.below(BYTES.len())],
            3 => put_word(rng, out),
            4 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            5 => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            6 => {
                let junk: Vec<u8> = (0..1 + rng.below(8))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                out.splice(at..at, junk);
            }
            7 => self.splice(rng, out, at),
            8 => self.crossover(rng, out, at),
            9 => out.truncate(at),
            10 | 11 => {
                if let Some(token) = rng.pick(&self.dictionary) {
                    out.splice(at..at, token.iter().copied());
                }
            }
            12 => self.replace_word(rng, out),
            13 => line_edit(rng, out),
            14 => repeat(rng, out, at),
            _ => flip_bit(rng, out),
        }
    }

    /// A chunk of another input inserted here.
    fn splice(&self, rng: &mut Rng, out: &mut Vec<u8>, at: usize) {
        let Some(donor) = rng.pick(&self.donors) else {
            return;
        };
        let from = rng.below(donor.len());
        let end = (from + 1 + rng.below(64)).min(donor.len());
        out.splice(at..at, donor[from..end].iter().copied());
    }

    /// This input up to here, another from somewhere on.
    fn crossover(&self, rng: &mut Rng, out: &mut Vec<u8>, at: usize) {
        let Some(donor) = rng.pick(&self.donors) else {
            return;
        };
        out.truncate(at);
        out.extend_from_slice(&donor[rng.below(donor.len() + 1)..]);
    }

    /// A word (a run of non-space bytes) replaced by a dictionary token or by another word.
    fn replace_word(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let words = words(out);
        let Some(&(start, end)) = rng.pick(&words) else {
            return;
        };
        let other = if rng.one_in(2) {
            rng.pick(&self.dictionary).cloned()
        } else {
            let (s, e) = words[rng.below(words.len())];
            Some(out[s..e].to_vec())
        };
        if let Some(other) = other {
            out.splice(start..end, other);
        }
    }
}

fn flip_bit(rng: &mut Rng, out: &mut [u8]) {
    let at = rng.below(out.len());
    if let Some(b) = out.get_mut(at) {
        *b ^= 1 << rng.below(8);
    }
}

/// A boundary integer of 1, 2, 4 or 8 bytes, either order, over what is there.
fn put_word(rng: &mut Rng, out: &mut Vec<u8>) {
    let width = 1 << rng.below(4);
    let value = WORDS[rng.below(WORDS.len())];
    let bytes = if rng.one_in(2) {
        value.to_be_bytes()[8 - width..].to_vec()
    } else {
        value.to_le_bytes()[..width].to_vec()
    };
    let at = rng.below(out.len().saturating_sub(width) + 1);
    let end = (at + width).min(out.len());
    out.splice(at..end, bytes);
}

/// The same bytes many times over: long lines, deep nesting, big counts.
fn repeat(rng: &mut Rng, out: &mut Vec<u8>, at: usize) {
    let end = (at + 1 + rng.below(8)).min(out.len());
    let chunk = out[at..end].to_vec();
    let times = 1 << rng.below(10);
    let mut grown = Vec::with_capacity(chunk.len() * times);
    for _ in 0..times {
        grown.extend_from_slice(&chunk);
    }
    out.splice(at..at, grown);
}

/// A line dropped, duplicated or moved.
fn line_edit(rng: &mut Rng, out: &mut Vec<u8>) {
    let mut lines: Vec<Vec<u8>> = out.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let i = rng.below(lines.len());
    match rng.below(3) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let line = lines[i].clone();
            lines.insert(i, line);
        }
        _ => {
            let line = lines.remove(i);
            let to = rng.below(lines.len() + 1);
            lines.insert(to, line);
        }
    }
    *out = lines.join(&b'\n');
}

/// The spans of the runs of non-whitespace bytes.
fn words(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in b.iter().enumerate() {
        match (c.is_ascii_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, b.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_deterministic_bounded_and_varied() {
        let m = Mutator::new(vec![b"donor text".to_vec()], &[b"{", b"include"]);
        let input = b"vrrp_instance VI_1 {\n  priority 100\n}\n";
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..500)
                .map(|_| m.mutate(&mut rng, input))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(a.iter().all(|x| x.len() <= m.max_len));
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() > 400, "{} distinct", distinct.len());
        assert!(a.iter().any(|x| x.windows(7).any(|w| w == b"include")));
    }

    #[test]
    fn empty_input_and_no_donors_are_fine() {
        let m = Mutator::new(Vec::new(), &[]);
        let mut rng = Rng::new(1);
        for _ in 0..2000 {
            let _ = m.mutate(&mut rng, b"");
        }
    }

    #[test]
    fn words_are_found() {
        assert_eq!(words(b" ab  c\n"), [(1, 3), (5, 6)]);
        assert_eq!(words(b"x"), [(0, 1)]);
    }
}
