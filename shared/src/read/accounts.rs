//! Reading a few accounts only: each one's state and chain of parents, and the targets it
//! reaches named.

use crate::core::{Account, AccountId, OrgNode, OrgTree, Scope, TagSlice};
use crate::ports::{AwsError, OrganizationsApi};

use super::{
    classify, insert_root, read_tags, ReadError, ReadStats, DEFAULT_CONCURRENCY, MAX_DEPTH,
};

/// What the scope's rules need to know about a few accounts only, for an event that concerns
/// them: `DescribeOrganization` (the management account), then for each account
/// `DescribeAccount` (its state; `AccountNotFoundException` when it left) and `ListParents` up
/// the chain until a target or the root; then each target reached is named (its
/// `DescribeOrganizationalUnit`, and its ancestors'). At most 2 + the depth of the
/// organization calls per account, plus about 2 per target reached, however large the
/// organization.
///
/// With a tag filter, one `ListTagsForResource` per account the filter decides (an account
/// under a target, ACTIVE, kept by the list), so at most one more call per account.
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
                tags: None,
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
    // With a tag filter, the tags of these accounts (those the filter decides), no others.
    // An event's few accounts are read whole: never a slice.
    read_tags(
        api,
        scope,
        &mut tree,
        DEFAULT_CONCURRENCY,
        TagSlice::ALL,
        &mut stats,
    )
    .await?;
    Ok((tree, stats))
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

pub(super) async fn add_parent_chain<O: OrganizationsApi>(
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
