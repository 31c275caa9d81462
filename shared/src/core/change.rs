//! The change feed's words: which accounts a reconcile pass enrolled, withdrew, failed or
//! repaired ([`ScopeChange`]), and the one EventBridge event that tells it ([`ChangeEvent`]).
//!
//! Pure: computed from what a pass planned and what its finished operations did; no SDK
//! types, no I/O, no clock.
//!
//! Definitions (an account counts only when a StackSet operation of this pass acted on it; a
//! pass that started no operation changes nothing, and puts no event):
//! - **enrolled**: a create for it finished and its instance is CURRENT: Port's role is new
//!   in the account.
//! - **withdrawn**: a delete for it finished and no instance of it remains: Port's role was
//!   deleted from the account (it left the scope), or, for an account StackSets can no longer
//!   reach (suspended, closed, gone), its instance was dropped with `RetainStacks` (the role
//!   stays inside, and Port stops listing the account).
//! - **failed**: a create, a drift repair or a delete for it did not end as wanted (the
//!   account did not get, keep, or lose the role). A retry of an account that had already
//!   failed and fails again is no change, and is not reported.
//! - **repaired**: an update for it (a retry of an earlier failure, or the repair of a
//!   drifted stack) finished and its instance is CURRENT.
//! - **updated**: the StackSet update that applied a change of Port's role's permissions
//!   (`PortRolePolicyArns`, `PortRolePermissionsBoundaryArn`: CloudFormation's `UpdateStackSet`,
//!   read back by the custom resource's Update) finished for it, its instance is CURRENT: Port's
//!   role has the new policies. An account that did not take them is **failed**.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::expand::Expansion;
use super::ids::AccountId;
use super::plan::ReconcilePlan;

/// The event's `source`. EventBridge refuses `aws.` prefixes for custom events; this one is
/// the project's own.
pub const SOURCE: &str = "port.aws-integration";
/// The event's `detail-type`.
pub const DETAIL_TYPE: &str = "Port role scope changed";
/// Version of the `detail` layout: a consumer can match on it.
pub const SCHEMA_VERSION: u32 = 1;
/// EventBridge's limit on one PutEvents entry (Source + DetailType + Detail + Resources, in
/// UTF-8 bytes, plus 14 for a Time), which "must be less than 256KB":
/// <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// What this project lets an entry reach: the limit less a margin.
pub const ENTRY_BUDGET: usize = MAX_ENTRY_BYTES - 1024;
/// A reason longer than this is cut (a StackSet status reason can be long).
pub const MAX_REASON_CHARS: usize = 500;

/// What happened to one account's Port role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    // Declaration order is the order of the event's account list: failures first.
    Failed,
    Withdrawn,
    Enrolled,
    Repaired,
    Updated,
}

/// One account that changed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountChange {
    pub account_id: AccountId,
    pub change: ChangeKind,
    pub reason: String,
}

/// Accounts per kind of change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    pub enrolled: usize,
    pub withdrawn: usize,
    pub failed: usize,
    pub repaired: usize,
    /// Accounts whose role took a change of its permissions. Absent from events of versions
    /// before it (read as 0).
    #[serde(default)]
    pub updated: usize,
}

impl ChangeCounts {
    pub fn total(&self) -> usize {
        self.enrolled + self.withdrawn + self.failed + self.repaired + self.updated
    }
}

/// The accounts one reconcile (or several passes of one invocation) changed: at most one
/// entry per account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeChange {
    accounts: BTreeMap<AccountId, AccountChange>,
}

/// What the finished operations of one pass acted on, by kind (the accounts of each
/// operation that ended, whatever its status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acted {
    pub created: BTreeSet<AccountId>,
    pub updated: BTreeSet<AccountId>,
    pub deleted: BTreeSet<AccountId>,
}

