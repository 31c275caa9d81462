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
use crate::ports::{AwsError, OrganizationsApi};

/// How many Organizations calls may be in flight at once. AWS Organizations has low rate limits.
pub const DEFAULT_CONCURRENCY: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStats {
    pub describe_organization: u32,
    pub list_accounts_pages: u32,
    pub list_ous_pages: u32,
    pub ancestor_calls: u32,
    pub listed_lookup_calls: u32,
    pub ous_walked: u32,
}

impl ReadStats {
    pub fn total(&self) -> u32 {
        self.describe_organization
            + self.list_accounts_pages
            + self.list_ous_pages
            + self.ancestor_calls
            + self.listed_lookup_calls
    }
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
         'management account' next to the account."
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
}

type Task<'a> = Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

/// Reads the target subtrees (every page), the targets' ancestors, and the listed accounts
/// that live elsewhere.
pub async fn read_org<O: OrganizationsApi>(
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
    for t in &scope.targets {
        if t.is_root() {
            tree.nodes.insert(
                t.as_str().into(),
                OrgNode {
                    id: t.as_str().into(),
                    name: "Root".into(),
                    parent: None,
                },
            );
        }
    }
    for t in scope.targets.iter().filter(|t| !t.is_root()) {
        add_ancestors(api, &mut tree, t.as_str(), &mut stats.ancestor_calls, true)
            .await
            .map_err(|e| match e {
                AwsError::NotFound { .. } => ReadError::TargetNotFound {
                    id: t.as_str().into(),
                    org: tree.organization_id.clone(),
                },
                e => classify(e),
            })?;
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
    force_name: bool,
) -> Result<(), AwsError> {
    if !force_name && tree.nodes.get(ou).is_some_and(|n| n.parent.is_some()) {
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
    add_ancestors(api, tree, &parent.id, calls, false).await
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
