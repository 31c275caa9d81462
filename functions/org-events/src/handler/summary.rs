//! The one structured answer of an invocation: how it ended (`Disposition`), what changed, and
//! the log lines that carry it.

use std::collections::BTreeSet;

use serde::Serialize;
use shared::core::{advise, AccountId, ScopeChange};
use shared::engine::{AccountFailure, OpRecord, Report};
use shared::feed::Put;
use shared::metrics::ReconcileFigures;
use shared::ports::OpKind;

use crate::trigger::{Classified, Trigger};

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Unknown or malformed event, or a failed call: nothing looked at.
    Ignored,
    /// The cheap check showed the event cannot touch the scope.
    NotRelevant,
    /// A reconcile this instance completed already read the state after this change.
    AlreadyCovered,
    /// Read everything: nothing to change.
    NoChange,
    /// Changes applied (or attempted: see failures).
    Reconciled,
    /// The deadline came while an operation was running; the next run continues.
    Pending,
    /// The deployment stack was being created, updated or deleted (the custom resource owns
    /// the StackSet then), or kept changing under this run: nothing changed.
    StoodAside,
}

impl Disposition {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ignored => "ignored",
            Self::NotRelevant => "not_relevant",
            Self::AlreadyCovered => "already_covered",
            Self::NoChange => "no_change",
            Self::Reconciled => "reconciled",
            Self::Pending => "pending",
            Self::StoodAside => "stood_aside",
        }
    }
}

/// An account the reconcile gave up on, with what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GivenUp {
    pub account: AccountId,
    pub why: String,
    pub advice: String,
}

/// The one structured answer (and log line) of an invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The delivery's leading event (the schedule, or the first event that is not ignored).
    pub trigger: Trigger,
    pub event_id: Option<String>,
    /// How many events this invocation was given (an SQS batch holds many; the schedule one).
    pub events: usize,
    /// The distinct accounts the events named.
    pub accounts_named: usize,
    pub outcome: Disposition,
    /// Why the function did what it did, in a sentence.
    pub reason: String,
    pub accounts_added: Vec<AccountId>,
    pub accounts_removed: Vec<AccountId>,
    pub accounts_retried: Vec<AccountId>,
    pub accounts_repaired: Vec<AccountId>,
    pub accounts_retained: Vec<AccountId>,
    pub given_up: Vec<GivenUp>,
    pub failures: Vec<AccountFailure>,
    pub operation_ids: Vec<String>,
    pub operations: Vec<OpRecord>,
    pub pending_operation: Option<OpRecord>,
    /// The drift detection the scheduled run started after reconciling (not waited for;
    /// the next scheduled run repairs from its results).
    pub drift_detection: Option<String>,
    pub warnings: Vec<String>,
    pub duration_ms: u64,
    /// What the completed reconcile pass found, for the metrics (`None` when none ran).
    #[serde(skip)]
    pub figures: Option<ReconcileFigures>,
    /// The Embedded Metric Format line printed for this invocation.
    #[serde(skip)]
    pub metrics_line: String,
    /// The accounts this invocation enrolled, withdrew, failed or repaired: the change event.
    #[serde(skip)]
    pub change: ScopeChange,
    /// How putting the change event went; `None` when nothing changed (no event).
    pub change_event: Option<Put>,
    /// The partial batch response of an SQS delivery (template.yaml, OrgEventsQueueMapping's
    /// FunctionResponseTypes ReportBatchItemFailures): the records Lambda returns to the
    /// queue while it deletes the others. Empty: the whole batch succeeded.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// One record of a partial batch response (Lambda developer guide, "Implementing partial
/// batch responses": `{"batchItemFailures": [{"itemIdentifier": "<messageId>"}]}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl Summary {
    pub(super) fn new(c: &Classified, outcome: Disposition, reason: impl Into<String>) -> Self {
        Self {
            trigger: c.trigger.clone(),
            event_id: c.event_id.clone(),
            events: 1,
            accounts_named: usize::from(c.trigger.account().is_some()),
            outcome,
            reason: reason.into(),
            accounts_added: vec![],
            accounts_removed: vec![],
            accounts_retried: vec![],
            accounts_repaired: vec![],
            accounts_retained: vec![],
            given_up: vec![],
            failures: vec![],
            operation_ids: vec![],
            operations: vec![],
            pending_operation: None,
            drift_detection: None,
            warnings: vec![],
            duration_ms: 0,
            figures: None,
            metrics_line: String::new(),
            change: ScopeChange::default(),
            change_event: None,
            batch_item_failures: vec![],
        }
    }
}

/// Up to five reasons, then how many more: a batch of a thousand events logs one line, not a
/// thousand reasons.
pub(super) fn first_few(reasons: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = reasons
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > SHOWN {
        text.push_str(&format!("; and {} more", reasons.len() - SHOWN));
    }
    text
}

/// The accounts a run's operations named.
/// The accounts `s`'s operations acted on, but those left waiting for their execution role
/// (`AccountFailure::awaits_account`): reading them again in the same run cannot find the deny
/// lifted, and would only retry them once more.
pub(super) fn operated(s: &Summary) -> Vec<AccountId> {
    let waiting: BTreeSet<&AccountId> = s
        .failures
        .iter()
        .filter(|f| f.awaits_account())
        .map(|f| &f.account)
        .collect();
    let set: BTreeSet<AccountId> = s
        .operations
        .iter()
        .flat_map(|o| o.accounts.iter().cloned())
        .filter(|a| !waiting.contains(a))
        .collect();
    set.into_iter().collect()
}