impl ScopeChange {
    /// The change one pass made. `failed` maps each account that did not end as the scope
    /// wants to the advice for it (the engine's failures); `expansion` gives the reason an
    /// account is in or out of the scope, `why_out` the reason for a withdrawn account the
    /// expansion does not hold (default: it is no longer under a target OU, or gone).
    pub fn of_pass(
        expansion: &Expansion,
        plan: &ReconcilePlan,
        acted: &Acted,
        failed: &BTreeMap<AccountId, String>,
        why_out: Option<&str>,
    ) -> Self {
        let verdict: BTreeMap<&AccountId, String> = expansion
            .included
            .iter()
            .chain(&expansion.skipped)
            .map(|e| (&e.id, e.reason.to_string()))
            .collect();
        let dropped: BTreeSet<&AccountId> =
            plan.drop.iter().flat_map(|b| b.accounts.iter()).collect();
        let repair: BTreeSet<&AccountId> = plan.repair.iter().collect();
        let retry: BTreeSet<&AccountId> = plan.retry.iter().collect();
        let mut out = Self::default();
        let mut put = |a: &AccountId, change: ChangeKind, reason: String| {
            out.accounts.entry(a.clone()).or_insert(AccountChange {
                account_id: a.clone(),
                change,
                reason: cut(&reason),
            });
        };
        let touched: BTreeSet<&AccountId> = acted
            .created
            .iter()
            .chain(&acted.updated)
            .chain(&acted.deleted)
            .collect();
        for a in touched {
            if let Some(advice) = failed.get(a) {
                // A retry that failed again leaves the account as it was: failed.
                let again = acted.updated.contains(a)
                    && retry.contains(a)
                    && !repair.contains(a)
                    && !acted.created.contains(a)
                    && !acted.deleted.contains(a);
                if !again {
                    put(a, ChangeKind::Failed, advice.clone());
                }
            } else if acted.created.contains(a) {
                let why = verdict
                    .get(a)
                    .cloned()
                    .unwrap_or_else(|| "in the scope".into());
                put(
                    a,
                    ChangeKind::Enrolled,
                    format!("entered the scope ({why}): Port's role was created"),
                );
            } else if acted.updated.contains(a) {
                let why = if repair.contains(a) {
                    "its stack had drifted from the template; the template was applied again"
                } else {
                    "its earlier attempt had failed; the retry succeeded"
                };
                put(
                    a,
                    ChangeKind::Repaired,
                    format!("{why}: Port's role is in place"),
                );
            } else {
                let why = verdict.get(a).cloned().unwrap_or_else(|| {
                    why_out
                        .unwrap_or("no longer under a target OU, or not in the organization")
                        .to_owned()
                });
                let reason = if dropped.contains(a) {
                    format!(
                        "StackSets can no longer reach it ({why}): its stack instance was \
                         removed with RetainStacks; Port's role stays inside the account, and \
                         Port stops listing it"
                    )
                } else {
                    format!("left the scope ({why}): Port's role was deleted")
                };
                put(a, ChangeKind::Withdrawn, reason);
            }
        }
        out
    }

    /// The rollout of a change of Port's role's permissions: `results` are the accounts of the
    /// StackSet update that applied it (CloudFormation's), `failed` the accounts still not as
    /// wanted after this pass (with their advice). Failed accounts are **failed**, the others
    /// **updated**. Merge it over the pass's own change: it is the newest word on its accounts.
    pub fn role_permissions_rollout(
        results: &BTreeSet<AccountId>,
        failed: &BTreeMap<AccountId, String>,
        what: &str,
    ) -> Self {
        let mut out = Self::default();
        for a in results {
            let (change, reason) = match failed.get(a) {
                Some(advice) => (ChangeKind::Failed, advice.clone()),
                None => (
                    ChangeKind::Updated,
                    format!("Port's role took the new permissions ({what})"),
                ),
            };
            out.accounts.insert(
                a.clone(),
                AccountChange {
                    account_id: a.clone(),
                    change,
                    reason: cut(&reason),
                },
            );
        }
        out
    }

    /// Every account of `later` replaces its entry here: the newest word on each account.
    pub fn merge(&mut self, later: ScopeChange) {
        self.accounts.extend(later.accounts);
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn counts(&self) -> ChangeCounts {
        let mut c = ChangeCounts::default();
        for a in self.accounts.values() {
            match a.change {
                ChangeKind::Enrolled => c.enrolled += 1,
                ChangeKind::Withdrawn => c.withdrawn += 1,
                ChangeKind::Failed => c.failed += 1,
                ChangeKind::Repaired => c.repaired += 1,
                ChangeKind::Updated => c.updated += 1,
            }
        }
        c
    }

    /// The accounts, failures first, then withdrawn, enrolled, repaired, updated; by ID within
    /// each.
    pub fn accounts(&self) -> Vec<&AccountChange> {
        let mut v: Vec<&AccountChange> = self.accounts.values().collect();
        v.sort_by(|a, b| (a.change, &a.account_id).cmp(&(b.change, &b.account_id)));
        v
    }

    /// The accounts of one kind.
    pub fn of_kind(&self, kind: ChangeKind) -> Vec<AccountId> {
        self.accounts
            .values()
            .filter(|a| a.change == kind)
            .map(|a| a.account_id.clone())
            .collect()
    }
}

fn cut(reason: &str) -> String {
    if reason.chars().count() <= MAX_REASON_CHARS {
        return reason.to_owned();
    }
    let mut s: String = reason.chars().take(MAX_REASON_CHARS - 1).collect();
    s.push('…');
    s
}

/// Where a change came from, for the event's `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeContext {
    /// The stack's `IntegrationIdentifier`.
    pub integration_identifier: String,
    /// `custom-resource` or `org-events`.
    pub function: String,
    /// `Create`, `Update`, `Delete` (custom resource); `schedule`, `account_moved`, ...
    /// (org-events): the same words as the metrics' `Trigger`.
    pub trigger: String,
    /// The EventBridge event that triggered org-events, when it had an ID.
    pub event_id: Option<String>,
    /// The deployment stack, when known.
    pub stack_id: Option<String>,
    pub stack_set_name: String,
    pub operation_ids: Vec<String>,
}

