//! How a request ends: its answer to CloudFormation (`SUCCESS` with the accounts, or `FAILED`
//! with the reason and the PhysicalResourceId CloudFormation's rollback needs), or the wait
//! carried over to a new invocation, or given up on.

use std::collections::BTreeSet;
use std::time::Duration;

use shared::core::ScopeChange;
use shared::engine::Report;
use shared::ports::{ChangeFeed, Clock, IdentityApi, OrganizationsApi, StackSetApi};
use shared::wall::epoch_ms;

use super::continuation::{Continuation, Step};
use super::request::Common;
use super::{
    data, redact, Handler, Reinvoker, Responder, Summary, FAILED_CREATE_PREFIX, PHYSICAL_PREFIX,
};
use crate::payload;
use crate::props::Props;
use crate::response::{response, status_word, Body, CfnResponse, Status};

impl<O, S, I, C, P, R, F> Handler<O, S, I, C, P, R, F>
where
    O: OrganizationsApi,
    S: StackSetApi,
    I: IdentityApi,
    C: Clock,
    P: Responder,
    R: Reinvoker,
    F: ChangeFeed,
{
    /// A step that carries the wait over: re-invokes with the continuation, or answers
    /// FAILED when the request's budget is spent or the continuation cannot be sent.
    pub(super) async fn carry_on_or_give_up(
        &self,
        c: &Common,
        mut cont: Continuation,
        summary: &mut Summary,
    ) {
        let spent = Duration::from_millis(epoch_ms().saturating_sub(cont.first_seen_ms));
        if self.settings.budget.saturating_sub(spent) <= self.settings.margin {
            let resp = self.failed(
                c,
                format!(
                    "Gave up after {} minutes: {}. It continues in AWS; check CloudFormation > StackSets > {} > Operations, then {}.",
                    self.settings.budget.as_secs() / 60,
                    match &cont.operation {
                        Some(op) => format!("StackSet operation {} is still {}", op.id, op.status),
                        None => "AWS did not answer in time".into(),
                    },
                    c.stack_set.as_deref().unwrap_or_default(),
                    self.next_step(c),
                ),
            );
            summary.answered = Some(self.answer(&c.response_url, resp).await);
            return;
        }
        summary.operations = cont.operation.iter().map(|o| o.id.clone()).collect();
        match self.send_continuation(c, &mut cont).await {
            Ok(()) => summary.reinvoked = true,
            Err(reason) => {
                let resp = self.failed(c, reason);
                summary.answered = Some(self.answer(&c.response_url, resp).await);
            }
        }
    }

    /// Sends the continuation, fitted to Lambda's asynchronous payload limit. `Err` holds the
    /// reason for CloudFormation when it could not be sent.
    async fn send_continuation(&self, c: &Common, cont: &mut Continuation) -> Result<(), String> {
        let waiting_on = cont
            .operation
            .as_ref()
            .map(|o| o.id.clone())
            .unwrap_or_default();
        match payload::fit(cont, self.settings.continuation_budget) {
            Ok(fitted) => {
                tracing::info!(operation_id = %waiting_on, hop = cont.hop, payload_bytes = fitted.bytes, unlisted = ?fitted.unlisted, "deadline near: carrying the wait over to a new invocation");
                self.reinvoker.reinvoke(&fitted.payload).await.map_err(|e| {
                    tracing::error!(error = %e, payload_bytes = fitted.bytes, "re-invocation failed; answering now");
                    format!("Could not continue waiting for the StackSet ({e}); any running operation continues in AWS (CloudFormation > StackSets > Operations). Once it has finished, {}.", self.next_step(c))
                })
            }
            Err(bytes) => {
                let request_bytes = cont.request.to_string().len();
                tracing::error!(payload_bytes = bytes, request_bytes, budget = self.settings.continuation_budget, "the continuation does not fit Lambda's asynchronous payload limit; answering now");
                Err(format!("Could not continue waiting for the StackSet: the wait would be carried over in a {bytes}-byte asynchronous invocation, over the {} bytes this function sends (Lambda refuses more than {} bytes), because the CloudFormation request itself is {request_bytes} bytes. Nothing was sent. Any running operation continues in AWS (CloudFormation > StackSets > Operations). Shorten the custom resource's properties; once the operation has finished, {}.", self.settings.continuation_budget, payload::ASYNC_PAYLOAD_LIMIT, self.next_step(c)))
            }
        }
    }

    /// What the user does after a FAILED answer that left an operation running.
    fn next_step(&self, c: &Common) -> &'static str {
        if c.physical_resource_id.is_none() && c.mutations.any() {
            "create the stack again: its rollback removes what this Create deployed"
        } else {
            "update the stack again"
        }
    }

    /// The PhysicalResourceId of a FAILED answer. Update and Delete keep the ID they were
    /// given (CloudFormation rolls back to it). A Create that may have changed the StackSet
    /// answers the live ID, so that the rollback Delete removes what it made; one that changed
    /// nothing answers the marker, so that the rollback Delete touches nothing.
    fn failed_physical_id(&self, c: &Common) -> String {
        match (&c.physical_resource_id, &c.stack_set) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) if c.mutations.any() => format!("{PHYSICAL_PREFIX}{name}"),
            (None, _) => format!("{FAILED_CREATE_PREFIX}{}", c.request_id),
        }
    }

    pub(super) fn failed(&self, c: &Common, reason: String) -> CfnResponse {
        let mut r = response(
            Status::Failed,
            self.failed_physical_id(c),
            c.stack_id.clone(),
            c.request_id.clone(),
            c.logical_resource_id.clone(),
        );
        r.reason = Some(reason);
        r
    }

    pub(super) async fn answer(&self, url: &str, mut resp: CfnResponse) -> String {
        if let Some(full) = resp.fit() {
            tracing::info!(account_ids = %full, "AccountIds truncated in the response; the full list");
        }
        let body = resp.body();
        let status = status_word(&resp.status);
        tracing::info!(status, reason = resp.reason.as_deref().unwrap_or(""), physical_resource_id = %resp.physical_resource_id, "answering CloudFormation");
        match self.responder.put(url, &body).await {
            Ok(()) => status.to_owned(),
            Err(e) => {
                tracing::error!(error = %e, url = %redact(url), "could not deliver the response to CloudFormation");
                format!("{status} (delivery failed: {e})")
            }
        }
    }

    pub(super) fn done(
        &self,
        c: &Common,
        props: &Props,
        report: &Report,
        carried: Option<&Continuation>,
        rollout: Option<ScopeChange>,
    ) -> Step {
        self.record(report, &props.stack_set, carried, false, rollout);
        let ops: Vec<String> = report.operations.iter().map(|o| o.id.clone()).collect();
        let n = report.expansion.included.len();
        for f in &report.failures {
            tracing::warn!(account = %f.account, region = %f.region, reason = %f.reason, advice = %f.advice, awaits_account = f.awaits_account(), "account not CURRENT");
        }
        // Accounts whose StackSets execution role is denied (an SCP quarantine, or setup not
        // finished) are not ready yet: they alone do not fail the request. Failing it would
        // roll the stack back for an account that gets the role by itself at a later scheduled
        // run, and an Update's rollback would fail on the same account (UPDATE_ROLLBACK_FAILED,
        // which only a person can continue).
        let (waiting, failed): (Vec<_>, Vec<_>) =
            report.failures.iter().partition(|f| f.awaits_account());
        let listed = |fs: &[&shared::engine::AccountFailure]| {
            let shown: Vec<String> = fs
                .iter()
                .take(10)
                .map(|f| format!("{} ({})", f.advice, f.region))
                .collect();
            let more = if fs.len() > shown.len() {
                format!(
                    "; and {} more (see the function's log)",
                    fs.len() - shown.len()
                )
            } else {
                String::new()
            };
            format!("{}{more}", shown.join("; "))
        };
        if !failed.is_empty() {
            let besides =
                if waiting.is_empty() {
                    String::new()
                } else {
                    let ids: Vec<&str> = waiting
                        .iter()
                        .take(10)
                        .map(|f| f.account.as_str())
                        .collect();
                    format!(
                    ". Besides, {} account(s) wait for their StackSets execution role, which a \
                     service control policy or the account's setup denies ({}{}); these alone \
                     would not fail the stack",
                    waiting.len(),
                    ids.join(", "),
                    if waiting.len() > ids.len() { ", …" } else { "" }
                )
                };
            // A failed Update keeps the old PhysicalResourceId: CloudFormation rolls back to it.
            let resp = self.failed(
                c,
                format!(
                    "{} of {n} in-scope account(s) did not get Port's role: {}{besides}",
                    failed.len(),
                    listed(&failed)
                ),
            );
            return Step::Answer {
                response: resp,
                operations: ops,
                accounts: n,
            };
        }
        let mut resp = response(
            Status::Success,
            format!("{PHYSICAL_PREFIX}{}", props.stack_set),
            c.stack_id.clone(),
            c.request_id.clone(),
            c.logical_resource_id.clone(),
        );
        resp.data = data(&report.expansion);
        if !waiting.is_empty() {
            // EnrolledAccountIds: the accounts that have Port's role now.
            let later: BTreeSet<&str> = waiting.iter().map(|f| f.account.as_str()).collect();
            let ids: Vec<&str> = report
                .expansion
                .included
                .iter()
                .map(|e| e.id.as_str())
                .filter(|a| !later.contains(a))
                .collect();
            resp.data.insert("AccountIds".into(), ids.join(","));
            resp.data
                .insert("AccountCount".into(), ids.len().to_string());
            resp.reason = Some(format!(
                "{} of {n} in-scope account(s) are not ready for Port's role yet: {}",
                later.len(),
                listed(&waiting)
            ));
        }
        Step::Answer {
            response: resp,
            operations: ops,
            accounts: n,
        }
    }
}
