//! Names and OU paths of instance accounts outside the read tree (extra or skipped
//! instances), looked up a few calls each, for a bounded number of accounts.

use std::collections::BTreeSet;

use shared::core::{AccountId, OrgNode, OrgTree, StackInstance};
use shared::ports::OrganizationsApi;

use super::Located;

/// The most accounts outside the targets that status looks up by name.
const LOCATE_MAX: usize = 25;

/// Names and paths of instance accounts the tree does not hold (a few calls each, bounded).
pub(crate) async fn locate<O: OrganizationsApi>(
    api: &O,
    tree: &mut OrgTree,
    instances: &[StackInstance],
    located: &mut Located,
) {
    let wanted: BTreeSet<&AccountId> = instances
        .iter()
        .map(|i| &i.account)
        .filter(|a| !tree.accounts.contains_key(*a) && !located.contains_key(*a))
        .collect();
    for a in wanted.into_iter().take(LOCATE_MAX) {
        let Ok((name, _)) = api.describe_account(a).await else {
            located.insert(
                a.clone(),
                (String::new(), shared::core::NOT_IN_ORGANIZATION.into()),
            );
            continue;
        };
        let Ok(parent) = api.parent_of(a.as_str()).await else {
            continue;
        };
        // Climb until a node the tree already names (or the root), naming OUs on the way.
        let mut cur = parent.clone();
        for _ in 0..8 {
            if tree.nodes.contains_key(&cur.id) {
                break;
            }
            if cur.is_root {
                tree.nodes.insert(
                    cur.id.clone(),
                    OrgNode {
                        id: cur.id.clone(),
                        name: "Root".into(),
                        parent: None,
                    },
                );
                break;
            }
            let (Ok(n), Ok(up)) = (api.ou_name(&cur.id).await, api.parent_of(&cur.id).await) else {
                break;
            };
            tree.nodes.insert(
                cur.id.clone(),
                OrgNode {
                    id: cur.id.clone(),
                    name: n,
                    parent: Some(up.id.clone()),
                },
            );
            cur = up;
        }
        located.insert(a.clone(), (name, tree.path(&parent.id)));
    }
}
