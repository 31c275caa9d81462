//! Reading the part of the organization a scope touches: the target subtrees, every page,
//! with bounded concurrency.
//!
//! Cost: one call per page of `ListAccountsForParent` and of `ListOrganizationalUnitsForParent`
//! for each OU in the target subtrees, plus `DescribeOrganization` (the lower bound), plus the
//! few calls that name a non-root target's ancestors (`ListParents`, `DescribeOrganizationalUnit`)
//! and that locate listed accounts outside the targets.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::{Account, AccountId, OrgNode, OrgTree, Scope, TargetId};
use crate::ports::{AwsError, OrganizationsApi, ParentRef};

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

enum Done {
    Org(Result<crate::ports::OrgInfo, AwsError>),
    Accounts(String, Result<crate::ports::Page<Account>, AwsError>),
    Ous(String, Result<crate::ports::Page<OrgNode>, AwsError>),
    /// `DescribeOrganizationalUnit` of a target or of an ancestor of one.
    Named(String, Result<String, AwsError>),
    /// `ListParents` of a target or of an ancestor of one.
    Parent(String, Result<ParentRef, AwsError>),
}

type Task<'a> = Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

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
    match scope.targets.iter().collect::<Vec<_>>().as_slice() {
        [root] if root.is_root() => read_whole_org(api, scope, root.as_str()).await,
        _ => read_target_subtrees(api, scope, concurrency).await,
    }
}

