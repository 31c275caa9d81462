//! The body PUT to CloudFormation's ResponseURL, kept under CloudFormation's 4096-byte limit.

use std::collections::BTreeMap;

use serde::Serialize;

/// CloudFormation rejects response bodies of 4096 bytes or more.
pub const MAX_BODY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnResponse {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Success,
    Failed,
}

impl CfnResponse {
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Shrinks `AccountIds` (marking `AccountIdsTruncated`) and then `Reason` until the body
    /// fits. Returns the account IDs that were cut from `Data`, for the log.
    pub fn fit(&mut self) -> Option<String> {
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
                const NOTE: &str = "… (truncated; the function's CloudWatch log has the full text)";
                let room = MAX_BODY
                    .saturating_sub(self.body().len() + NOTE.len() + 32)
                    .min(reason.len());
                let mut end = room;
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                self.reason = Some(format!("{}{NOTE}", &reason[..end]));
            }
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp() -> CfnResponse {
        CfnResponse {
            status: Status::Success,
            reason: None,
            physical_resource_id: "stackset-instances/Port-Integration-v3".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".into(),
            request_id: "r".into(),
            logical_resource_id: "PortStackSetInstances".into(),
            data: BTreeMap::new(),
        }
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
    fn a_small_body_is_left_alone() {
        let mut r = resp();
        r.data.insert("AccountIds".into(), "111111111111".into());
        assert!(r.fit().is_none());
        assert!(!r.data.contains_key("AccountIdsTruncated"));
    }
}
