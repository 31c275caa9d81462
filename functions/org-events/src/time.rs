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

/// RFC 3339 text (as CloudFormation gives an operation's start) → seconds since the epoch;
/// `None` when it is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
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

    #[test]
    fn parses_what_it_formats_and_refuses_what_is_not_rfc3339() {
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.123Z"),
            Some(1_714_564_800.123)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00+02:00"),
            Some(1_714_564_800.0)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
