//! Wall-clock times as the function logs and compares them: seconds since the epoch, and
//! RFC 3339 text through `chrono` (the time type of `aws_lambda_events`).

use chrono::{DateTime, SecondsFormat, Utc};

/// Seconds since the epoch, now.
pub fn now_epoch() -> f64 {
    Utc::now().timestamp_millis() as f64 / 1000.0
}

/// Seconds since the epoch → `2024-05-01T12:00:00.123Z`.
pub fn format_rfc3339(epoch: f64) -> String {
    DateTime::<Utc>::from_timestamp_millis((epoch * 1000.0).round() as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_in_utc() {
        assert_eq!(format_rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339(1_714_564_800.123),
            "2024-05-01T12:00:00.123Z"
        );
    }
}