/// What the scope's rules need to know about a few accounts only, for an event that concerns
/// them: `DescribeOrganization` (the management account), then for each account
/// `DescribeAccount` (its state; `AccountNotFoundException` when it left) and `ListParents` up
/// the chain until a target or the root; then each target reached is named (its
/// `DescribeOrganizationalUnit`, and its ancestors'). At most 2 + the depth of the
/// organization calls per account, plus about 2 per target reached, however large the
/// organization.
///
/// The tree holds the accounts that are in the organization, each with its chain of parents
/// up to the first target (or the root): `expand` then decides them by the same rules as a
/// full read. An account that left is simply not in the tree.
pub async fn read_accounts<O: OrganizationsApi>(
    api: &O,
    scope: &Scope,
    accounts: &[AccountId],
) -> Result<(OrgTree, ReadStats), ReadError> {
    let mut stats = ReadStats::default();
    let info = api.describe_organization().await.map_err(classify)?;
    stats.describe_organization = 1;
    let mut tree = OrgTree {
        organization_id: info.id,
        management_account_id: Some(info.management_account_id),
        ..OrgTree::default()
    };
    let is_target = |id: &str| scope.targets.iter().any(|t| t.as_str() == id);
    let mut reached = std::collections::BTreeSet::new();
    for a in accounts {
        stats.listed_lookup_calls += 1;
        let (name, state) = match api.describe_account(a).await {
            Ok(x) => x,
            Err(AwsError::NotFound { .. }) => continue,
            Err(e) => return Err(classify(e)),
        };
        stats.ancestor_calls += 1;
        let parent = match api.parent_of(a.as_str()).await {
            Ok(p) => p,
            Err(AwsError::NotFound { .. }) => continue,
            Err(e) => return Err(classify(e)),
        };
        tree.accounts.insert(
            a.clone(),
            Account {
                id: a.clone(),
                name,
                state,
                parent: parent.id.clone(),
            },
        );
        // Up the chain until a target (which decides) or the root (outside every target).
        let mut node = parent;
        for _ in 0..MAX_DEPTH {
            if node.is_root {
                insert_root(&mut tree, &node.id);
                break;
            }
            if is_target(&node.id) {
                reached.insert(node.id.clone());
                break;
            }
            if tree.nodes.contains_key(&node.id) {
                break;
            }
            stats.ancestor_calls += 1;
            let up = api.parent_of(&node.id).await.map_err(classify)?;
            tree.nodes.insert(
                node.id.clone(),
                OrgNode {
                    id: node.id.clone(),
                    name: node.id.clone(),
                    parent: Some(up.id.clone()),
                },
            );
            node = up;
        }
    }
    // The targets the accounts are under, named with their path (`DescribeOrganizationalUnit`
    // and `ListParents` per level not known yet), so that what is said about an account names
    // where it is: one or two calls per target reached, not per account.
    for t in &reached {
        let mut calls = 0;
        add_ancestors(api, &mut tree, t, &mut calls)
            .await
            .map_err(classify)?;
        stats.ancestor_calls += calls;
    }
    Ok((tree, stats))
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

/// Reads the target subtrees (every page), the targets' ancestors, and the listed accounts
/// that live elsewhere.
pub async fn read_target_subtrees<O: OrganizationsApi>(
    api: &O,
    scope: &Scope,
    concurrency: usize,
) -> Result<(OrgTree, ReadStats), ReadError> {
    let concurrency = concurrency.max(1);
    let mut stats = ReadStats::default();
    let mut tree = OrgTree::default();
    let mut queue: Vec<Task<'_>> = Vec::new();
    let mut running = FuturesUnordered::new();

    queue.push(Box::pin(async move {
        Done::Org(api.describe_organization().await)
    }));
    for t in &scope.targets {
        let id = t.as_str().to_owned();
        queue.push(accounts_task(api, id.clone(), None));
        queue.push(ous_task(api, id, None));
    }
    // Each non-root target's name and parent, then its ancestors' up to the root, level by
    // level: in the same bounded pool as the walk, so that naming the targets' paths costs
    // no time of its own (it used to be two calls per target, one after another, after the
    // walk).
    let mut naming: BTreeSet<String> = BTreeSet::new();
    let mut named: BTreeMap<String, (Option<String>, Option<ParentRef>)> = BTreeMap::new();
    for t in scope.targets.iter().filter(|t| !t.is_root()) {
        naming.insert(t.as_str().to_owned());
        queue.push(name_task(api, t.as_str().to_owned()));
        queue.push(parent_task(api, t.as_str().to_owned()));
    }
    queue.reverse();
    let mut first_error: Option<ReadError> = None;
    let targets: BTreeSet<&str> = scope.targets.iter().map(TargetId::as_str).collect();

    while !queue.is_empty() || !running.is_empty() {
        while running.len() < concurrency {
            match queue.pop() {
                Some(t) => running.push(t),
                None => break,
            }
        }
        let Some(done) = running.next().await else {
            break;
        };
        match done {
            Done::Org(r) => {
                stats.describe_organization += 1;
                match r {
                    Ok(info) => {
                        tree.organization_id = info.id;
                        tree.management_account_id = Some(info.management_account_id);
                    }
                    Err(e) => first_error = first_error.or(Some(classify(e))),
                }
            }
            Done::Accounts(parent, r) => {
                stats.list_accounts_pages += 1;
                match r {
                    Ok(page) => {
                        for a in page.items {
                            tree.accounts.insert(a.id.clone(), a);
                        }
                        if let Some(tok) = page.next {
                            queue.push(accounts_task(api, parent, Some(tok)));
                        }
                    }
                    Err(AwsError::NotFound { .. }) if targets.contains(parent.as_str()) => {
                        first_error = first_error.or(Some(ReadError::TargetNotFound {
                            id: parent,
                            org: String::new(),
                        }));
                    }
                    Err(e) => first_error = first_error.or(Some(classify(e))),
                }
            }
            Done::Ous(parent, r) => {
                stats.list_ous_pages += 1;
                match r {
                    Ok(page) => {
                        for n in page.items {
                            let id = n.id.clone();
                            tree.nodes.insert(id.clone(), n);
                            // A child OU that is itself a target is walked once, as a target.
                            if !targets.contains(id.as_str()) {
                                queue.push(accounts_task(api, id.clone(), None));
                                queue.push(ous_task(api, id, None));
                            }
                        }
                        if let Some(tok) = page.next {
                            queue.push(ous_task(api, parent, Some(tok)));
                        }
                    }
                    Err(AwsError::NotFound { .. }) if targets.contains(parent.as_str()) => {
                        first_error = first_error.or(Some(ReadError::TargetNotFound {
                            id: parent,
                            org: String::new(),
                        }));
                    }
                    Err(e) => first_error = first_error.or(Some(classify(e))),
                }
            }
            Done::Named(ou, r) => {
                stats.ancestor_calls += 1;
                match r {
                    Ok(name) => named.entry(ou).or_default().0 = Some(name),
                    Err(e) => first_error = first_error.or(Some(naming_error(e, &ou, &targets))),
                }
            }
            Done::Parent(ou, r) => {
                stats.ancestor_calls += 1;
                match r {
                    Ok(p) => {
                        if !p.is_root && naming.insert(p.id.clone()) {
                            queue.push(name_task(api, p.id.clone()));
                            queue.push(parent_task(api, p.id.clone()));
                        }
                        named.entry(ou).or_default().1 = Some(p);
                    }
                    Err(e) => first_error = first_error.or(Some(naming_error(e, &ou, &targets))),
                }
            }
        }
        if first_error.is_some() {
            break;
        }
    }
    if let Some(mut e) = first_error {
        // Let calls already in flight finish, so nothing reaches AWS after we have answered.
        while let Some(done) = running.next().await {
            if let Done::Org(Ok(info)) = done {
                tree.organization_id = info.id;
            }
        }
        if let ReadError::TargetNotFound { org, .. } = &mut e {
            org.clone_from(&tree.organization_id);
            if org.is_empty() {
                *org = "the organization".into();
            }
        }
        return Err(e);
    }
    stats.ous_walked = scope.targets.len() as u32
        + tree
            .nodes
            .keys()
            .filter(|k| !targets.contains(k.as_str()))
            .count() as u32;

    // Names and ancestors of the targets, for paths. Roots are named "Root".
    for t in scope.targets.iter().filter(|t| t.is_root()) {
        insert_root(&mut tree, t.as_str());
    }
    for (ou, (name, parent)) in named {
        let (Some(name), Some(parent)) = (name, parent) else {
            continue;
        };
        if parent.is_root {
            insert_root(&mut tree, &parent.id);
        }
        tree.nodes.insert(
            ou.clone(),
            OrgNode {
                id: ou,
                name,
                parent: Some(parent.id),
            },
        );
    }

    // Listed accounts that are not under any target: where are they, do they exist?
    let outside: Vec<AccountId> = scope
        .accounts
        .iter()
        .filter(|a| !tree.accounts.contains_key(*a))
        .cloned()
        .collect();
    for a in outside {
        stats.listed_lookup_calls += 1;
        match api.describe_account(&a).await {
            Ok((name, state)) => {
                stats.listed_lookup_calls += 1;
                let parent = api.parent_of(a.as_str()).await.map_err(classify)?;
                add_parent_chain(api, &mut tree, &parent, &mut stats.listed_lookup_calls)
                    .await
                    .map_err(classify)?;
                tree.accounts.insert(
                    a.clone(),
                    Account {
                        id: a,
                        name,
                        state,
                        parent: parent.id,
                    },
                );
            }
            Err(AwsError::NotFound { .. }) => {
                tree.not_in_organization.insert(a);
            }
            Err(e) => return Err(classify(e)),
        }
    }
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

/// A target that AWS does not know is the user's mistake, named; anything else is AWS's.
fn naming_error(e: AwsError, ou: &str, targets: &BTreeSet<&str>) -> ReadError {
    match e {
        AwsError::NotFound { .. } if targets.contains(ou) => ReadError::TargetNotFound {
            id: ou.to_owned(),
            org: String::new(),
        },
        e => classify(e),
    }
}

fn name_task<O: OrganizationsApi>(api: &O, ou: String) -> Task<'_> {
    Box::pin(async move {
        let r = api.ou_name(&ou).await;
        Done::Named(ou, r)
    })
}

fn parent_task<O: OrganizationsApi>(api: &O, ou: String) -> Task<'_> {
    Box::pin(async move {
        let r = api.parent_of(&ou).await;
        Done::Parent(ou, r)
    })
}

