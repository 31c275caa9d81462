//! Reading the part of the organization a scope touches: the target subtrees, every page,
//! with bounded concurrency.
//!
//! Cost: one call per page of `ListAccountsForParent` and of `ListOrganizationalUnitsForParent`
//! for each OU in the target subtrees, plus `DescribeOrganization` (the lower bound), plus the
//! few calls that name a non-root target's ancestors (`ListParents`, `DescribeOrganizationalUnit`)
//! and that locate listed accounts outside the targets.
//!
//! With a tag filter (`scope.tags.is_set()`), one `ListTagsForResource` per account the
//! filter decides ([`crate::core::tags_decide`]: under a target, ACTIVE, not the management
//! account, kept by the mode and the listed accounts), with the same bounded concurrency;
//! without one, none. [`read_scope_sliced`] reads the tags of one slice of them only
//! ([`crate::core::TagSlice`]), so that a run's tag reads stay within a budget however large
//! the organization.
//!
//! `walk` reads target subtrees, `accounts` reads a few accounts only.

mod accounts;
mod walk;

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::{
    candidates, tags_decide, Account, AccountId, OrgNode, OrgTree, Scope, TagReads, TagSlice,
};
use crate::ports::{AwsError, OrganizationsApi};

pub use accounts::read_accounts;
pub use walk::read_target_subtrees;

/// How many Organizations calls may be in flight at once. AWS Organizations has low rate limits.
pub const DEFAULT_CONCURRENCY: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStats {
    pub describe_organization: u32,
    /// `ListRoots` (whole-organization reads only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub list_roots: u32,
    /// Pages of `ListAccounts` (whole-organization reads only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub list_all_accounts_pages: u32,
    pub list_accounts_pages: u32,
    pub list_ous_pages: u32,
    pub ancestor_calls: u32,
    pub listed_lookup_calls: u32,
    pub ous_walked: u32,
    /// `ListTagsForResource` calls (only with a tag filter), one per account it decides.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub list_tags: u32,
}

impl ReadStats {
    pub fn total(&self) -> u32 {
        self.describe_organization
            + self.list_roots
            + self.list_all_accounts_pages
            + self.list_accounts_pages
            + self.list_ous_pages
            + self.ancestor_calls
            + self.listed_lookup_calls
            + self.list_tags
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadError {
    #[error(
        "TargetOUIds: {id} does not exist in this organization ({org}). An OU ID looks like \
         ou-abcd-12345678: open AWS Organizations > AWS accounts in the management account, \
         click the OU, and copy the ID shown under its name (or run `aws organizations \
         list-organizational-units-for-parent --parent-id <root-id>`)."
    )]
    TargetNotFound { id: String, org: String },
    #[error(
        "This account is not part of an AWS organization. Deploy from the management account \
         of your organization (AWS Organizations > Settings shows it)."
    )]
    NoOrganization,
    #[error(
        "This account cannot read the organization ({0}). The integration must be deployed \
         from the organization's management account, where AWS Organizations shows \
         'management account' next to the account, or from a registered delegated \
         administrator for CloudFormation StackSets."
    )]
    AccessDenied(String),
    #[error("reading AWS Organizations failed: {0}")]
    Aws(AwsError),
}

fn classify(e: AwsError) -> ReadError {
    match e {
        AwsError::NoOrganization => ReadError::NoOrganization,
        AwsError::AccessDenied(m) => ReadError::AccessDenied(m),
        other => ReadError::Aws(other),
    }
}

/// What a reconcile needs of the organization for `scope`: which accounts are where, as far
/// as the scope's rules need it.
///
/// A scope whose only target is the root covers the whole organization: `ListAccounts`
/// gives every account with its `State` in pages of 20, with no tree walk (pages + 2 calls,
/// where the walk costs two pages per OU). Each account's recorded parent is then the root,
/// which is all the scope's rules ask (every account is under it). `orgscope plan`, which
/// draws the tree, reads it with [`read_target_subtrees`] instead.
pub async fn read_scope<O: OrganizationsApi>(
    api: &O,
    scope: &Scope,
    concurrency: usize,
) -> Result<(OrgTree, ReadStats), ReadError> {
    let (tree, stats, _) = read_scope_sliced(api, scope, concurrency, TagReads::All).await?;
    Ok((tree, stats))
}

/// [`read_scope`], reading the tags of one slice of the candidates only: `reads` names it, or
/// how to cut it once the structure (which lists the candidates at no extra cost) is read.
/// Returns the slice read; the other candidates' `tags` stay `None` (undecided).
pub async fn read_scope_sliced<O: OrganizationsApi>(
    api: &O,
    scope: &Scope,
    concurrency: usize,
    reads: TagReads,
) -> Result<(OrgTree, ReadStats, TagSlice), ReadError> {
    let (mut tree, mut stats) = match scope.targets.iter().collect::<Vec<_>>().as_slice() {
        [root] if root.is_root() => read_whole_org(api, scope, root.as_str()).await?,
        _ => walk::read_structure(api, scope, concurrency).await?,
    };
    let slice = if scope.tags.is_set() {
        reads.slice_for(&candidates(scope, &tree))
    } else {
        TagSlice::ALL
    };
    read_tags(api, scope, &mut tree, concurrency, slice, &mut stats).await?;
    Ok((tree, stats, slice))
}

