//! The AWS side: thin adapters from the SDK to the ports. Conversions from SDK types live
//! only here.

pub mod cloudformation;
pub mod cloudtrail;
pub mod errors;
pub mod eventbridge;
pub mod iam;
pub mod organizations;
pub mod servicequotas;
pub mod sts;

pub use cloudformation::{CfnStackSets, CfnStacks};
pub use eventbridge::EventBridgeFeed;
pub use organizations::SdkOrganizations;
pub use servicequotas::SdkQuotas;
pub use sts::SdkIdentity;

use std::time::Duration;

use aws_config::retry::RetryConfig;

/// Attempts per AWS call, the first included.
pub const MAX_ATTEMPTS: u32 = 10;
/// The first backoff before a retry; it doubles per attempt (with full jitter) up to
/// `MAX_BACKOFF`.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// How every AWS call is retried: by the SDK alone, in its standard mode.
///
/// The SDK classifies throttling (`TooManyRequestsException`, `Throttling`) and transient
/// faults (timeouts, connection errors, 5xx) by code and status, backs off exponentially with
/// full jitter, and stops retrying when its retry quota (a token bucket shared by the
/// clients of a service) runs dry, so a real outage is not hammered. Ten attempts: at an
/// injected 30 % throttling rate a call fails only after ten throttles in a row (p = 6e-6).
/// The rate of calls is bounded by the readers' own concurrency (`read::DEFAULT_CONCURRENCY`).
///
/// Not adaptive mode: its client-side limiter (aws-smithy-runtime 1.16,
/// `client_rate_limiter.rs`) drops to 0.5 requests per second after a throttle seen while
/// the measured rate is still low (a fresh Lambda's first calls), and charges 5 tokens per
/// retry: a 10 s pause before each retry. On the test bed with 30 % throttling it made 40
/// requests in 74 s; a 10,000-account read (500 pages) would outlast Lambda's 15 minutes.
/// BENCHMARKS.md ("Retries") has the figures.
///
/// What the SDK cannot do stays in the engine: waiting out `OperationInProgressException`
/// (a StackSet busy with another operation) and the Lambda deadline.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// Loads the shared AWS configuration: standard credential chain, region, `AWS_ENDPOINT_URL`
/// (which points every client at a local emulator when set), and [`retry_config`].
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await
}
