//! `StackSetReader` for `CfnStackSets`: the StackSet, its instances and its operations, with
//! the operations of ours the eventually consistent lists lag behind described by ID.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::adapters::errors::classify;
use crate::core::operations::newest_first;
use crate::core::{AccountId, StackInstance};
use crate::ports::{AwsError, AwsResult, Operation, OperationResult, StackSetInfo, StackSetReader};

use super::convert::{secs, to_instance, ts};
use super::CfnStackSets;

/// How long `operation_results` waits, at most, for the results of an operation of ours
/// that ended to be listed: the lists' lag is undocumented; past this the (empty) list is
/// taken as it is.
const RESULTS_LAG_BOUND: Duration = Duration::from_secs(30);

impl StackSetReader for CfnStackSets {
    fn set_call_as(&self, call_as: crate::core::CallAs) {
        self.delegated.store(
            call_as == crate::core::CallAs::DelegatedAdmin,
            Ordering::Relaxed,
        );
    }

    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        let out = self
            .client
            .describe_stack_set()
            .stack_set_name(name)
            .call_as(self.call_as())
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStackSet", e))?;
        let s = out.stack_set().ok_or_else(|| AwsError::NotFound {
            what: format!("StackSet {name}"),
        })?;
        Ok(StackSetInfo {
            name: s.stack_set_name().unwrap_or(name).to_owned(),
            arn: s.stack_set_arn().map(str::to_owned),
            service_managed: s.permission_model().map(|p| p.as_str()) == Some("SERVICE_MANAGED"),
            auto_deployment: s
                .auto_deployment()
                .and_then(|a| a.enabled())
                .unwrap_or(false),
            status: s
                .status()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
        })
    }

    async fn instances(&self, name: &str) -> AwsResult<Vec<StackInstance>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .set_next_token(token.clone())
                .max_results(100)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "ListStackInstances", e))?;
            out.extend(page.summaries().iter().filter_map(to_instance));
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        out.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
        Ok(out)
    }

    async fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> AwsResult<Vec<StackInstance>> {
        let mut out = Vec::new();
        for a in accounts {
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .list_stack_instances()
                    .stack_set_name(name)
                    .call_as(self.call_as())
                    .stack_instance_account(a.as_str())
                    .set_next_token(token)
                    .max_results(100)
                    .send()
                    .await
                    .map_err(|e| classify("cloudformation", "ListStackInstances", e))?;
                out.extend(page.summaries().iter().filter_map(to_instance));
                match page.next_token() {
                    Some(t) => token = Some(t.to_owned()),
                    None => break,
                }
            }
        }
        out.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
        Ok(out)
    }

    async fn operation(&self, name: &str, id: &str) -> AwsResult<Operation> {
        let out = self
            .client
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(id)
            .call_as(self.call_as())
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStackSetOperation", e))?;
        let o = out
            .stack_set_operation()
            .ok_or_else(|| AwsError::NotFound {
                what: format!("operation {id}"),
            })?;
        Ok(Operation {
            id: o.operation_id().unwrap_or(id).to_owned(),
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
        })
    }

    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        // Every page: AWS documents no order, so the newest may be on any page.
        let mut ops = self.list_operations(name).await?;
        let unlisted: Vec<String> = {
            let mut own = self.own.lock().expect("own operations");
            for o in own.iter_mut().filter(|o| o.stack_set == name && o.unlisted) {
                o.unlisted = !ops.iter().any(|l| l.id == o.id);
            }
            own.retain(|o| o.unlisted || o.awaits_results);
            own.iter()
                .filter(|o| o.stack_set == name && o.unlisted)
                .map(|o| o.id.clone())
                .collect()
        };
        for id in unlisted {
            tracing::debug!(operation_id = %id, "own operation not listed yet; describing it");
            match self.operation(name, &id).await {
                Ok(op) => ops.push(op),
                Err(AwsError::NotFound { .. }) => self.forget(name, &id),
                Err(e) => return Err(e),
            }
        }
        newest_first(&mut ops, |o| o.started.as_deref(), |o| o.id.as_str());
        ops.truncate(usize::try_from(max).unwrap_or(0));
        Ok(ops)
    }

    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        let mut rows = self.list_results(name, id).await?;
        let awaited = {
            let own = self.own.lock().expect("own operations");
            own.iter()
                .any(|o| o.stack_set == name && o.id == id && o.awaits_results)
        };
        if awaited {
            // An operation of ours that targets accounts has a row per target from its start:
            // none listed means the list lags behind it. Wait for the rows, within a bound.
            let mut delay = Duration::from_millis(250);
            let mut waited = Duration::ZERO;
            while rows.is_empty() && waited < RESULTS_LAG_BOUND {
                tracing::debug!(operation_id = %id, "own operation's results not listed yet; waiting");
                tokio::time::sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(5));
                rows = self.list_results(name, id).await?;
            }
            let mut own = self.own.lock().expect("own operations");
            for o in own.iter_mut().filter(|o| o.stack_set == name && o.id == id) {
                o.awaits_results = false;
            }
            own.retain(|o| o.unlisted || o.awaits_results);
        }
        Ok(rows)
    }
}
