//! Reconcile planning: desired accounts × current stack instances → the smallest plan.
//!
//! Pure: the same inputs always give the same plan, and planning against the state a plan
//! produces gives an empty plan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::advice::{is_execution_role_denied, is_existing_oidc_provider};
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

    /// A delete failed and left it INOPERABLE: StackSets exclude it from updates; only a
    /// delete (with RetainStacks when the account cannot be reached) removes it.
    pub fn is_inoperable(&self) -> bool {
        self.status == InstanceStatus::Inoperable || self.detailed == DetailedStatus::Inoperable
    }

    /// Needs another attempt: its last operation failed or left it outdated.
    pub fn needs_retry(&self) -> bool {
        if self.is_busy()
            || self.is_inoperable()
            || self.detailed == DetailedStatus::SkippedSuspendedAccount
        {
            return false;
        }
        self.status != InstanceStatus::Current || self.detailed == DetailedStatus::Failed
    }

    /// Its last operation failed because the StackSets execution role is denied in the
    /// account ([`is_execution_role_denied`]: a service control policy, or the account's setup
    /// not finished): the account is not ready yet, and such a failure ends by itself when the
    /// deny lifts. It is no failure to give up on: every plan that sees it retries it,
    /// whatever the earlier attempts and `max_retry_attempts` (an event's run too, whose bound
    /// is 0), and the engine does not count it as an attempt.
    pub fn awaits_account(&self) -> bool {
        (self.needs_retry() || self.is_inoperable())
            && self
                .status_reason
                .as_deref()
                .is_some_and(is_execution_role_denied)
    }

    /// Needs another attempt, and failed because Port's OIDC provider already exists in the
    /// account ([`is_existing_oidc_provider`]): the attempt must reuse it (per-instance
    /// override `CreateOIDCProvider=false`), not try to create it again.
    pub fn needs_oidc_reuse(&self) -> bool {
        self.needs_retry()
            && self
                .status_reason
                .as_deref()
                .is_some_and(is_existing_oidc_provider)
    }
}

/// The per-instance parameter override that makes a stack reuse the account's existing OIDC
/// provider instead of creating one (the member template's `CreateOIDCProvider` parameter).
pub const REUSE_OIDC_OVERRIDE: (&str, &str) = ("CreateOIDCProvider", "false");

/// The accounts (by sets of desired regions) whose instances in `instances` need
/// [`StackInstance::needs_oidc_reuse`]: one `UpdateStackInstances` with
/// [`REUSE_OIDC_OVERRIDE`] per batch. For the failures an operation of this very pass left.
pub fn oidc_reuse(desired: &Desired, instances: &[StackInstance]) -> Vec<Batch> {
    let mut by_account: BTreeMap<&AccountId, BTreeSet<&str>> = BTreeMap::new();
    for i in instances {
        if desired.accounts.contains(&i.account)
            && desired.regions.contains(&i.region)
            && i.needs_oidc_reuse()
        {
            by_account.entry(&i.account).or_default().insert(&i.region);
        }
    }
    let mut batches: BTreeMap<Vec<String>, Vec<AccountId>> = BTreeMap::new();
    for (a, regions) in by_account {
        let regions: Vec<String> = regions.into_iter().map(str::to_owned).collect();
        batches.entry(regions).or_default().push(a.clone());
    }
    batches
        .into_iter()
        .map(|(regions, accounts)| Batch {
            accounts,
            regions,
            ous: vec![],
        })
        .collect()
}

/// What should exist.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Desired {
    pub accounts: BTreeSet<AccountId>,
    pub regions: BTreeSet<String>,
}

impl Desired {
    /// The accounts whose instances would be deleted: those with an instance that are no
    /// longer desired. None under RETAIN, where leaving accounts keep their instances whatever
    /// their state (so nobody needs to look their state up).
    pub fn leaving(
        &self,
        instances: &[StackInstance],
        on_leave: LeavePolicy,
    ) -> BTreeSet<AccountId> {
        if on_leave == LeavePolicy::Retain {
            return BTreeSet::new();
        }
        instances
            .iter()
            .filter(|i| !self.accounts.contains(&i.account))
            .map(|i| i.account.clone())
            .collect()
    }
}

