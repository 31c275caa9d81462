//! Wall-clock time, as Lambda gives it: the invocation's deadline (`Context::deadline()` of
//! `lambda_runtime`, a `SystemTime`) and timestamps in milliseconds since the epoch (the
//! metrics' `_aws.Timestamp`, a request's first sight). Every deadline's arithmetic is here.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, now (0 on a clock before 1970).
pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The time left until `deadline`; zero once it has passed.
pub fn left_until(deadline: SystemTime) -> Duration {
    deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
}

/// `deadline` on the monotonic clock the handlers compare against.
pub fn instant_at(deadline: SystemTime) -> Instant {
    Instant::now() + left_until(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_deadline_leaves_no_time() {
        assert_eq!(left_until(UNIX_EPOCH), Duration::ZERO);
        assert!(instant_at(UNIX_EPOCH) <= Instant::now());
    }

    #[test]
    fn a_coming_deadline_leaves_at_most_its_distance() {
        let hour = Duration::from_secs(3600);
        let left = left_until(SystemTime::now() + hour);
        assert!(left > Duration::ZERO && left <= hour, "{left:?}");
    }
}
