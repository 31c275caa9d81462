//! Reading the target subtrees: every page, with bounded concurrency.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::core::{Account, AccountId, OrgNode, OrgTree, Scope, TagSlice, TargetId};
use crate::ports::{AwsError, OrganizationsApi, ParentRef};

use super::accounts::add_parent_chain;
use super::{classify, insert_root, read_tags, ReadError, ReadStats};

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

/// Reads the target subtrees (every page), the targets' ancestors, and the listed accounts
/// that live elsewhere; with a tag filter, every candidate's tags.
pub async fn read_target_subtrees<O: OrganizationsApi>(
    api: &O,
    scope: &Scope,
    concurrency: usize,
) -> Result<(OrgTree, ReadStats), ReadError> {
    let (mut tree, mut stats) = read_structure(api, scope, concurrency).await?;
    read_tags(
        api,
        scope,
        &mut tree,
        concurrency,
        TagSlice::ALL,
        &mut stats,
    )
    .await?;
    Ok((tree, stats))
}

/// [`read_target_subtrees`] without the tags.
pub(super) async fn read_structure<O: OrganizationsApi>(
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
                        tags: None,
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
