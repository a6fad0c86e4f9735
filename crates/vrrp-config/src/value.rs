//! Value grammar: integers, booleans, timers, addresses and interface names.
//!
//! Each parser returns the reason on failure ("must be ..."), which the caller turns into a
//! located error naming the keyword.

use std::net::IpAddr;
use std::time::Duration;

/// A decimal integer in `min..=max`.
pub(crate) fn int(s: &str, min: i64, max: i64) -> Result<i64, String> {
    let reason = || format!("must be an integer between {min} and {max}");
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(reason());
    }
    match s.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(reason()),
    }
}

/// keepalived's `<BOOL>` (`check_true_false`: on|off|true|false|yes|no), and `1`|`0`, which
/// real files write after flags (keepalived ignores the value after most flags).
pub(crate) fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err("must be one of on, off, true, false, yes, no, 1, 0".into()),
    }
}

/// keepalived's `<TIMER>`: seconds with an optional fraction, microsecond resolution.
pub(crate) fn timer_us(s: &str, max_secs: u64) -> Result<u64, String> {
    let reason = || format!("must be a number of seconds between 0 and {max_secs}, e.g. `2.5`");
    let (int_part, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int_part.is_empty() && frac.is_empty() {
        return Err(reason());
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(reason());
    }
    if frac.len() > 6 {
        return Err("has more than 6 decimals (the resolution is one microsecond)".into());
    }
    let secs: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| reason())?
    };
    if secs > max_secs {
        return Err(reason());
    }
    let mut micros: u64 = 0;
    for b in frac.bytes().chain(std::iter::repeat(b'0')).take(6) {
        micros = micros * 10 + u64::from(b - b'0');
    }
    let total = secs * 1_000_000 + micros;
    if total > max_secs * 1_000_000 {
        return Err(reason());
    }
    Ok(total)
}

pub(crate) fn timer(s: &str, max_secs: u64) -> Result<Duration, String> {
    timer_us(s, max_secs).map(Duration::from_micros)
}

/// A whole number of seconds (keepalived reads the GARP delays as integers).
pub(crate) fn whole_secs(s: &str, max_secs: u64) -> Result<Duration, String> {
    let max = i64::try_from(max_secs).unwrap_or(i64::MAX);
    int(s, 0, max)
        .map(|v| Duration::from_secs(v.unsigned_abs()))
        .map_err(|_| format!("must be a whole number of seconds between 0 and {max_secs}"))
}

/// `advert_int`: 0.01 to 255 seconds in steps of 0.01 s, returned in centiseconds.
pub(crate) fn advert_cs(s: &str) -> Result<u16, String> {
    let us = timer_us(s, 255).map_err(|_| "must be between 0.01 and 255 seconds".to_owned())?;
    if us % 10_000 != 0 {
        return Err("must be a whole number of centiseconds (steps of 0.01 s)".into());
    }
    let cs = us / 10_000;
    if cs == 0 {
        return Err("must be between 0.01 and 255 seconds".into());
    }
    u16::try_from(cs).map_err(|_| "must be between 0.01 and 255 seconds".into())
}

/// An IPv4 or IPv6 address (no prefix).
pub(crate) fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>()
        .map_err(|_| "is not an IPv4 or IPv6 address".into())
}

/// `ADDR[/LEN]`; the length defaults to the full address length.
pub(crate) fn ip_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr = ip(addr)?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match int(l, 0, i64::from(max)) {
            Ok(v) => u8::try_from(v).unwrap_or(max),
            Err(_) => return Err(format!("has an invalid prefix length (0 to {max})")),
        },
    };
    Ok((addr, len))
}

/// A Linux interface name: 1 to 15 bytes, no `/`, `:` or white space, not `.` or `..`.
pub(crate) fn ifname(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 15 {
        return Err("must be an interface name of 1 to 15 characters".into());
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err("is not a valid interface name".into());
    }
    Ok(s.to_owned())
}

/// Address scope names as `ip address` knows them, or a number.
pub(crate) fn scope(s: &str) -> Result<String, String> {
    match s {
        "host" | "link" | "global" | "site" | "nowhere" | "universe" => Ok(s.to_owned()),
        _ if int(s, 0, 255).is_ok() => Ok(s.to_owned()),
        _ => Err("must be host, link, global, site, nowhere or a number 0-255".into()),
    }
}

/// Edit distance, for "did you mean" hints: exact when the lengths differ by at most
/// [`DISTANCE_EXACT`], else that difference (a lower bound, and too far for a hint), so that a
/// long garbage word costs nothing (exactly, it costs its length times each keyword's).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let gap = a.chars().count().abs_diff(b.chars().count());
    if gap > DISTANCE_EXACT {
        return gap;
    }
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// The largest length difference for which [`distance`] is exact; hints go up to 2.
const DISTANCE_EXACT: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers() {
        assert_eq!(timer_us("1", 10), Ok(1_000_000));
        assert_eq!(timer_us("2.5", 10), Ok(2_500_000));
        assert_eq!(timer_us(".000001", 10), Ok(1));
        assert!(timer_us("0.0000001", 10).is_err());
        assert!(timer_us("11", 10).is_err());
        assert!(timer_us("-1", 10).is_err());
        assert!(timer_us(".", 10).is_err());
        assert!(timer_us("99999999999999999999", 10).is_err());
    }

    #[test]
    fn adverts() {
        assert_eq!(advert_cs("0.01"), Ok(1));
        assert_eq!(advert_cs("1"), Ok(100));
        assert_eq!(advert_cs("2.5"), Ok(250));
        assert_eq!(advert_cs("255"), Ok(25500));
        assert!(advert_cs("0.005").is_err());
        assert!(advert_cs("0").is_err());
        assert!(advert_cs("256").is_err());
    }

    #[test]
    fn prefixes() {
        assert_eq!(ip_prefix("10.0.0.1/24").map(|p| p.1), Ok(24));
        assert_eq!(ip_prefix("10.0.0.1").map(|p| p.1), Ok(32));
        assert_eq!(ip_prefix("fe80::1").map(|p| p.1), Ok(128));
        assert!(ip_prefix("10.0.0.1/33").is_err());
        assert!(ip_prefix("10.0.0.256").is_err());
    }

    #[test]
    fn names() {
        assert!(ifname("eth0").is_ok());
        assert!(ifname("a/b").is_err());
        assert!(ifname("sixteen_chars_xx").is_err());
        assert_eq!(distance("priorty", "priority"), 1);
        assert_eq!(distance(&"x".repeat(100), "priority"), 92);
    }

    #[test]
    fn booleans_take_keepalived_words_and_digits() {
        for t in ["on", "true", "yes", "1", "YES"] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["off", "false", "no", "0", "Off"] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        assert!(boolean("2").is_err());
        assert!(boolean("enabled").is_err());
    }
}