/// How to plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPolicy {
    pub on_leave: LeavePolicy,
    /// Retry instances whose last operation failed, at most this many attempts per account
    /// (counted by the caller from earlier operations). 0 disables retries. Instances that
    /// await their account ([`StackInstance::awaits_account`]) are not bounded by it: they are
    /// retried until the account is ready.
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
    /// The OUs the operation lists in `DeploymentTargets` (set by [`fit_ous`]; at most
    /// [`MAX_OUS_PER_OPERATION`]). Empty until fitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ous: Vec<String>,
}

/// AWS API reference, Create/Update/DeleteStackInstances: "The maximum number of
/// organizational unit (OUs) supported by a ... operation is 50."
pub const MAX_OUS_PER_OPERATION: usize = 50;

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
    /// `DeleteStackInstances` with `RetainStacks: true`: instances of accounts StackSets can no
    /// longer reach (not ACTIVE, or gone from the organization). The instance leaves the
    /// StackSet; whatever it deployed stays in the account (AWS Knowledge Center
    /// "cloudformation-removal-stacksets").
    #[serde(default)]
    pub drop: Vec<Batch>,
    /// `UpdateStackInstances`: retries and drift repairs, together; one operation per
    /// distinct set of regions to update (normally one).
    pub update: Vec<Batch>,
    /// `UpdateStackInstances` with the per-instance override [`REUSE_OIDC_OVERRIDE`]: accounts
    /// whose last operation failed because Port's OIDC provider already exists there
    /// ([`StackInstance::needs_oidc_reuse`]). Their stacks reuse that provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reuse_oidc: Vec<Batch>,
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
        self.create.is_empty()
            && self.delete.is_empty()
            && self.update.is_empty()
            && self.drop.is_empty()
            && self.reuse_oidc.is_empty()
    }

    /// StackSet operations the plan starts: one per batch, batches split where an operation
    /// would list more than [`MAX_OUS_PER_OPERATION`] OUs.
    pub fn operation_count(&self) -> usize {
        self.create.len()
            + self.delete.len()
            + self.update.len()
            + self.drop.len()
            + self.reuse_oidc.len()
    }

    /// One line for logs and summaries: accounts and operations per kind.
    pub fn summary(&self) -> String {
        let part = |name: &str, b: &[Batch]| -> Option<String> {
            if b.is_empty() {
                return None;
            }
            let n: usize = b.iter().map(|x| x.accounts.len()).sum();
            Some(if b.len() == 1 {
                format!("{name} {n} account(s)")
            } else {
                format!(
                    "{name} {n} account(s) in {} operations (at most {MAX_OUS_PER_OPERATION} \
                     OUs per operation)",
                    b.len()
                )
            })
        };
        let parts: Vec<String> = [
            part("create", &self.create),
            part("reuse existing OIDC provider", &self.reuse_oidc),
            part("update", &self.update),
            part("delete", &self.delete),
            part("drop unreachable (RetainStacks)", &self.drop),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            "no change".into()
        } else {
            format!(
                "{}; {} StackSet operation(s)",
                parts.join(", "),
                self.operation_count()
            )
        }
    }
}

/// Plans from desired and actual state. `attempts` counts earlier failed attempts per account.
///
/// One pass over the desired accounts and one over the instances, with the instances grouped
/// by account in a hash map and region sets kept as bit masks: no allocation per account
/// beyond the output itself (10,000 accounts plan in well under the 5 ms target).
pub fn plan(
    desired: &Desired,
    instances: &[StackInstance],
    attempts: &BTreeMap<AccountId, u32>,
    policy: &PlanPolicy,
) -> ReconcilePlan {
    plan_reaching(desired, instances, attempts, policy, &BTreeSet::new())
}

