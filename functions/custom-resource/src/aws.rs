//! The two AWS-facing pieces only this function needs: the PUT to the ResponseURL, and the
//! asynchronous self-invocation that carries a long wait over.

use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;

use crate::handler::{redact, Reinvoker, Responder};

/// PUTs with bounded retries: network errors and 5xx are retried with backoff; a 4xx is final
/// (a presigned URL that was rejected will not get better).
pub struct HttpResponder {
    client: reqwest::Client,
    pub attempts: u32,
    pub base_delay: Duration,
}

impl HttpResponder {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            attempts: 6,
            base_delay: Duration::from_millis(500),
        }
    }
}

impl Default for HttpResponder {
    fn default() -> Self {
        Self::new()
    }
}

impl Responder for HttpResponder {
    async fn put(&self, url: &str, body: &str) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            // The presigned URL signs no Content-Type: send an empty one, as cfn-response does.
            let r = self
                .client
                .put(url)
                .header("content-type", "")
                .body(body.to_owned())
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) if resp.status().is_client_error() => {
                    return Err(format!("ResponseURL answered {}", resp.status()))
                }
                Ok(resp) => last = format!("ResponseURL answered {}", resp.status()),
                Err(e) => last = format!("PUT failed: {}", e.without_url()),
            }
            tracing::warn!(attempt, error = %last, url = %redact(url), "response PUT failed; retrying");
            if attempt < self.attempts {
                tokio::time::sleep(self.base_delay * 2u32.pow(attempt - 1)).await;
            }
        }
        Err(last)
    }
}

/// `lambda:InvokeFunction` with InvocationType Event, on this very function. Errors are retried
/// (four attempts) except those Lambda gives for the request itself (`refused_for_good`).
pub struct LambdaReinvoker {
    pub client: aws_sdk_lambda::Client,
    pub function_arn: String,
}

impl Reinvoker for LambdaReinvoker {
    async fn reinvoke(&self, payload: &Value) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 1..=4u32 {
            match self
                .client
                .invoke()
                .function_name(&self.function_arn)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload.to_string()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => {
                    last = describe(&e);
                    if refused_for_good(e.raw_response().map(|r| r.status().as_u16())) {
                        tracing::error!(attempt, error = %last, "Lambda refused the re-invocation; the same request would be refused again, not retrying");
                        break;
                    }
                    tracing::warn!(attempt, error = %last, "re-invocation failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
            }
        }
        Err(last)
    }
}

/// A 4xx answer but 429 refuses the request itself (413 payload too large, 403 access denied,
/// 400 invalid, 404 no such function): sent again, it would be refused again. 429 (throttled),
/// 5xx and transport errors are worth another attempt.
fn refused_for_good(status: Option<u16>) -> bool {
    matches!(status, Some(s) if (400..500).contains(&s) && s != 429)
}

/// An `Invoke` error as CloudFormation's reason can carry it: Lambda's answer (HTTP status,
/// error code, message) when there is one, else the SDK's whole account of what failed.
fn describe(e: &SdkError<InvokeError, HttpResponse>) -> String {
    match e {
        SdkError::ServiceError(se) => format!(
            "Lambda's Invoke answered HTTP {} {}: {}",
            se.raw().status().as_u16(),
            se.err().code().unwrap_or("(no error code)"),
            se.err().message().unwrap_or("(no message)")
        ),
        _ => format!("{}", aws_sdk_lambda::error::DisplayErrorContext(e)),
    }
}
