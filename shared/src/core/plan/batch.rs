//! StackSet operations as batches (accounts × regions, and the OUs they list): the batches
//! that reuse an existing OIDC provider, and the split that keeps each operation within AWS's
//! OU limit.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Desired, StackInstance};
use crate::core::ids::AccountId;

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