/// [`plan`], knowing which instance accounts StackSets can no longer reach (not ACTIVE, or
/// no longer in the organization): their instances are dropped with `RetainStacks` instead
/// of deleted, since a delete would fail and leave them INOPERABLE for ever.
pub fn plan_reaching(
    desired: &Desired,
    instances: &[StackInstance],
    attempts: &BTreeMap<AccountId, u32>,
    policy: &PlanPolicy,
    unreachable: &BTreeSet<AccountId>,
) -> ReconcilePlan {
    let mut out = ReconcilePlan::default();

    // Every region that appears, indexed; sets of regions are bit masks over this list.
    let mut regions: Vec<&str> = desired.regions.iter().map(String::as_str).collect();
    for i in instances {
        if !regions.contains(&i.region.as_str()) {
            regions.push(&i.region);
        }
    }
    let bit = |r: &str| -> u128 {
        regions
            .iter()
            .position(|x| *x == r)
            .map_or(0, |p| 1u128 << p.min(127))
    };
    let desired_mask: u128 = desired.regions.iter().map(|r| bit(r)).fold(0, |a, b| a | b);
    let mask_regions = |m: u128| -> Vec<String> {
        let mut v: Vec<String> = regions
            .iter()
            .enumerate()
            .filter(|(p, _)| m & (1u128 << (*p).min(127)) != 0)
            .map(|(_, r)| (*r).to_owned())
            .collect();
        v.sort();
        v
    };

    // Instances grouped by account: (the account's instances, seen among the desired).
    struct Group<'a> {
        instances: Vec<&'a StackInstance>,
        desired: bool,
    }
    let mut have: HashMap<&str, Group<'_>> = HashMap::with_capacity(instances.len());
    for i in instances {
        have.entry(i.account.as_str())
            .or_insert_with(|| Group {
                instances: Vec::with_capacity(1),
                desired: false,
            })
            .instances
            .push(i);
    }

    let mut missing: BTreeMap<u128, Vec<AccountId>> = BTreeMap::new();
    // Accounts to update, by the exact set of regions to update: an operation touches only
    // the instances it means to (never a skipped, INOPERABLE or missing one next to them).
    let mut updates: BTreeMap<u128, Vec<AccountId>> = BTreeMap::new();
    let mut reuses: BTreeMap<u128, Vec<AccountId>> = BTreeMap::new();
    for a in &desired.accounts {
        let group = have.get_mut(a.as_str());
        let mut present: u128 = 0;
        let mut update_mask: u128 = 0;
        let mut reuse_mask: u128 = 0;
        if let Some(g) = group {
            g.desired = true;
            for i in &g.instances {
                let b = bit(&i.region);
                present |= b;
                if desired_mask & b == 0 {
                    continue;
                }
                if i.detailed == DetailedStatus::SkippedSuspendedAccount {
                    out.held.push(Held {
                        account: a.clone(),
                        why: "StackSets skipped it: the account is suspended".into(),
                    });
                    continue;
                }
                if i.is_inoperable() {
                    out.held.push(Held {
                        account: a.clone(),
                        why: format!(
                            "INOPERABLE: an earlier delete failed and StackSets exclude the \
                             instance from updates; last reason: {}",
                            i.status_reason.as_deref().unwrap_or("none given")
                        ),
                    });
                    continue;
                }
                if i.needs_retry() {
                    let n = attempts.get(a).copied().unwrap_or(0);
                    let waits = i.awaits_account();
                    if n >= policy.max_retry_attempts && !waits {
                        out.given_up.push(Held {
                            account: a.clone(),
                            why: format!(
                                "failed {n} times; last reason: {}",
                                i.status_reason.as_deref().unwrap_or("none given")
                            ),
                        });
                        continue;
                    }
                    if i.needs_oidc_reuse() {
                        reuse_mask |= b;
                        continue;
                    }
                    if out.retry.last() != Some(a) {
                        out.retry.push(a.clone());
                    }
                } else if policy.repair_drift && i.drift == DriftStatus::Drifted && !i.is_busy() {
                    if out.repair.last() != Some(a) {
                        out.repair.push(a.clone());
                    }
                } else {
                    continue;
                }
                update_mask |= b;
            }
        }
        if update_mask != 0 {
            updates.entry(update_mask).or_default().push(a.clone());
        }
        if reuse_mask != 0 {
            reuses.entry(reuse_mask).or_default().push(a.clone());
        }
        let lacking = desired_mask & !present;
        if lacking != 0 {
            missing.entry(lacking).or_default().push(a.clone());
        }
    }
    let batches = |m: BTreeMap<u128, Vec<AccountId>>| -> Vec<Batch> {
        m.into_iter()
            .map(|(m, mut accounts)| {
                accounts.sort();
                Batch {
                    accounts,
                    regions: mask_regions(m),
                    ous: vec![],
                }
            })
            .collect()
    };
    out.create = batches(missing);
    out.update = batches(updates);
    out.reuse_oidc = batches(reuses);

    // Delete / drop / retain: instances of accounts out of scope, or in regions no longer
    // wanted. Unreachable accounts are dropped (RetainStacks); a reachable account's failed
    // delete is tried again until it has failed `max_retry_attempts` times.
    let mut doomed: BTreeMap<u128, Vec<AccountId>> = BTreeMap::new();
    let mut dropped: BTreeMap<u128, Vec<AccountId>> = BTreeMap::new();
    for g in have.values() {
        let account = &g.instances[0].account;
        let mut mask: u128 = 0;
        let mut last_failed: Option<&StackInstance> = None;
        for i in &g.instances {
            let b = bit(&i.region);
            if g.desired && desired_mask & b != 0 {
                continue;
            }
            if i.is_busy() {
                out.held.push(Held {
                    account: account.clone(),
                    why: "an operation is still working on this instance".into(),
                });
                continue;
            }
            if i.is_inoperable() || i.detailed == DetailedStatus::Failed {
                last_failed = Some(i);
            }
            mask |= b;
        }
        if mask == 0 {
            continue;
        }
        if !g.desired && policy.on_leave == LeavePolicy::Retain {
            out.retained.push(account.clone());
            continue;
        }
        if unreachable.contains(account) {
            dropped.entry(mask).or_default().push(account.clone());
            continue;
        }
        if let Some(i) = last_failed {
            let n = attempts.get(account).copied().unwrap_or(0);
            let waits = i.awaits_account();
            if n >= policy.max_retry_attempts && !waits {
                out.given_up.push(Held {
                    account: account.clone(),
                    why: format!(
                        "its stack instance could not be deleted ({n} failed attempts); last \
                         reason: {}",
                        i.status_reason.as_deref().unwrap_or("none given")
                    ),
                });
                continue;
            }
        }
        doomed.entry(mask).or_default().push(account.clone());
    }
    out.retained.sort();
    out.delete = batches(doomed);
    out.drop = batches(dropped);
    out.given_up.sort_by(|a, b| a.account.cmp(&b.account));
    out.held.sort_by(|a, b| a.account.cmp(&b.account));
    out.held.dedup();
    out
}

