//! Scope expansion: `OrgTree` × `Scope` → the exact accounts, each with the reason it is in
//! or out.
//!
//! An account under a target is in when every filter keeps it: it is not the management
//! account, it is ACTIVE, the tag filter (`TargetAccountTags`, `ExcludedAccountTags`) keeps
//! it, and the mode with the listed accounts (`ALL` / `INTERSECTION` / `DIFFERENCE`) keeps
//! it. The tag filter narrows the accounts the target OUs give, and the mode then applies to
//! what is left; the filters commute (an account is in only if each keeps it), so the order
//! decides only the reason shown for an account two filters drop. The list's reason is
//! shown then: it needs no tag read, so tags are read only for the accounts the list keeps
//! ([`tags_decide`]; under INTERSECTION, the listed ones only).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::ids::AccountId;
use super::org::{Account, AccountState, OrgTree};
use super::scope::{AccountScope, Filtered, Scope};
use super::slice::TagSlice;
use super::tags::{TagTerm, TagVerdict};

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
    /// Under a target, but this `TargetAccountTags` term is unmet; `actual`: the account's
    /// value of the term's key (`None`: it has no such tag).
    TargetTagUnmet {
        term: TagTerm,
        actual: Option<String>,
    },
    /// Under a target, but this `ExcludedAccountTags` term matched (`actual`: the value).
    ExcludedByTag { term: TagTerm, actual: String },
    /// The tag filter decides it, but its tags were not read this run (another slice's turn:
    /// [`TagSlice`]): undecided, so the plan leaves it exactly as the StackSet has it.
    Undecided { slice: TagSlice },
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
            Self::TargetTagUnmet { term, actual } => match actual {
                Some(v) => write!(
                    f,
                    "TargetAccountTags: `{term}` is unmet (its {} tag is `{v}`)",
                    term.key
                ),
                None => write!(
                    f,
                    "TargetAccountTags: `{term}` is unmet (it has no {} tag)",
                    term.key
                ),
            },
            Self::ExcludedByTag { term, actual } => write!(
                f,
                "ExcludedAccountTags: `{term}` matches (its {} tag is `{actual}`), which \
                 excludes it whatever else says",
                term.key
            ),
            Self::Undecided { slice } => write!(
                f,
                "undecided: its tags were not read this run (this run read {slice}); left as \
                 the StackSet has it until a run reads its slice"
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
    /// An included account's `TargetAccountTags` terms, each of which it meets: the tags that
    /// kept it. Empty without target terms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_matched: Vec<TagTerm>,
}

impl Entry {
    /// The `TargetAccountTags` terms that kept an included account, as every output shows
    /// them: ``TargetAccountTags `env=prod`, `team` met``; `None` without target terms.
    pub fn tags_note(&self) -> Option<String> {
        if self.tags_matched.is_empty() {
            return None;
        }
        let terms: Vec<String> = self.tags_matched.iter().map(|t| format!("`{t}`")).collect();
        Some(format!("TargetAccountTags {} met", terms.join(", ")))
    }

    /// Why the account is in or out, in full: the reason and, for an included account, the
    /// tags that kept it. The one rendering of an account's verdict (plan, preview, doctor,
    /// status).
    pub fn why(&self) -> String {
        match self.tags_note() {
            Some(note) => format!("{}; {note}", self.reason),
            None => self.reason.to_string(),
        }
    }
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

    /// The accounts whose tags were not read this run ([`Reason::Undecided`]): the plan must
    /// neither create nor delete theirs.
    pub fn undecided_ids(&self) -> BTreeSet<AccountId> {
        self.skipped
            .iter()
            .filter(|e| matches!(e.reason, Reason::Undecided { .. }))
            .map(|e| e.id.clone())
            .collect()
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
    #[error(
        "internal error: the scope has a tag filter, but the tags of account {0} were not \
         read, so whether it is in cannot be decided; nothing was changed. Please report \
         this bug."
    )]
    TagsNotRead(AccountId),
}

/// Whether the tag filter decides `acct`, so its tags must be read: a filter is set, and the
/// account is under a target, is not the management account, is ACTIVE, and the mode with
/// the listed accounts keeps it. The one place this rule lives: the reads ask it before
/// reading tags, [`expand`] before deciding.
pub fn tags_decide(scope: &Scope, tree: &OrgTree, acct: &Account) -> bool {
    scope.tags.is_set()
        && tree.covering_target(&acct.parent, &scope.targets).is_some()
        && tree.management_account_id.as_ref() != Some(&acct.id)
        && acct.state == AccountState::Active
        && scope.filter(&acct.id) == Filtered::Selected
}

/// Decides every account under the targets, and every listed account. Every candidate's
/// tags must have been read ([`ExpandError::TagsNotRead`] otherwise).
pub fn expand(scope: &Scope, tree: &OrgTree) -> Result<Expansion, ExpandError> {
    expand_slice(scope, tree, TagSlice::ALL)
}

/// The candidates ([`tags_decide`]): the accounts whose tags a run reads, or would read with
/// no slice. Their count sizes the slices.
pub fn candidates(scope: &Scope, tree: &OrgTree) -> Vec<AccountId> {
    tree.accounts
        .values()
        .filter(|a| tags_decide(scope, tree, a))
        .map(|a| a.id.clone())
        .collect()
}

/// [`expand`] when only `slice`'s candidates had their tags read: the other candidates are
/// [`Reason::Undecided`]; a candidate of the slice whose tags are missing is still
/// [`ExpandError::TagsNotRead`].
pub fn expand_slice(
    scope: &Scope,
    tree: &OrgTree,
    slice: TagSlice,
) -> Result<Expansion, ExpandError> {
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
        let mut tags_matched = Vec::new();
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
                        Filtered::NotListed => Reason::NotListed,
                        Filtered::ExcludedByList => Reason::ExcludedByList,
                        Filtered::Selected
                            if tags_decide(scope, tree, acct) && !slice.covers(&acct.id) =>
                        {
                            Reason::Undecided { slice }
                        }
                        Filtered::Selected => match tag_verdict(scope, tree, acct)? {
                            TagVerdict::Unmet { term } => Reason::TargetTagUnmet {
                                actual: acct.tags.as_ref().and_then(|t| t.get(&term.key).cloned()),
                                term,
                            },
                            TagVerdict::Excluded { term } => Reason::ExcludedByTag {
                                actual: acct
                                    .tags
                                    .as_ref()
                                    .and_then(|t| t.get(&term.key).cloned())
                                    .unwrap_or_default(),
                                term,
                            },
                            verdict => {
                                if let TagVerdict::Kept { matched } = verdict {
                                    tags_matched = matched;
                                }
                                if scope.mode == AccountScope::Intersection {
                                    Reason::ListedUnderTarget { target }
                                } else {
                                    Reason::UnderTarget { target }
                                }
                            }
                        },
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
            tags_matched,
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

/// The tag filter's verdict on an account [`tags_decide`] names; its tags must have been read.
fn tag_verdict(scope: &Scope, tree: &OrgTree, acct: &Account) -> Result<TagVerdict, ExpandError> {
    if !tags_decide(scope, tree, acct) {
        return Ok(TagVerdict::Unfiltered);
    }
    match &acct.tags {
        Some(tags) => Ok(scope.tags.verdict(tags)),
        None => Err(ExpandError::TagsNotRead(acct.id.clone())),
    }
}
