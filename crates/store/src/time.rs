//! The store's timestamps: milliseconds since the Unix epoch, and how they read as UTC dates.

/// Unix time in milliseconds (0 if the clock is before 1970). Every `*_at` column holds one.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A timestamp as a UTC calendar date and time of day (proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    /// 1 to 12.
    pub month: i64,
    /// 1 to 31.
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

impl UtcTime {
    /// The UTC date and time `ms` milliseconds after the epoch (before it, for negative `ms`),
    /// truncated to the second.
    pub fn from_ms(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil-from-days (Howard Hinnant's algorithm), to avoid a date crate for one format.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
        }
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC), as `ganbench ls` and `show` print
/// them.
pub fn format_time(ms: i64) -> String {
    let t = UtcTime::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_time_matches_known_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_time(1_795_855_262_000), "2026-11-28 08:41:02");
        // Before the epoch: the day and second round down, not towards zero.
        assert_eq!(format_time(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        // 2025-01-01 00:00:00 UTC: a clock reading before it is broken or not read at all.
        assert!(now_ms() > 1_735_689_600_000);
    }
}
