//! The change a finished request made, kept for the change feed (`shared::feed`) once
//! CloudFormation has its answer, with the operations earlier invocations started.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use shared::core::{AccountId, ChangeContext, ScopeChange};
use shared::engine::{OpRecord, Report};
use shared::feed;
use shared::metrics::ReconcileFigures;
use shared::ports::{ChangeFeed, Clock, IdentityApi, OrganizationsApi, StackSetApi};

use super::continuation::{started_ops, Continuation};
use super::{Handler, Reinvoker, Responder, Summary};

/// What a finished request changed, and where.
#[derive(Debug, Clone)]
pub(super) struct Changed {
    /// The request's report, with every operation it started, in any invocation.
    report: Report,
    /// A Delete's: every account leaves.
    removal: bool,
    stack_set: String,
    /// Operations whose accounts did not travel in the continuation (`Continuation::unlisted`).
    unlisted: Vec<String>,
    /// An Update that changed Port's role's permissions: the accounts of CloudFormation's
    /// StackSet update that applied them (`ScopeChange::role_permissions_rollout`).
    rollout: Option<ScopeChange>,
}

impl Changed {
    fn change(&self) -> ScopeChange {
        let mut change = if self.removal {
            self.report.removal_change()
        } else {
            self.report.scope_change()
        };
        if let Some(r) = &self.rollout {
            change.merge(r.clone());
        }
        change
    }
}

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
    /// Puts the change the request made on the feed, within what is left of the invocation
    /// (CloudFormation has its answer: the change event cannot delay or change it).
    pub(super) async fn publish_change(
        &self,
        summary: &mut Summary,
        deadline: Instant,
        stack_id: Option<String>,
    ) {
        let changed = self.settings.change.lock().ok().and_then(|mut c| c.take());
        let Some(mut changed) = changed else {
            return;
        };
        let within = || {
            deadline
                .saturating_duration_since(self.clock.now())
                .saturating_sub(Duration::from_secs(2))
                .max(Duration::from_secs(1))
        };
        if !changed.unlisted.is_empty() {
            let read = self.read_back(&mut changed);
            if tokio::time::timeout(within(), read).await.is_err() {
                tracing::error!(operations = ?changed.unlisted, "the change event leaves out the accounts of operations whose results could not be read back before the deadline");
            }
        }
        let ctx = ChangeContext {
            integration_identifier: self.settings.integration_id.clone(),
            function: "custom-resource".into(),
            trigger: summary.request_type.clone(),
            event_id: None,
            stack_id,
            stack_set_name: changed.stack_set.clone(),
            operation_ids: changed
                .report
                .operations
                .iter()
                .map(|o| o.id.clone())
                .collect(),
        };
        summary.change_event = feed::publish(&self.feed, &changed.change(), &ctx, within()).await;
    }

    /// Keeps the figures of a finished request, and the change it made (with what earlier
    /// invocations of it started) for the feed. `removal`: a Delete's.
    pub(super) fn record(
        &self,
        report: &Report,
        stack_set: &str,
        carried: Option<&Continuation>,
        removal: bool,
        rollout: Option<ScopeChange>,
    ) {
        if let Ok(mut f) = self.settings.figures.lock() {
            *f = Some(ReconcileFigures::from_report(report));
        }
        let mut whole = report.clone();
        let mut ops: Vec<OpRecord> = carried.map(started_ops).unwrap_or_default();
        ops.retain(|o| !report.operations.iter().any(|r| r.id == o.id));
        ops.extend(report.operations.iter().cloned());
        whole.operations = ops;
        let unlisted: Vec<String> = carried
            .map(|c| c.unlisted.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|id| {
                whole
                    .operations
                    .iter()
                    .any(|o| &o.id == id && o.accounts.is_empty())
            })
            .collect();
        if let Ok(mut c) = self.settings.change.lock() {
            *c = Some(Changed {
                report: whole,
                removal,
                stack_set: stack_set.to_owned(),
                unlisted,
                rollout,
            });
        }
    }

    /// Reads back the accounts of the operations whose accounts did not travel in the
    /// continuation (`ListStackSetOperationResults`: one result per account and region), after
    /// CloudFormation has its answer. An operation whose results cannot be read is left out of
    /// the change event, and logged.
    async fn read_back(&self, changed: &mut Changed) {
        let mut calls = 0usize;
        let wanted = changed.unlisted.clone();
        for op in changed
            .report
            .operations
            .iter_mut()
            .filter(|o| o.accounts.is_empty() && wanted.contains(&o.id))
        {
            calls += 1;
            match self
                .stacksets
                .operation_results(&changed.stack_set, &op.id)
                .await
            {
                Ok(results) => {
                    let accounts: BTreeSet<AccountId> =
                        results.into_iter().map(|r| r.account).collect();
                    op.accounts = accounts.into_iter().collect();
                    changed.unlisted.retain(|id| id != &op.id);
                }
                Err(e) => {
                    tracing::error!(operation_id = %op.id, error = %e, "could not read back the operation's accounts; the change event leaves them out");
                }
            }
        }
        tracing::info!(
            operations = calls,
            "read back the accounts of operations that did not travel in the continuation"
        );
    }
}