fn accounts_task<O: OrganizationsApi>(api: &O, parent: String, tok: Option<String>) -> Task<'_> {
    Box::pin(async move {
        let r = api.list_accounts_page(&parent, tok).await;
        Done::Accounts(parent, r)
    })
}

fn ous_task<O: OrganizationsApi>(api: &O, parent: String, tok: Option<String>) -> Task<'_> {
    Box::pin(async move {
        let r = api.list_ous_page(&parent, tok).await;
        Done::Ous(parent, r)
    })
}

/// Names `ou` and its ancestors up to the root, skipping what the tree already knows.
async fn add_ancestors<O: OrganizationsApi>(
    api: &O,
    tree: &mut OrgTree,
    ou: &str,
    calls: &mut u32,
) -> Result<(), AwsError> {
    if tree.nodes.get(ou).is_some_and(|n| n.parent.is_some()) {
        return Ok(());
    }
    let known_parent = tree.nodes.get(ou).and_then(|n| n.parent.clone());
    let name = match tree.nodes.get(ou) {
        Some(n) if n.name != n.id => n.name.clone(),
        _ => {
            *calls += 1;
            api.ou_name(ou).await?
        }
    };
    let parent = match known_parent {
        Some(p) => ParentKnown::Known(p),
        None => {
            *calls += 1;
            ParentKnown::Fetched(api.parent_of(ou).await?)
        }
    };
    let parent_id = match &parent {
        ParentKnown::Known(p) => p.clone(),
        ParentKnown::Fetched(p) => p.id.clone(),
    };
    tree.nodes.insert(
        ou.to_owned(),
        OrgNode {
            id: ou.to_owned(),
            name,
            parent: Some(parent_id.clone()),
        },
    );
    if let ParentKnown::Fetched(p) = parent {
        Box::pin(add_parent_chain(api, tree, &p, calls)).await?;
    }
    Ok(())
}

enum ParentKnown {
    Known(String),
    Fetched(crate::ports::ParentRef),
}

async fn add_parent_chain<O: OrganizationsApi>(
    api: &O,
    tree: &mut OrgTree,
    parent: &crate::ports::ParentRef,
    calls: &mut u32,
) -> Result<(), AwsError> {
    if parent.is_root {
        tree.nodes.entry(parent.id.clone()).or_insert(OrgNode {
            id: parent.id.clone(),
            name: "Root".into(),
            parent: None,
        });
        return Ok(());
    }
    if tree
        .nodes
        .get(&parent.id)
        .is_some_and(|n| n.parent.is_some())
    {
        return Ok(());
    }
    add_ancestors(api, tree, &parent.id, calls).await
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
