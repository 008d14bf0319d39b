//! Local date-times: parsing of the ISO-8601 input forms and the canonical output rendering.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: u32 = 1_000_000_000;
const MIN_YEAR: i64 = -999_999_999;
const MAX_YEAR: i64 = 999_999_999;
/// The largest offset java.time accepts (`ZoneOffset` is limited to ±18:00).
const MAX_OFFSET_SECS: u32 = 18 * 3600;

/// Whole milliseconds of a duration, saturating at `u64::MAX` (store TTLs, deadlines, ages).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A local date-time (no zone, no offset), proleptic Gregorian calendar, nanosecond precision.
///
/// Ordered chronologically. Years range over ±999 999 999.
/// Serialized (on the internal wire only) as `[secs, nanos]`; deserialization checks the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "(i64, u32)", try_from = "(i64, u32)")]
pub struct LocalDateTime {
    /// Seconds since 1970-01-01T00:00:00 (local, no zone).
    secs: i64,
    /// 0..1_000_000_000
    nanos: u32,
}

impl LocalDateTime {
    /// The "never updated" value, rendered `-999999999-01-01T00:00:00`.
    pub const MIN: LocalDateTime = LocalDateTime {
        secs: days_from_civil(MIN_YEAR, 1, 1) * SECS_PER_DAY,
        nanos: 0,
    };

    /// The latest representable value, `+999999999-12-31T23:59:59.999999999`.
    pub const MAX: LocalDateTime = LocalDateTime {
        secs: (days_from_civil(MAX_YEAR, 12, 31) + 1) * SECS_PER_DAY - 1,
        nanos: NANOS_PER_SEC - 1,
    };

    /// Parses the input forms of docs/api.md §3.4; the offset and zone are discarded.
    pub fn parse(input: &str) -> Option<LocalDateTime> {
        let mut c = Cursor {
            s: input.as_bytes(),
            i: 0,
        };
        let (year, month, day) = c.date()?;
        if !(c.eat(b'T') || c.eat(b't')) {
            return None;
        }
        let (secs_of_day, nanos) = c.time()?;
        c.offset_and_zone()?;
        if c.i != c.s.len() {
            return None;
        }
        let secs = days_from_civil(year, month, day) * SECS_PER_DAY + secs_of_day;
        LocalDateTime::from_epoch(secs, nanos)
    }

    /// Builds from seconds since 1970-01-01T00:00:00 and nanoseconds; `None` if out of range.
    pub fn from_epoch(secs: i64, nanos: u32) -> Option<LocalDateTime> {
        let value = LocalDateTime { secs, nanos };
        (nanos < NANOS_PER_SEC && (Self::MIN..=Self::MAX).contains(&value)).then_some(value)
    }

    /// Seconds since 1970-01-01T00:00:00.
    pub fn epoch_seconds(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn nanos(&self) -> u32 {
        self.nanos
    }
}

impl From<LocalDateTime> for (i64, u32) {
    fn from(value: LocalDateTime) -> (i64, u32) {
        (value.secs, value.nanos)
    }
}

impl TryFrom<(i64, u32)> for LocalDateTime {
    type Error = String;

