//! Reconcile planning: desired accounts × current stack instances → the smallest plan.
//!
//! Pure: the same inputs always give the same plan, and planning against the state a plan
//! produces gives an empty plan.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ids::AccountId;
use super::scope::LeavePolicy;

/// `StackInstanceSummary.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    Current,
    Outdated,
    Inoperable,
}

/// `StackInstanceStatus.DetailedStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DetailedStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Inoperable,
    SkippedSuspendedAccount,
    Unknown,
}

/// `StackInstanceSummary.DriftStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DriftStatus {
    Drifted,
    InSync,
    Unknown,
    NotChecked,
}

/// One stack instance as the StackSet reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackInstance {
    pub account: AccountId,
    pub region: String,
    pub status: InstanceStatus,
    pub detailed: DetailedStatus,
    pub status_reason: Option<String>,
    pub drift: DriftStatus,
    /// The OU the instance was deployed through (service-managed StackSets record it).
    pub ou: Option<String>,
}

impl StackInstance {
    /// In flight: an operation is working on it.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.detailed,
            DetailedStatus::Pending | DetailedStatus::Running
        )
    }

    /// Needs another attempt: its last operation failed or left it outdated.
    pub fn needs_retry(&self) -> bool {
        if self.is_busy() || self.detailed == DetailedStatus::SkippedSuspendedAccount {
            return false;
        }
        self.status != InstanceStatus::Current || self.detailed == DetailedStatus::Failed
    }
}

/// What should exist.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Desired {
    pub accounts: BTreeSet<AccountId>,
    pub regions: BTreeSet<String>,
}

/// How to plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPolicy {
    pub on_leave: LeavePolicy,
    /// Retry instances whose last operation failed, at most this many attempts per account
    /// (counted by the caller from earlier operations). 0 disables retries.
    pub max_retry_attempts: u32,
    /// Re-apply the template to drifted instances.
    pub repair_drift: bool,
}

impl Default for PlanPolicy {
    fn default() -> Self {
        Self {
            on_leave: LeavePolicy::Delete,
            max_retry_attempts: 3,
            repair_drift: true,
        }
    }
}

/// One StackSet operation: these accounts × these regions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Batch {
    pub accounts: Vec<AccountId>,
    pub regions: Vec<String>,
}

/// An account the plan will not touch, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub account: AccountId,
    pub why: String,
}

/// The smallest set of StackSet operations that makes actual = desired.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconcilePlan {
    /// `CreateStackInstances`: in scope, no instance yet. Normally one batch; one per distinct
    /// set of missing regions otherwise.
    pub create: Vec<Batch>,
    /// `DeleteStackInstances`: out of scope (policy DELETE), or in a region no longer wanted.
    pub delete: Vec<Batch>,
    /// `UpdateStackInstances`: retries and drift repairs, together in one operation.
    pub update: Vec<Batch>,
    /// Accounts in `update` because their last operation failed or left them outdated.
    pub retry: Vec<AccountId>,
    /// Accounts in `update` because their stack drifted.
    pub repair: Vec<AccountId>,
    /// Failed too often: left alone, reported.
    pub given_up: Vec<Held>,
    /// Out of scope, kept because the policy is RETAIN.
    pub retained: Vec<AccountId>,
    /// Busy or skipped instances, left alone this time.
    pub held: Vec<Held>,
}

impl ReconcilePlan {
    /// True when no StackSet operation is needed.
    pub fn is_noop(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty() && self.update.is_empty()
    }

    pub fn operation_count(&self) -> usize {
        self.create.len() + self.delete.len() + self.update.len()
    }
}

/// Plans from desired and actual state. `attempts` counts earlier failed attempts per account.
pub fn plan(
    desired: &Desired,
    instances: &[StackInstance],
    attempts: &BTreeMap<AccountId, u32>,
    policy: &PlanPolicy,
) -> ReconcilePlan {
    let mut out = ReconcilePlan::default();
    let mut have: BTreeMap<&AccountId, BTreeMap<&str, &StackInstance>> = BTreeMap::new();
    for i in instances {
        have.entry(&i.account)
            .or_default()
            .insert(i.region.as_str(), i);
    }

    // Create: desired account × desired region without an instance.
    let mut missing: BTreeMap<Vec<String>, Vec<AccountId>> = BTreeMap::new();
    for a in &desired.accounts {
        let regions: Vec<String> = desired
            .regions
            .iter()
            .filter(|r| !have.get(a).is_some_and(|m| m.contains_key(r.as_str())))
            .cloned()
            .collect();
        if !regions.is_empty() {
            missing.entry(regions).or_default().push(a.clone());
        }
    }
    out.create = missing
        .into_iter()
        .map(|(regions, accounts)| Batch { accounts, regions })
        .collect();

    // Delete / retain: instances of accounts out of scope, or in regions no longer wanted.
    let mut doomed: BTreeMap<Vec<String>, Vec<AccountId>> = BTreeMap::new();
    let mut retained = BTreeSet::new();
    for (a, by_region) in &have {
        let in_scope = desired.accounts.contains(*a);
        let regions: Vec<String> = by_region
            .iter()
            .filter(|(r, _)| !in_scope || !desired.regions.contains(**r))
            .filter(|(_, i)| {
                if i.is_busy() {
                    out.held.push(Held {
                        account: (*a).clone(),
                        why: "an operation is still working on this instance".into(),
                    });
                    false
                } else {
                    true
                }
            })
            .map(|(r, _)| (*r).to_owned())
            .collect();
        if regions.is_empty() {
            continue;
        }
        if !in_scope && policy.on_leave == LeavePolicy::Retain {
            retained.insert((*a).clone());
            continue;
        }
        doomed.entry(regions).or_default().push((*a).clone());
    }
    out.retained = retained.into_iter().collect();
    out.delete = doomed
        .into_iter()
        .map(|(regions, accounts)| Batch { accounts, regions })
        .collect();

    // Update: desired instances that failed, are outdated, or drifted.
    let mut update_accounts = BTreeSet::new();
    let mut update_regions = BTreeSet::new();
    for a in &desired.accounts {
        let Some(by_region) = have.get(a) else {
            continue;
        };
        for (r, i) in by_region {
            if !desired.regions.contains(*r) {
                continue;
            }
            if i.detailed == DetailedStatus::SkippedSuspendedAccount {
                out.held.push(Held {
                    account: a.clone(),
                    why: "StackSets skipped it: the account is suspended".into(),
                });
                continue;
            }
            if i.needs_retry() {
                let n = attempts.get(a).copied().unwrap_or(0);
                if n >= policy.max_retry_attempts {
                    out.given_up.push(Held {
                        account: a.clone(),
                        why: format!(
                            "failed {n} times; last reason: {}",
                            i.status_reason.as_deref().unwrap_or("none given")
                        ),
                    });
                    continue;
                }
                if !out.retry.contains(a) {
                    out.retry.push(a.clone());
                }
            } else if policy.repair_drift && i.drift == DriftStatus::Drifted && !i.is_busy() {
                if !out.repair.contains(a) {
                    out.repair.push(a.clone());
                }
            } else {
                continue;
            }
            update_accounts.insert(a.clone());
            update_regions.insert((*r).to_owned());
        }
    }
    if !update_accounts.is_empty() {
        out.update.push(Batch {
            accounts: update_accounts.into_iter().collect(),
            regions: update_regions.into_iter().collect(),
        });
    }
    out.held.sort_by(|a, b| a.account.cmp(&b.account));
    out.held.dedup();
    out
}
