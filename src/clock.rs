//! The one place the guard reads the clock: today's date (UTC) for waivers, and the time of a
//! Security Hub import. The core takes both as parameters.

use ecr_policy_guard_core::Date;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Today (UTC).
pub fn today() -> Date {
    date_of(SystemTime::now())
}

/// The UTC day of an instant.
pub fn date_of(at: SystemTime) -> Date {
    let seconds = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        // Before 1970: only a broken clock; count back rather than panic.
        Err(before) => {
            let d = before.duration();
            -(d.as_secs() as i64) - i64::from(d.subsec_nanos() > 0)
        }
    };
    Date::from_unix_days(seconds.div_euclid(86_400))
}

/// Now, as ASFF wants it: ISO 8601 in UTC with milliseconds (`2026-12-01T12:03:04.567Z`).
pub fn now_iso() -> String {
    iso(SystemTime::now())
}

/// An instant as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let seconds = since.as_secs() % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date_of(at),
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_become_utc_days_and_iso_times() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_126_584_567);
        assert_eq!(date_of(at).to_string(), "2026-12-01");
        assert_eq!(iso(at), "2026-12-01T12:03:04.567Z");
        assert_eq!(
            date_of(UNIX_EPOCH + Duration::from_secs(86_399)).to_string(),
            "1970-01-01"
        );
        assert_eq!(
            date_of(UNIX_EPOCH - Duration::from_secs(1)).to_string(),
            "1969-12-31"
        );
    }
}