/// `first`, then `next`: what both changed, and how the second ended.
pub(super) fn merged(first: Summary, next: Summary) -> Summary {
    let mut s = next;
    let cat = |a: Vec<AccountId>, b: Vec<AccountId>| -> Vec<AccountId> {
        let mut v = a;
        v.extend(b);
        v
    };
    s.accounts_added = cat(first.accounts_added, s.accounts_added);
    s.accounts_removed = cat(first.accounts_removed, s.accounts_removed);
    s.accounts_retried = cat(first.accounts_retried, s.accounts_retried);
    s.accounts_repaired = cat(first.accounts_repaired, s.accounts_repaired);
    let mut ids = first.operation_ids;
    ids.extend(s.operation_ids);
    s.operation_ids = ids;
    let mut ops = first.operations;
    ops.extend(s.operations);
    s.operations = ops;
    let mut w = first.warnings;
    w.extend(s.warnings);
    s.warnings = w;
    let mut change = first.change;
    change.merge(s.change);
    s.change = change;
    s
}

pub(super) fn pending(c: &Classified, op: OpRecord, why: &str) -> Summary {
    let mut s = Summary::new(
        c,
        Disposition::Pending,
        format!(
            "{why}: StackSet operation {} ({}) is {}; the next invocation or the schedule \
             continues from the state then",
            op.id,
            op.kind.as_str(),
            op.status
        ),
    );
    s.operation_ids.push(op.id.clone());
    s.pending_operation = Some(op);
    s
}

pub(super) fn from_report(c: &Classified, r: &Report, why: &str) -> Summary {
    let failed: BTreeSet<&AccountId> = r.failures.iter().map(|f| &f.account).collect();
    let op_accounts = |kind: OpKind| -> Vec<AccountId> {
        let mut v: Vec<AccountId> = r
            .operations
            .iter()
            .filter(|o| o.kind == kind)
            .flat_map(|o| o.accounts.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let updated: BTreeSet<AccountId> = op_accounts(OpKind::Update).into_iter().collect();
    let retried: Vec<AccountId> = r
        .plan
        .retry
        .iter()
        .filter(|a| updated.contains(*a))
        .cloned()
        .collect();
    let repaired: Vec<AccountId> = r
        .plan
        .repair
        .iter()
        .filter(|a| updated.contains(*a))
        .cloned()
        .collect();
    let outcome = if r.operations.is_empty() {
        Disposition::NoChange
    } else {
        Disposition::Reconciled
    };
    let reason = if r.operations.is_empty() {
        format!("{why}: the StackSet already matches the scope")
    } else {
        format!("{why}: {} StackSet operation(s)", r.operations.len())
    };
    let mut s = Summary::new(c, outcome, reason);
    s.accounts_added = op_accounts(OpKind::Create)
        .into_iter()
        .filter(|a| !failed.contains(a))
        .collect();
    // A delete that SUCCEEDED can still have failed for some accounts (failure tolerance):
    // those are failures, not removals.
    s.accounts_removed = r
        .operations
        .iter()
        .filter(|o| o.kind == OpKind::Delete && o.status == "SUCCEEDED")
        .flat_map(|o| o.accounts.iter().cloned())
        .filter(|a| !failed.contains(a))
        .collect();
    s.accounts_retried = retried;
    s.accounts_repaired = repaired;
    s.accounts_retained = r.plan.retained.clone();
    s.given_up = r
        .plan
        .given_up
        .iter()
        .map(|h| GivenUp {
            account: h.account.clone(),
            why: h.why.clone(),
            advice: advise(h.account.as_str(), &h.why),
        })
        .collect();
    s.failures = r.failures.clone();
    s.operation_ids = r.operations.iter().map(|o| o.id.clone()).collect();
    s.operations = r.operations.clone();
    s.figures = Some(ReconcileFigures::from_report(r));
    s.change = r.scope_change();
    s
}

pub(super) fn ids(v: &[AccountId]) -> String {
    v.iter()
        .map(AccountId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn log_summary(s: &Summary) {
    let json = serde_json::to_string(s).unwrap_or_default();
    tracing::info!(
        trigger = s.trigger.kind(),
        event_id = s.event_id.as_deref().unwrap_or(""),
        outcome = s.outcome.as_str(),
        reason = %s.reason,
        accounts_added = %ids(&s.accounts_added),
        accounts_removed = %ids(&s.accounts_removed),
        accounts_retried = %ids(&s.accounts_retried),
        accounts_repaired = %ids(&s.accounts_repaired),
        operation_ids = %s.operation_ids.join(","),
        pending_operation = s.pending_operation.as_ref().map(|o| o.id.as_str()).unwrap_or(""),
        duration_ms = s.duration_ms,
        summary = %json,
        "org-events summary"
    );
    for g in &s.given_up {
        tracing::warn!(account = %g.account, advice = %g.advice, "gave up retrying an account");
    }
    for f in &s.failures {
        tracing::warn!(account = %f.account, region = %f.region, reason = %f.reason, advice = %f.advice, "account not enrolled");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_of_reasons_shows_five_and_counts_the_rest() {
        let many: Vec<String> = (0..1000).map(|i| format!("account {i}: outside")).collect();
        let text = first_few(&many);
        assert!(
            text.starts_with("account 0: outside; account 1: outside"),
            "{text}"
        );
        assert!(text.ends_with("account 4: outside; and 995 more"), "{text}");
        assert_eq!(
            first_few(&many[..2]),
            "account 0: outside; account 1: outside"
        );
    }
}
