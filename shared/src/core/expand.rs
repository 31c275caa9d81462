//! Scope expansion: `OrgTree` × `Scope` → the exact accounts, each with the reason it is in
//! or out.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::ids::AccountId;
use super::org::{AccountState, OrgTree};
use super::scope::{AccountScope, Filtered, Scope};

/// Why an account is in or out of the scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// ALL / DIFFERENCE: under a target OU.
    UnderTarget { target: String },
    /// INTERSECTION: listed, and under a target OU.
    ListedUnderTarget { target: String },
    /// The management account: StackSets never deploy there; the template's own role covers it.
    ManagementAccount,
    /// Not ACTIVE (suspended, closing, ...): StackSets skip such accounts.
    NotActive { state: AccountState },
    /// INTERSECTION: under a target OU but not listed.
    NotListed,
    /// DIFFERENCE: listed, so excluded.
    ExcludedByList,
    /// Listed, but it lives outside every target OU.
    OutsideTargets { actual: String },
}

impl Reason {
    pub fn is_included(&self) -> bool {
        matches!(
            self,
            Self::UnderTarget { .. } | Self::ListedUnderTarget { .. }
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnderTarget { target } => write!(f, "under target {target}"),
            Self::ListedUnderTarget { target } => {
                write!(f, "listed in TargetAccountIds and under target {target}")
            }
            Self::ManagementAccount => f.write_str(
                "management account: StackSets never deploy here; the stack's own \
                 PortIntegrationRole covers it",
            ),
            Self::NotActive { state } => {
                write!(f, "account is {state}, not ACTIVE: StackSets skip it")
            }
            Self::NotListed => f.write_str("INTERSECTION: not listed in TargetAccountIds"),
            Self::ExcludedByList => f.write_str("DIFFERENCE: excluded by TargetAccountIds"),
            Self::OutsideTargets { actual } => write!(
                f,
                "listed, but it is in {actual}, outside every target OU; add that OU to \
                 TargetOUIds or move the account"
            ),
        }
    }
}

/// One account's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: AccountId,
    pub name: String,
    pub ou_path: String,
    pub state: AccountState,
    pub reason: Reason,
}

/// The scope, expanded: sorted by account ID, deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expansion {
    pub organization_id: String,
    pub management_account_id: Option<AccountId>,
    pub mode: AccountScope,
    pub included: Vec<Entry>,
    pub skipped: Vec<Entry>,
}

impl Expansion {
    pub fn account_ids(&self) -> BTreeSet<AccountId> {
        self.included.iter().map(|e| e.id.clone()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    #[error(
        "TargetAccountIds: {} not in this organization ({}). Check for a typo, or invite the \
         account first (AWS Organizations > AWS accounts > Add an AWS account).",
        if .0.len() == 1 { "this account is" } else { "these accounts are" },
        .0.iter().map(AccountId::as_str).collect::<Vec<_>>().join(", ")
    )]
    AccountsNotInOrganization(Vec<AccountId>),
}

/// Decides every account under the targets, and every listed account.
pub fn expand(scope: &Scope, tree: &OrgTree) -> Result<Expansion, ExpandError> {
    let missing: Vec<AccountId> = scope
        .accounts
        .iter()
        .filter(|a| tree.not_in_organization.contains(*a))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(ExpandError::AccountsNotInOrganization(missing));
    }
    let mut included = Vec::new();
    let mut skipped = Vec::new();
    for acct in tree.accounts.values() {
        let listed = scope.accounts.contains(&acct.id);
        let target = tree.covering_target(&acct.parent, &scope.targets);
        let reason = match target {
            None if listed => Reason::OutsideTargets {
                actual: tree.path(&acct.parent),
            },
            None => continue,
            Some(t) => {
                let target = tree.path(t.as_str());
                if tree.management_account_id.as_ref() == Some(&acct.id) {
                    Reason::ManagementAccount
                } else if acct.state != AccountState::Active {
                    Reason::NotActive {
                        state: acct.state.clone(),
                    }
                } else {
                    match scope.filter(&acct.id) {
                        Filtered::Selected if scope.mode == AccountScope::Intersection => {
                            Reason::ListedUnderTarget { target }
                        }
                        Filtered::Selected => Reason::UnderTarget { target },
                        Filtered::NotListed => Reason::NotListed,
                        Filtered::ExcludedByList => Reason::ExcludedByList,
                    }
                }
            }
        };
        let entry = Entry {
            id: acct.id.clone(),
            name: acct.name.clone(),
            ou_path: tree.path(&acct.parent),
            state: acct.state.clone(),
            reason,
        };
        if entry.reason.is_included() {
            included.push(entry);
        } else {
            skipped.push(entry);
        }
    }
    Ok(Expansion {
        organization_id: tree.organization_id.clone(),
        management_account_id: tree.management_account_id.clone(),
        mode: scope.mode,
        included,
        skipped,
    })
}