/// Splits `batches` so that no operation lists more than `max` OUs, and sets each batch's
/// `ous`: the OUs in `always` (listed in every operation) plus those its accounts `need`.
/// Accounts that share OUs stay together, so the split is the fewest operations a greedy
/// packing in OU order finds; with `max` OUs or fewer needed, each batch stays whole.
pub fn fit_ous(
    batches: Vec<Batch>,
    needs: &BTreeMap<AccountId, BTreeSet<String>>,
    always: &[String],
    max: usize,
) -> Vec<Batch> {
    let mut out = Vec::new();
    for b in batches {
        let mut accounts = b.accounts.clone();
        // Group accounts by the OUs they need, so that one OU's accounts go together.
        accounts.sort_by(|x, y| {
            (needs.get(x).map(|s| s.iter().next()), x)
                .cmp(&(needs.get(y).map(|s| s.iter().next()), y))
        });
        let start: BTreeSet<String> = always.iter().cloned().collect();
        let mut ous = start.clone();
        let mut chunk: Vec<AccountId> = Vec::new();
        for a in accounts {
            let need = needs.get(&a);
            let extra = need.map_or(0, |n| n.iter().filter(|o| !ous.contains(*o)).count());
            if !chunk.is_empty() && ous.len() + extra > max {
                out.push(finish(&b, std::mem::take(&mut chunk), &ous));
                ous = start.clone();
            }
            if let Some(n) = need {
                ous.extend(n.iter().cloned());
            }
            chunk.push(a);
        }
        if !chunk.is_empty() {
            out.push(finish(&b, chunk, &ous));
        }
    }
    out
}

fn finish(b: &Batch, mut accounts: Vec<AccountId>, ous: &BTreeSet<String>) -> Batch {
    accounts.sort();
    Batch {
        accounts,
        regions: b.regions.clone(),
        ous: ous.iter().cloned().collect(),
    }
}