/// The event's `detail`, as a consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDetail {
    pub schema_version: u32,
    pub integration_identifier: String,
    /// One line for a chat message: `2 account(s) changed: 1 enrolled, 1 failed`.
    pub summary: String,
    pub function: String,
    pub trigger: String,
    /// The EventBridge event that triggered org-events; `null` for the custom resource.
    #[serde(default)]
    pub event_id: Option<String>,
    /// The deployment stack; `null` only when org-events runs without `STACK_ID`.
    #[serde(default)]
    pub stack_id: Option<String>,
    pub stack_set_name: String,
    pub operation_ids: Vec<String>,
    /// Every changed account is counted here, listed or not.
    pub counts: ChangeCounts,
    /// Failures first, then withdrawn, enrolled, repaired; cut when the entry would exceed
    /// EventBridge's size limit.
    pub accounts: Vec<AccountChange>,
    /// True when `accounts` lists fewer accounts than `counts` counts.
    pub accounts_truncated: bool,
    /// How many changed accounts `accounts` leaves out.
    pub accounts_omitted: usize,
}

/// One PutEvents entry, ready to send (to the default event bus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub source: String,
    pub detail_type: String,
    /// The JSON `detail`.
    pub detail: String,
    /// The detail's account list was cut to fit (`accountsTruncated`).
    pub truncated: bool,
}

impl ChangeEvent {
    /// The entry's size as EventBridge counts it (no Time, no Resources are sent).
    pub fn entry_size(&self) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len()
    }
}

/// The one event for `change`; `None` when nothing changed. The account list is cut so that
/// the entry stays within [`ENTRY_BUDGET`]; the counts always cover every account.
pub fn change_event(change: &ScopeChange, ctx: &ChangeContext) -> Option<ChangeEvent> {
    if change.is_empty() {
        return None;
    }
    let counts = change.counts();
    let all: Vec<AccountChange> = change.accounts().into_iter().cloned().collect();
    let mut detail = ChangeDetail {
        schema_version: SCHEMA_VERSION,
        integration_identifier: ctx.integration_identifier.clone(),
        summary: summary_line(&counts),
        function: ctx.function.clone(),
        trigger: ctx.trigger.clone(),
        event_id: ctx.event_id.clone(),
        stack_id: ctx.stack_id.clone(),
        stack_set_name: ctx.stack_set_name.clone(),
        operation_ids: ctx.operation_ids.clone(),
        counts,
        accounts: vec![],
        accounts_truncated: false,
        accounts_omitted: 0,
    };
    let fixed = SOURCE.len() + DETAIL_TYPE.len();
    let size = |d: &ChangeDetail| fixed + serde_json::to_string(d).map_or(0, |s| s.len());
    detail.accounts = all.clone();
    if size(&detail) > ENTRY_BUDGET {
        // The frame with the largest `accountsOmitted` it can carry, then as many accounts
        // as fit, each costing its JSON and a comma.
        detail.accounts = vec![];
        detail.accounts_truncated = true;
        detail.accounts_omitted = all.len();
        let mut used = size(&detail);
        let mut kept = Vec::new();
        for a in all.iter() {
            let n = serde_json::to_string(a).map_or(0, |s| s.len()) + 1;
            if used + n > ENTRY_BUDGET {
                break;
            }
            used += n;
            kept.push(a.clone());
        }
        detail.accounts_omitted = all.len() - kept.len();
        detail.accounts = kept;
    }
    Some(ChangeEvent {
        source: SOURCE.into(),
        detail_type: DETAIL_TYPE.into(),
        detail: serde_json::to_string(&detail).ok()?,
        truncated: detail.accounts_truncated,
    })
}

fn summary_line(c: &ChangeCounts) -> String {
    let parts: Vec<String> = [
        ("enrolled", c.enrolled),
        ("withdrawn", c.withdrawn),
        ("failed", c.failed),
        ("repaired", c.repaired),
        ("updated", c.updated),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(w, n)| format!("{n} {w}"))
    .collect();
    format!("{} account(s) changed: {}", c.total(), parts.join(", "))
}

#[cfg(test)]
mod tests;
