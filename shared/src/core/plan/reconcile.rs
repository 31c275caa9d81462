//! The plan the planner returns: the StackSet operations by kind, and the accounts left alone.

use serde::{Deserialize, Serialize};

use super::{Batch, MAX_OUS_PER_OPERATION};
use crate::core::ids::AccountId;

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
    ///
    /// [`REUSE_OIDC_OVERRIDE`]: super::REUSE_OIDC_OVERRIDE
    /// [`StackInstance::needs_oidc_reuse`]: super::StackInstance::needs_oidc_reuse
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
