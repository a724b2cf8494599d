//! UTC time: the emulator's settable clock and the two text formats it needs.

use std::time::{SystemTime, UNIX_EPOCH};

/// The emulator clock: the system clock (plus an offset), or a fixed instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System { offset: i64 },
    Fixed(i64),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::System { offset: 0 }
    }
}

impl Clock {
    /// Now, in epoch seconds.
    pub fn now(&self) -> i64 {
        match *self {
            Clock::System { offset } => system_now().saturating_add(offset),
            Clock::Fixed(t) => t,
        }
    }

    pub fn advance(&mut self, seconds: i64) {
        *self = match *self {
            Clock::System { offset } => Clock::System { offset: offset.saturating_add(seconds) },
            Clock::Fixed(t) => Clock::Fixed(t.saturating_add(seconds)),
        };
    }
}

pub fn system_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Epoch seconds of the next top of the UTC hour strictly after `now`.
pub fn next_top_of_hour(now: i64) -> i64 {
    (now.div_euclid(3600) + 1) * 3600
}

/// Days since 1970-01-01 → (year, month, day). (H. Hinnant's civil_from_days.)
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, m as u32, d as u32)
}

/// (year, month, day) → days since 1970-01-01. (H. Hinnant's days_from_civil.)
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as the Fastly API writes timestamps.
pub fn iso(t: i64) -> String {
    let (y, mo, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// An IMF-fixdate for the `Date` header.
pub fn http_date(t: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = t.div_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let s = t.rem_euclid(86_400);
    let wd = DAYS.get(usize::try_from(days.rem_euclid(7)).unwrap_or(0)).copied().unwrap_or("Thu");
    let mon = MONTHS.get(usize::try_from(mo.saturating_sub(1)).unwrap_or(0)).copied().unwrap_or("Jan");
    format!("{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} GMT", s / 3600, s / 60 % 60, s % 60)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` strictly.
pub fn parse_iso(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.get(19) != Some(&b'Z')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let (mo, d) = (u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    let days = days_from_civil(y, mo, d);
    if civil_from_days(days) != (y, mo, d) {
        return None; // e.g. February 30th
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(iso(1_667_584_935), "2022-11-04T18:02:15Z");
        assert_eq!(parse_iso("2022-11-04T18:02:15Z"), Some(1_667_584_935));
        assert_eq!(next_top_of_hour(1_667_584_935), 1_667_588_400);
        assert_eq!(next_top_of_hour(1_667_588_400), 1_667_592_000);
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_iso("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso("2024-02-29T00:00:00Z").map(iso).as_deref(), Some("2024-02-29T00:00:00Z"));
        assert_eq!(parse_iso("2024-02-29 00:00:00Z"), None);
    }
}