/// Reads the tags of the accounts the scope's tag filter decides ([`tags_decide`]) in
/// `slice`, at most `concurrency` calls at a time, into `Account::tags`. No filter: no call. An account that
/// left the organization since it was listed (`NotFound`) leaves the tree, as it would have
/// a moment later.
pub(crate) async fn read_tags<O: OrganizationsApi>(
    api: &O,
    scope: &Scope,
    tree: &mut OrgTree,
    concurrency: usize,
    slice: TagSlice,
    stats: &mut ReadStats,
) -> Result<(), ReadError> {
    if !scope.tags.is_set() {
        return Ok(());
    }
    let wanted: Vec<AccountId> = tree
        .accounts
        .values()
        .filter(|a| slice.covers(&a.id) && tags_decide(scope, tree, a))
        .map(|a| a.id.clone())
        .collect();
    let mut answers = stream::iter(wanted)
        .map(|id| async move {
            let r = api.tags_of(&id).await;
            (id, r)
        })
        .buffer_unordered(concurrency.max(1));
    let mut first_error = None;
    while let Some((id, r)) = answers.next().await {
        stats.list_tags += 1;
        match r {
            Ok(tags) => {
                if let Some(a) = tree.accounts.get_mut(&id) {
                    a.tags = Some(tags);
                }
            }
            Err(AwsError::NotFound { .. }) => {
                tree.accounts.remove(&id);
            }
            // Calls already in flight finish before the error is returned.
            Err(e) => first_error = first_error.or(Some(classify(e))),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The deepest a chain of parents goes: AWS allows five levels of OUs under the root.
const MAX_DEPTH: usize = 8;

/// The whole organization by `ListAccounts`: `DescribeOrganization`, `ListRoots` and the
/// pages of `ListAccounts`, at the same time.
async fn read_whole_org<O: OrganizationsApi>(
    api: &O,
    scope: &Scope,
    root: &str,
) -> Result<(OrgTree, ReadStats), ReadError> {
    let mut stats = ReadStats::default();
    let accounts = async {
        let mut all = Vec::new();
        let mut token = None;
        let mut pages = 0u32;
        loop {
            pages += 1;
            match api.list_all_accounts_page(token).await {
                Ok(page) => {
                    all.extend(page.items);
                    match page.next {
                        Some(t) => token = Some(t),
                        None => return (pages, Ok(all)),
                    }
                }
                Err(e) => return (pages, Err(e)),
            }
        }
    };
    let (info, roots, (pages, accounts)) =
        futures::join!(api.describe_organization(), api.roots(), accounts);
    stats.describe_organization = 1;
    stats.list_roots = 1;
    stats.list_all_accounts_pages = pages;
    let info = info.map_err(classify)?;
    let roots = roots.map_err(classify)?;
    let accounts = accounts.map_err(classify)?;
    let mut tree = OrgTree {
        organization_id: info.id,
        management_account_id: Some(info.management_account_id),
        ..OrgTree::default()
    };
    if !roots.iter().any(|r| r.id == root) {
        return Err(ReadError::TargetNotFound {
            id: root.to_owned(),
            org: tree.organization_id,
        });
    }
    insert_root(&mut tree, root);
    for a in accounts {
        tree.accounts.insert(
            a.id.clone(),
            Account {
                parent: root.to_owned(),
                ..a
            },
        );
    }
    // Every account of the organization is listed: a listed account that is not among them
    // is not in the organization.
    tree.not_in_organization = scope
        .accounts
        .iter()
        .filter(|a| !tree.accounts.contains_key(*a))
        .cloned()
        .collect();
    stats.ous_walked = 0;
    Ok((tree, stats))
}

fn insert_root(tree: &mut OrgTree, id: &str) {
    tree.nodes.insert(
        id.to_owned(),
        OrgNode {
            id: id.to_owned(),
            name: "Root".into(),
            parent: None,
        },
    );
}

/// The lower bound of calls for this tree shape: per OU in the walked subtrees, the pages of
/// accounts and of child OUs (at least one each), plus `DescribeOrganization`.
pub fn lower_bound(
    accounts_per_ou: &BTreeMap<String, usize>,
    ous_per_ou: &BTreeMap<String, usize>,
    page: usize,
) -> u32 {
    let pages = |n: usize| n.div_ceil(page).max(1) as u32;
    1 + accounts_per_ou.values().map(|n| pages(*n)).sum::<u32>()
        + ous_per_ou.values().map(|n| pages(*n)).sum::<u32>()
}
