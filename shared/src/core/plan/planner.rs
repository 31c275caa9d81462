//! The planner: desired state and the StackSet's instances in, the smallest plan out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    Batch, Desired, DetailedStatus, DriftStatus, Held, PlanPolicy, ReconcilePlan, StackInstance,
};
use crate::core::ids::AccountId;
use crate::core::scope::LeavePolicy;

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

/// The instances a plan may see when `undecided` accounts' tags were not read this run
/// ([`crate::core::Reason::Undecided`]): theirs are left out, so that the plan (which never
/// creates for an account not desired, and deletes only instances it sees) neither creates,
/// deletes nor updates anything of theirs. The StackSet keeps the earlier decision.
pub fn decided_instances(
    instances: Vec<StackInstance>,
    undecided: &BTreeSet<AccountId>,
) -> Vec<StackInstance> {
    if undecided.is_empty() {
        return instances;
    }
    instances
        .into_iter()
        .filter(|i| !undecided.contains(&i.account))
        .collect()
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
