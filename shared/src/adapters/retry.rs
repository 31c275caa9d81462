//! Bounded retries with exponential backoff and jitter, for throttling and transient faults.
//! Each retry is logged at debug level, so a user can see them with LogLevel=DEBUG.

use std::future::Future;
use std::time::Duration;

use crate::ports::AwsError;

/// How to retry one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

/// Runs `call` until it succeeds, fails with a non-throttling error, or runs out of attempts.
pub async fn retrying<T, F, Fut>(
    policy: RetryPolicy,
    action: &'static str,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e @ AwsError::Throttled(_)) | Err(e @ AwsError::Other { .. })
                if attempt < policy.max_attempts && retryable(&e) =>
            {
                let exp = policy.base.saturating_mul(1 << attempt.min(16));
                let delay = jitter(exp.min(policy.cap));
                tracing::debug!(action, attempt, delay_ms = delay.as_millis() as u64, error = %e, "retrying AWS call");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn retryable(e: &AwsError) -> bool {
    match e {
        AwsError::Throttled(_) => true,
        AwsError::Other { message, .. } => {
            let m = message.to_ascii_lowercase();
            m.contains("dispatch failure")
                || m.contains("timeout")
                || m.contains("timed out")
                || m.contains("connection")
                || m.contains("service unavailable")
                || m.contains("internal")
        }
        _ => false,
    }
}

/// Full jitter: a uniform delay in [d/2, d].
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|x| x.as_nanos())
            .unwrap_or(0),
    );
    let r = (h.finish() % 1000) as u32;
    d / 2 + d / 2 * r / 1000
}
