//! FILE_CHECK: a real server's state from a `track_file`, by keepalived's rule
//! (`check_file.c`, `track_file.c`): the file's integer value (read as vrrp-track reads
//! it) times `weight`, negated with `reverse`, is added to the real server's weight; at or
//! below -IPVS_WEIGHT_MAX - 1 the server is down. With `weight 0` the value 0 is up and any
//! other value down (reversed with `reverse`).

use vrrp_lb::check::{CheckOutcome, FileCheck};

use crate::{ProbeContext, Verdict};

/// keepalived's IPVS_WEIGHT_FAULT: -IPVS_WEIGHT_MAX - 1.
const IPVS_WEIGHT_FAULT: i64 = -65536;

/// What a track file says of a real server.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    /// Down (keepalived's IPVS_WEIGHT_FAULT).
    Fault,
    /// Up, with this added to the real server's configured weight.
    Offset(i64),
}

/// keepalived's rule for the file value `value` under `check`.
pub fn file_status(value: i64, check: &FileCheck) -> FileStatus {
    let weight = i64::from(check.weight);
    if weight == 0 {
        return match (value == 0) != check.reverse {
            true => FileStatus::Offset(0),
            false => FileStatus::Fault,
        };
    }
    let sign = if check.reverse { -1 } else { 1 };
    let offset = value.saturating_mul(weight).saturating_mul(sign);
    if offset <= IPVS_WEIGHT_FAULT {
        FileStatus::Fault
    } else {
        FileStatus::Offset(offset)
    }
}

/// The probe: the weight offset while the server is not in fault (the core adds it to the
/// configured weight), down in fault.
pub(crate) fn probe(f: &FileCheck, ctx: &ProbeContext) -> Verdict {
    let path = ctx
        .track_files
        .get(&f.track_file)
        .ok_or_else(|| format!("track_file {} is not defined", f.track_file))?;
    let value = vrrp_track::file::read_value(path)
        .map_err(|text| format!("track_file {}: value {text:?} out of range", f.track_file))?;
    match file_status(value, f) {
        FileStatus::Fault => Err(format!(
            "track_file {} ({}) has value {value}: fault",
            f.track_file,
            path.display()
        )),
        FileStatus::Offset(offset) => Ok(CheckOutcome::WeightOffset(offset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(weight: i32, reverse: bool) -> FileCheck {
        FileCheck {
            track_file: "f".into(),
            weight,
            reverse,
        }
    }

    #[test]
    fn keepalived_rule() {
        assert_eq!(file_status(0, &fc(0, false)), FileStatus::Offset(0));
        assert_eq!(file_status(3, &fc(0, false)), FileStatus::Fault);
        assert_eq!(file_status(0, &fc(0, true)), FileStatus::Fault);
        assert_eq!(file_status(3, &fc(0, true)), FileStatus::Offset(0));
        assert_eq!(file_status(5, &fc(2, false)), FileStatus::Offset(10));
        assert_eq!(file_status(5, &fc(2, true)), FileStatus::Offset(-10));
        assert_eq!(file_status(-65536, &fc(1, false)), FileStatus::Fault);
        assert_eq!(
            file_status(-65535, &fc(1, false)),
            FileStatus::Offset(-65535)
        );
    }
}
