//! `events:PutEvents` on the default event bus: the change feed.
//!
//! Two kinds of failure, as EventBridge documents them
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html>, "Handling
//! failures with PutEvents"): a failed request (throttling, 5xx, timeouts: the SDK retries
//! those, `adapters::retry_config`), and a 200 answer with `FailedEntryCount` > 0, whose
//! entry carries `ErrorCode` and `ErrorMessage` and "must be included in a subsequent call".
//! The SDK does not retry the second kind: this adapter sends the entry again when its code
//! is a transient one, at most [`ENTRY_ATTEMPTS`] times, and otherwise returns the error.

use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::core::ChangeEvent;
use crate::ports::{AwsError, AwsResult, ChangeFeed};

use super::errors::classify;

/// Sends of one entry that EventBridge answered with a transient per-entry failure.
pub const ENTRY_ATTEMPTS: u32 = 3;
/// Pause before sending a failed entry again; doubles per attempt.
const ENTRY_BACKOFF: Duration = Duration::from_millis(200);

/// Per-entry error codes worth another send: the ones AWS calls retryable
/// (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html>).
/// The others (AccessDeniedException, InvalidArgument, MalformedDetail,
/// NotAuthorizedForSourceException, ...) fail the same way every time.
pub fn transient(code: &str) -> bool {
    matches!(code, "InternalFailure" | "ThrottlingException")
}

pub struct EventBridgeFeed {
    client: aws_sdk_eventbridge::Client,
}

impl EventBridgeFeed {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_eventbridge::Client::new(conf),
        }
    }
}

impl ChangeFeed for EventBridgeFeed {
    async fn publish(&self, event: &ChangeEvent) -> AwsResult<()> {
        let entry = PutEventsRequestEntry::builder()
            .source(&event.source)
            .detail_type(&event.detail_type)
            .detail(&event.detail)
            .build();
        let mut attempt = 1;
        loop {
            let out = self
                .client
                .put_events()
                .entries(entry.clone())
                .send()
                .await
                .map_err(|e| classify("events", "PutEvents", e))?;
            if out.failed_entry_count() == 0 {
                return Ok(());
            }
            let failed = out.entries().first();
            let code = failed.and_then(|e| e.error_code()).unwrap_or_default();
            let message = failed.and_then(|e| e.error_message()).unwrap_or_default();
            if transient(code) && attempt < ENTRY_ATTEMPTS {
                tracing::warn!(
                    code,
                    message,
                    attempt,
                    "PutEvents: the entry failed; sending it again"
                );
                tokio::time::sleep(ENTRY_BACKOFF * 2u32.pow(attempt - 1)).await;
                attempt += 1;
                continue;
            }
            return Err(AwsError::Other {
                service: "events",
                action: "PutEvents",
                message: format!(
                    "the entry was not accepted (FailedEntryCount {}, attempt {attempt}): \
                     {code}: {message}",
                    out.failed_entry_count()
                ),
            });
        }
    }
}
