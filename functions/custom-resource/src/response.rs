//! The body PUT to CloudFormation's ResponseURL (`aws_lambda_events`'
//! `CloudFormationCustomResourceResponse`), kept under CloudFormation's 4096-byte limit.

pub use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceResponse as CfnResponse,
    CloudFormationCustomResourceResponseStatus as Status,
};
use serde_json::Value;

/// CloudFormation rejects response bodies of 4096 bytes or more.
pub const MAX_BODY: usize = 4096;

/// Appended to a Reason that had to be cut.
const CUT_NOTE: &str = "… (truncated; the function's CloudWatch log has the full text)";

/// A response with these fields; `Reason`, `NoEcho` and `Data` empty.
pub fn response(
    status: Status,
    physical_resource_id: String,
    stack_id: String,
    request_id: String,
    logical_resource_id: String,
) -> CfnResponse {
    let mut r = CfnResponse::default();
    r.status = status;
    r.physical_resource_id = physical_resource_id;
    r.stack_id = stack_id;
    r.request_id = request_id;
    r.logical_resource_id = logical_resource_id;
    r
}

/// `SUCCESS` or `FAILED`, as the body says it.
pub fn status_word(s: &Status) -> &'static str {
    match s {
        Status::Failed => "FAILED",
        _ => "SUCCESS",
    }
}

/// Serializing and fitting the crate's response type.
pub trait Body {
    /// The JSON body exactly as it is sent. An absent `Reason` is left out rather than sent
    /// as `null` (AWS documents it as an optional string).
    fn body(&self) -> String;
    /// Shrinks `AccountIds` (marking `AccountIdsTruncated`) and then `Reason` until the
    /// serialized body (quotes and backslashes escaped) fits. Returns the account IDs that
    /// were cut from `Data`, for the log.
    fn fit(&mut self) -> Option<String>;
}

impl Body for CfnResponse {
    fn body(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            if o.get("Reason").is_some_and(Value::is_null) {
                o.remove("Reason");
            }
        }
        v.to_string()
    }

    fn fit(&mut self) -> Option<String> {
        let mut cut = None;
        if self.body().len() >= MAX_BODY {
            if let Some(full) = self.data.get("AccountIds").cloned() {
                self.data
                    .insert("AccountIdsTruncated".into(), "true".into());
                let ids: Vec<&str> = full.split(',').collect();
                // Largest prefix that fits (binary search over the count).
                let (mut lo, mut hi) = (0usize, ids.len());
                while lo < hi {
                    let mid = (lo + hi).div_ceil(2);
                    self.data.insert("AccountIds".into(), ids[..mid].join(","));
                    if self.body().len() < MAX_BODY {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                self.data.insert("AccountIds".into(), ids[..lo].join(","));
                cut = Some(full);
            }
        }
        if self.body().len() >= MAX_BODY {
            if let Some(reason) = self.reason.take() {
                // Longest prefix (cut on a char boundary) whose *serialized* body fits: an
                // escaped quote or backslash costs two bytes, a control character six.
                let floor = |mut i: usize| {
                    while !reason.is_char_boundary(i) {
                        i -= 1;
                    }
                    i
                };
                let (mut lo, mut hi) = (0usize, reason.len());
                while lo < hi {
                    let mid = (lo + hi).div_ceil(2);
                    self.reason = Some(format!("{}{CUT_NOTE}", &reason[..floor(mid)]));
                    if self.body().len() < MAX_BODY {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                self.reason = Some(format!("{}{CUT_NOTE}", &reason[..floor(lo)]));
            }
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp() -> CfnResponse {
        response(
            Status::Success,
            "stackset-instances/Port-Integration-v3".into(),
            "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".into(),
            "r".into(),
            "PortStackSetInstances".into(),
        )
    }

    #[test]
    fn a_long_account_list_is_truncated_and_flagged_to_fit_4096_bytes() {
        let mut r = resp();
        let ids: Vec<String> = (0..1000).map(|i| format!("{i:012}")).collect();
        r.data.insert("AccountIds".into(), ids.join(","));
        r.data.insert("AccountCount".into(), "1000".into());
        let cut = r.fit();
        assert!(cut.is_some());
        let body = r.body();
        assert!(body.len() < MAX_BODY, "{}", body.len());
        assert!(
            body.len() > MAX_BODY - 20,
            "uses the room it has: {}",
            body.len()
        );
        assert_eq!(r.data["AccountIdsTruncated"], "true");
        assert!(r.data["AccountIds"].starts_with("000000000000,000000000001"));
        assert_eq!(r.data["AccountCount"], "1000");
    }

    #[test]
    fn a_long_reason_is_truncated_on_a_char_boundary() {
        let mut r = resp();
        r.status = Status::Failed;
        r.reason = Some("é".repeat(5000));
        r.fit();
        assert!(r.body().len() < MAX_BODY);
        assert!(r.reason.unwrap().ends_with("full text)"));
    }

    #[test]
    fn a_failed_answer_with_long_quoted_reasons_stays_within_4096_serialized_bytes() {
        // AWS's reasons quote names and escape paths: each `"` and `\` doubles when
        // serialized, so a Reason of under 4096 raw bytes can make a body over the limit.
        for unit in [
            "\"",
            "\\",
            "Resource handler returned message: \"Role with name \\\"PortIntegrationRole\\\" already exists\" ",
            "\u{1}",
            "é\"",
        ] {
            let mut r = resp();
            r.status = Status::Failed;
            r.reason = Some(unit.repeat(4000 / unit.len() + 1));
            r.fit();
            let body = r.body();
            assert!(
                body.len() < MAX_BODY,
                "{unit:?}: body of {} bytes",
                body.len()
            );
            assert!(
                body.len() > MAX_BODY - 64,
                "{unit:?}: uses the room it has: {}",
                body.len()
            );
            let parsed: Value = serde_json::from_str(&body).unwrap();
            let reason = parsed["Reason"].as_str().unwrap();
            assert!(reason.ends_with("full text)"), "{reason}");
            assert!(reason.starts_with(unit.chars().next().unwrap()), "{reason}");
        }
    }

    #[test]
    fn a_reason_that_fits_once_serialized_is_left_whole() {
        let mut r = resp();
        r.status = Status::Failed;
        let reason = "\"".repeat(1500);
        r.reason = Some(reason.clone());
        r.fit();
        assert_eq!(r.reason.as_deref(), Some(reason.as_str()));
    }

    #[test]
    fn a_small_body_is_left_alone_and_sends_no_null_reason() {
        let mut r = resp();
        r.data.insert("AccountIds".into(), "111111111111".into());
        assert!(r.fit().is_none());
        assert!(!r.data.contains_key("AccountIdsTruncated"));
        let body: Value = serde_json::from_str(&r.body()).unwrap();
        assert!(body.get("Reason").is_none(), "{body}");
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(
            body["PhysicalResourceId"],
            "stackset-instances/Port-Integration-v3"
        );
    }
}
