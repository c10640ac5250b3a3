//! Calendar days (`YYYY-MM-DD`, UTC) to and from Unix seconds: due dates,
//! report periods and export dates. The proleptic Gregorian calendar, by
//! Howard Hinnant's `days_from_civil` and `civil_from_days`.

use super::ModelError;

const DAY: i64 = 86_400;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// The start (00:00 UTC) of the day `s` names, as Unix seconds.
pub fn parse_day(s: &str) -> Result<i64, ModelError> {
    let bad = || {
        ModelError::invalid(format!(
            "`{}` is not a date: write YYYY-MM-DD, such as 2026-12-31",
            s.trim()
        ))
    };
    let parts: Vec<&str> = s.trim().split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let num = |p: &str| p.parse::<i64>().map_err(|_| bad());
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if !(1..=12).contains(&m) || d < 1 {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    // Day 31 of a 30-day month lands on the next month: refused.
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days * DAY)
}

/// A period of whole days, `from` and `to` as `YYYY-MM-DD` (either empty:
/// unbounded), as Unix seconds from the first second of `from` to the last of
/// `to`.
pub fn period(from: &str, to: &str) -> Result<(i64, i64), ModelError> {
    let start = match from.trim() {
        "" => i64::MIN,
        d => parse_day(d)?,
    };
    let end = match to.trim() {
        "" => i64::MAX,
        d => parse_day(d)?.saturating_add(DAY - 1),
    };
    if start > end {
        return Err(ModelError::invalid("--from is after --to"));
    }
    Ok((start, end))
}

/// The day (UTC) of Unix time `secs`, as `YYYY-MM-DD`.
pub fn format_day(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bad_dates_are_refused() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2000-03-01").unwrap(), 951_868_800);
        assert_eq!(format_day(951_868_800 + 3600), "2000-03-01");
        assert_eq!(format_day(-1), "1969-12-31");
        for s in ["2024-02-29", "2026-12-31", "1999-01-01"] {
            assert_eq!(format_day(parse_day(s).unwrap()), s);
        }
        for s in [
            "2023-02-29",
            "2026-04-31",
            "2026-13-01",
            "26-1-1",
            "yesterday",
            "",
        ] {
            assert!(parse_day(s).is_err(), "{s}");
        }
    }
}
