//! The alarms' time window, from the stack's `ReconcileSchedule` (an EventBridge schedule
//! expression): how long CloudWatch waits before it calls a missing scheduled reconcile, or a
//! failure that outlived a scheduled run, an alarm.

use thiserror::Error;

/// CloudWatch's limits (PutMetricAlarm): Period a multiple of 60; Period × EvaluationPeriods
/// at most 604,800 s (seven days), and at most 86,400 s when Period is under an hour.
const MAX_TOTAL: u64 = 604_800;
const DAY: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "ReconcileSchedule: `{0}` is not an EventBridge schedule expression this stack understands: \
     use rate(6 hours), rate(1 day), rate(30 minutes) or cron(0 */6 * * ? *)."
)]
pub struct ScheduleError(pub String);

/// The alarms' `Period` and `EvaluationPeriods` (both alarms use two or more periods, each
/// of which must breach).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmWindow {
    /// The longest time between two scheduled runs, as far as the expression tells.
    pub interval_secs: u64,
    pub period_secs: u64,
    pub evaluation_periods: u64,
}

/// The longest gap between two runs of `expr`: exact for `rate(...)`; for `cron(...)` one day
/// when the day, month and weekday fields are all wildcards (it runs at least daily), else
/// seven days (the longest CloudWatch can wait).
pub fn schedule_interval(expr: &str) -> Result<u64, ScheduleError> {
    let bad = || ScheduleError(expr.to_owned());
    let e = expr.trim();
    if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let (n, unit) = inner.split_once(' ').ok_or_else(bad)?;
        let n: u64 = n.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?;
        let unit_secs = match (unit, n) {
            ("minute", 1) | ("minutes", 2..) => 60,
            ("hour", 1) | ("hours", 2..) => 3_600,
            ("day", 1) | ("days", 2..) => DAY,
            _ => return Err(bad()),
        };
        return n.checked_mul(unit_secs).ok_or_else(bad);
    }
    if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(bad());
        }
        let wild = |f: &str| f == "*" || f == "?";
        return Ok(if wild(fields[2]) && wild(fields[3]) && wild(fields[4]) {
            DAY
        } else {
            MAX_TOTAL
        });
    }
    Err(bad())
}

/// The window for two intervals: two periods of one interval each (rounded up to a minute)
/// up to a day; beyond, one-day periods, at most seven of them.
pub fn alarm_window(expr: &str) -> Result<AlarmWindow, ScheduleError> {
    let interval = schedule_interval(expr)?;
    let (period, n) = if interval <= DAY {
        (interval.div_ceil(60) * 60, 2)
    } else {
        (DAY, (2 * interval).div_ceil(DAY).min(MAX_TOTAL / DAY))
    };
    Ok(AlarmWindow {
        interval_secs: interval,
        period_secs: period,
        evaluation_periods: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within_cloudwatch_limits(w: &AlarmWindow) -> bool {
        let total = w.period_secs * w.evaluation_periods;
        w.period_secs.is_multiple_of(60)
            && w.period_secs > 0
            && total <= MAX_TOTAL
            && (w.period_secs >= 3_600 || total <= DAY)
    }

    #[test]
    fn the_default_six_hours_gives_two_six_hour_periods() {
        let w = alarm_window("rate(6 hours)").unwrap();
        assert_eq!(
            (w.interval_secs, w.period_secs, w.evaluation_periods),
            (21_600, 21_600, 2)
        );
    }

    #[test]
    fn every_window_covers_two_intervals_within_cloudwatch_limits() {
        for e in [
            "rate(1 minute)",
            "rate(7 minutes)",
            "rate(59 minutes)",
            "rate(1 hour)",
            "rate(6 hours)",
            "rate(1 day)",
            "rate(2 days)",
            "rate(3 days)",
            "rate(30 days)",
            "cron(0 3 * * ? *)",
            "cron(0 */6 * * ? *)",
            "cron(0 3 ? * MON *)",
        ] {
            let w = alarm_window(e).unwrap();
            assert!(within_cloudwatch_limits(&w), "{e}: {w:?}");
            let covers = w.period_secs * w.evaluation_periods >= 2 * w.interval_secs;
            let capped = w.period_secs * w.evaluation_periods == MAX_TOTAL;
            assert!(covers || capped, "{e}: {w:?}");
        }
    }

    #[test]
    fn a_cron_on_chosen_weekdays_is_given_the_longest_wait() {
        assert_eq!(schedule_interval("cron(0 3 ? * MON *)").unwrap(), MAX_TOTAL);
        assert_eq!(schedule_interval("cron(0 3 * * ? *)").unwrap(), DAY);
    }

    #[test]
    fn an_expression_eventbridge_would_refuse_is_named_in_the_error() {
        for e in [
            "rate(0 minutes)",
            "rate(1 hours)",
            "rate(6 hour)",
            "every 6h",
            "cron(0 3 * *)",
        ] {
            assert!(alarm_window(e).unwrap_err().to_string().contains(e), "{e}");
        }
    }
}
