//! The paging of `ListStackSetOperations` and `ListStackSetOperationResults`: every page,
//! as AWS gives them.

use crate::adapters::errors::classify;
use crate::core::AccountId;
use crate::ports::{AwsResult, Operation, OperationResult};

use super::convert::{secs, ts};
use super::CfnStackSets;

impl CfnStackSets {
    /// Every page of `ListStackSetOperations`, in the order AWS gave (none documented).
    pub(super) async fn list_operations(&self, name: &str) -> AwsResult<Vec<Operation>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_stack_set_operations()
                .stack_set_name(name)
                .call_as(self.call_as())
                .set_next_token(token.clone())
                .max_results(100)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "ListStackSetOperations", e))?;
            out.extend(page.summaries().iter().map(|o| {
                Operation {
                    id: o.operation_id().unwrap_or_default().to_owned(),
                    action: o
                        .action()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    status: o
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    status_reason: o.status_reason().map(str::to_owned),
                    started: ts(o.creation_timestamp()),
                    ended: ts(o.end_timestamp()),
                    duration_secs: secs(o.creation_timestamp(), o.end_timestamp()),
                }
            }));
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// Every page of `ListStackSetOperationResults`.
    pub(super) async fn list_results(
        &self,
        name: &str,
        id: &str,
    ) -> AwsResult<Vec<OperationResult>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_stack_set_operation_results()
                .stack_set_name(name)
                .operation_id(id)
                .call_as(self.call_as())
                .set_next_token(token.clone())
                .max_results(100)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "ListStackSetOperationResults", e))?;
            for r in page.summaries() {
                let Ok(account) = AccountId::parse(r.account().unwrap_or_default()) else {
                    continue;
                };
                out.push(OperationResult {
                    account,
                    region: r.region().unwrap_or_default().to_owned(),
                    status: r
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    status_reason: r.status_reason().map(str::to_owned),
                });
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }
}