    fn try_from((secs, nanos): (i64, u32)) -> Result<LocalDateTime, String> {
        LocalDateTime::from_epoch(secs, nanos)
            .ok_or_else(|| format!("local date-time out of range: [{secs}, {nanos}]"))
    }
}

impl fmt::Display for LocalDateTime {
    /// `YYYY-MM-DDTHH:MM:SS[.fraction]`, fraction without trailing zeros, never an offset.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.secs.div_euclid(SECS_PER_DAY));
        let secs_of_day = self.secs.rem_euclid(SECS_PER_DAY);
        // java.time style: four digits at least, a sign when outside 0000–9999.
        match year {
            0..=9999 => write!(f, "{year:04}")?,
            10000.. => write!(f, "+{year}")?,
            _ => write!(f, "-{:04}", year.unsigned_abs())?,
        }
        let (hour, minute, second) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
        write!(f, "-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}")?;
        if self.nanos != 0 {
            let fraction = format!("{:09}", self.nanos);
            write!(f, ".{}", fraction.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (month as i64, day as i64);
    // Years start in March so that the leap day is the last day of the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A byte cursor over the input; every read is bounds-checked, so no input can panic.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&byte);
        self.i += usize::from(hit);
        hit
    }

    /// Up to `max` ASCII digits: their value and how many there were.
    fn digit_run(&mut self, max: usize) -> (u64, usize) {
        let (mut value, mut count) = (0u64, 0);
        while let Some(d) = self
            .s
            .get(self.i)
            .filter(|b| b.is_ascii_digit() && count < max)
        {
            value = value * 10 + u64::from(d - b'0');
            count += 1;
            self.i += 1;
        }
        (value, count)
    }

    /// Exactly `n` digits, no more than `max`.
    fn number(&mut self, n: usize, max: u64) -> Option<u64> {
        let (value, count) = self.digit_run(n);
        (count == n && value <= max).then_some(value)
    }

    /// `YYYY-MM-DD`, `+YYYY…-MM-DD` or `-YYYY…-MM-DD`, calendar-checked.
    fn date(&mut self) -> Option<(i64, u32, u32)> {
        let year = if self.eat(b'+') {
            self.signed_year_digits()?
        } else if self.eat(b'-') {
            // java.time rejects a negative zero year in strict parsing.
            Some(-self.signed_year_digits()?).filter(|y| *y != 0)?
        } else {
            i64::try_from(self.number(4, 9999)?).ok()?
        };
        let month = self.eat(b'-').then(|| self.number(2, 12))??;
        let day = self.eat(b'-').then(|| self.number(2, 31))??;
        let (month, day) = (u32::try_from(month).ok()?, u32::try_from(day).ok()?);
        (month >= 1 && day >= 1 && day <= days_in_month(year, month)).then_some((year, month, day))
    }

    fn signed_year_digits(&mut self) -> Option<i64> {
        let (value, count) = self.digit_run(9);
        (count >= 4).then(|| i64::try_from(value).ok())?
    }

    /// `HH:MM[:SS[.fraction]]` as seconds of the day and nanoseconds.
    fn time(&mut self) -> Option<(i64, u32)> {
        let hour = self.number(2, 23)?;
        let minute = self.eat(b':').then(|| self.number(2, 59))??;
        let (mut second, mut nanos) = (0, 0);
        if self.eat(b':') {
            second = self.number(2, 59)?;
            if self.eat(b'.') {
                // 0–9 fraction digits (docs/api.md §3.4): `10:00:00.` is `10:00:00`.
                let (value, count) = self.digit_run(9);
                let scale = 10u64.pow(u32::try_from(9 - count).ok()?);
                nanos = u32::try_from(value * scale).ok()?;
            }
        }
        Some((
            i64::try_from(hour * 3600 + minute * 60 + second).ok()?,
            nanos,
        ))
    }

    /// Optional `Z`, `±HH:MM` or `±HH:MM:SS`, then an optional `[zone]` (only after an offset).
    fn offset_and_zone(&mut self) -> Option<()> {
        let has_offset = if self.eat(b'Z') || self.eat(b'z') {
            true
        } else if self.eat(b'+') || self.eat(b'-') {
            let hours = self.number(2, 18)?;
            let minutes = self.eat(b':').then(|| self.number(2, 59))??;
            let seconds = if self.eat(b':') {
                self.number(2, 59)?
            } else {
                0
            };
            let total = u32::try_from(hours * 3600 + minutes * 60 + seconds).ok()?;
            (total <= MAX_OFFSET_SECS).then_some(true)?
        } else {
            false
        };
        if self.eat(b'[') {
            let rest = self.s.get(self.i..)?;
            let len = rest.iter().position(|b| *b == b']')?;
            if !has_offset || len == 0 {
                return None;
            }
            self.i += len + 1;
        }
        Some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn canonical(input: &str) -> String {
        LocalDateTime::parse(input).unwrap().to_string()
    }

    #[test]
    fn the_minimum_renders_as_the_spec_says() {
        assert_eq!(LocalDateTime::MIN.to_string(), "-999999999-01-01T00:00:00");
        // java.time: LocalDate.MIN.toEpochDay() == -365243219162
        assert_eq!(
            LocalDateTime::MIN.epoch_seconds(),
            -365_243_219_162 * SECS_PER_DAY
        );
        assert_eq!(
            LocalDateTime::MAX.to_string(),
            "+999999999-12-31T23:59:59.999999999"
        );
        assert_eq!(
            LocalDateTime::MAX.epoch_seconds() / SECS_PER_DAY,
            365_241_780_471
        );
    }

    #[test]
    fn the_minimum_and_maximum_parse_back() {
        assert_eq!(
            LocalDateTime::parse("-999999999-01-01T00:00:00"),
            Some(LocalDateTime::MIN)
        );
        let max = "+999999999-12-31T23:59:59.999999999";
        assert_eq!(LocalDateTime::parse(max), Some(LocalDateTime::MAX));
    }

    #[test]
    fn epoch_seconds_match_the_unix_epoch() {
        assert_eq!(
            LocalDateTime::parse("1970-01-01T00:00")
                .unwrap()
                .epoch_seconds(),
            0
        );
        let t = LocalDateTime::parse("2024-12-07T00:00:00").unwrap();
        assert_eq!(t.epoch_seconds(), 1_733_529_600);
        let t = LocalDateTime::parse("1969-12-31T23:59:59.25").unwrap();
        assert_eq!((t.epoch_seconds(), t.nanos()), (-1, 250_000_000));
    }

    #[test]
    fn output_drops_the_offset_and_always_has_seconds() {
        assert_eq!(canonical("2024-12-07T10:00:00Z"), "2024-12-07T10:00:00");
        assert_eq!(canonical("2024-12-07T10:00"), "2024-12-07T10:00:00");
        assert_eq!(canonical("2024-12-07t10:00z"), "2024-12-07T10:00:00");
    }

    #[test]
    fn fractions_lose_trailing_zeros_and_keep_significant_digits() {
        assert_eq!(
            canonical("2024-12-07T10:00:00.500"),
            "2024-12-07T10:00:00.5"
        );
        assert_eq!(
            canonical("2024-12-11T09:16:29.577617"),
            "2024-12-11T09:16:29.577617"
        );
        assert_eq!(canonical("2024-12-07T10:00:00.000"), "2024-12-07T10:00:00");
        assert_eq!(
            canonical("2024-12-07T10:00:00.000000001"),
            "2024-12-07T10:00:00.000000001"
        );
    }

    #[test]
    fn offsets_are_discarded_without_conversion() {
        let z = LocalDateTime::parse("2024-12-13T12:00:00Z");
        assert_eq!(LocalDateTime::parse("2024-12-13T12:00:00+05:00"), z);
        assert_eq!(LocalDateTime::parse("2024-12-13T12:00:00-18:00"), z);
        assert_eq!(LocalDateTime::parse("2024-12-13T12:00:00+01:30:15"), z);
        assert_eq!(
            LocalDateTime::parse("2024-12-13T12:00:00+01:00[Europe/London]"),
            z
        );
        assert_eq!(LocalDateTime::parse("2024-12-13T12:00:00Z[UTC]"), z);
    }

    #[test]
    fn malformed_offsets_and_zones_are_rejected() {
        for input in [
            "2024-12-13T12:00:00[Europe/London]",
            "2024-12-13T12:00:00+0100",
            "2024-12-13T12:00:00+01",
            "2024-12-13T12:00:00+19:00",
            "2024-12-13T12:00:00+18:01",
            "2024-12-13T12:00:00+01:60",
            "2024-12-13T12:00:00+01:00[]",
            "2024-12-13T12:00:00+01:00[Europe/London",
            "2024-12-13T12:00:00+01:00[Europe/London]x",
            "2024-12-13T12:00:00ZZ",
        ] {
            assert_eq!(LocalDateTime::parse(input), None, "{input}");
        }
    }

    #[test]
    fn the_spec_invalid_examples_are_rejected() {
        for input in [
            "invalid-timestamp",
            "12-07-2024",
            "2024-12-07",
            "2024-12-07 10:00:00",
            "",
            "2024-12-07T10",
            "2024-12-07T10:00:00.1234567890",
            "2024-12-07T10:00.5",
            "2024-12-07T1:00",
            "2024-12-7T10:00",
        ] {
            assert_eq!(LocalDateTime::parse(input), None, "{input}");
        }
    }

    #[test]
    fn a_dot_without_fraction_digits_is_a_whole_second() {
        assert_eq!(
            LocalDateTime::parse("2024-12-07T10:00:00."),
            LocalDateTime::parse("2024-12-07T10:00:00")
        );
    }

    #[test]
    fn the_calendar_and_clock_are_strict() {
        assert!(LocalDateTime::parse("2024-02-29T00:00").is_some());
        assert!(LocalDateTime::parse("2000-02-29T00:00").is_some());
        for input in [
            "2023-02-29T00:00",
            "1900-02-29T00:00",
            "2024-02-30T00:00",
            "2024-04-31T00:00",
            "2024-13-01T00:00",
            "2024-00-01T00:00",
            "2024-01-00T00:00",
            "2024-01-01T24:00",
            "2024-01-01T23:60",
            "2024-01-01T23:59:60",
        ] {
            assert_eq!(LocalDateTime::parse(input), None, "{input}");
        }
    }

    #[test]
    fn years_outside_four_digits_need_a_sign() {
        assert_eq!(canonical("+12024-01-01T00:00"), "+12024-01-01T00:00:00");
        assert_eq!(canonical("+2024-01-01T00:00"), "2024-01-01T00:00:00");
        assert_eq!(canonical("-0001-01-01T00:00"), "-0001-01-01T00:00:00");
        assert_eq!(canonical("0000-01-01T00:00"), "0000-01-01T00:00:00");
        assert_eq!(canonical("-12024-03-01T00:00"), "-12024-03-01T00:00:00");
        for input in [
            "12024-01-01T00:00",
            "+202-01-01T00:00",
            "-0000-01-01T00:00",
            "+1000000000-01-01T00:00",
        ] {
            assert_eq!(LocalDateTime::parse(input), None, "{input}");
        }
    }

    #[test]
    fn chronological_order_follows_the_calendar() {
        let a = LocalDateTime::parse("-0001-12-31T23:59:59.999999999").unwrap();
        let b = LocalDateTime::parse("0000-01-01T00:00").unwrap();
        let c = LocalDateTime::parse("2024-12-07T10:00").unwrap();
        assert!(LocalDateTime::MIN < a && a < b && b < c && c < LocalDateTime::MAX);
    }

    #[test]
    fn from_epoch_rejects_values_out_of_range() {
        assert_eq!(LocalDateTime::from_epoch(0, NANOS_PER_SEC), None);
        assert_eq!(
            LocalDateTime::from_epoch(LocalDateTime::MIN.secs - 1, 0),
            None
        );
        assert_eq!(
            LocalDateTime::from_epoch(LocalDateTime::MAX.secs + 1, 0),
            None
        );
        assert_eq!(LocalDateTime::from_epoch(i64::MIN, 0), None);
    }

    #[test]
    fn the_internal_wire_form_is_a_pair_and_is_range_checked() {
        let t = LocalDateTime::parse("2024-12-07T10:00:00.5").unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "[1733565600,500000000]");
        assert_eq!(serde_json::from_str::<LocalDateTime>(&json).unwrap(), t);
        assert!(serde_json::from_str::<LocalDateTime>("[0,1000000000]").is_err());
    }
}
