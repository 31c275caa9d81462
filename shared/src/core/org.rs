//! `OrgTree`: the part of the organization a scope touches, as read at one moment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, TargetId};
use super::tags::Tags;

/// An account's lifecycle state (AWS Organizations `State`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountState {
    Active,
    PendingActivation,
    Suspended,
    PendingClosure,
    Closed,
    Unknown(String),
}

impl AccountState {
    pub fn parse(s: &str) -> Self {
        match s {
            "ACTIVE" => Self::Active,
            "PENDING_ACTIVATION" => Self::PendingActivation,
            "SUSPENDED" => Self::Suspended,
            "PENDING_CLOSURE" => Self::PendingClosure,
            "CLOSED" => Self::Closed,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Active => "ACTIVE",
            Self::PendingActivation => "PENDING_ACTIVATION",
            Self::Suspended => "SUSPENDED",
            Self::PendingClosure => "PENDING_CLOSURE",
            Self::Closed => "CLOSED",
            Self::Unknown(s) => s,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub state: AccountState,
    /// The OU or root that directly contains the account.
    pub parent: String,
    /// Its tags (`ListTagsForResource`), read only when the scope has a tag filter and the
    /// filter decides this account; `None`: not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// An OU or a root. A root has no parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgNode {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
}

/// What was read of the organization: the target subtrees in full, the ancestors of each
/// target (for paths), and where each listed account outside the targets lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgTree {
    pub organization_id: String,
    pub management_account_id: Option<AccountId>,
    pub nodes: BTreeMap<String, OrgNode>,
    pub accounts: BTreeMap<AccountId, Account>,
    /// Listed accounts that AWS Organizations does not know at all.
    pub not_in_organization: BTreeSet<AccountId>,
}

impl OrgTree {
    /// `Root/Prod/EU (ou-abcd-12345678)`: names from the root down, then the ID.
    pub fn path(&self, node_id: &str) -> String {
        format!("{} ({node_id})", self.name_path(node_id))
    }

    /// `Root/Prod/EU`.
    pub fn name_path(&self, node_id: &str) -> String {
        let mut names = Vec::new();
        let mut cur = Some(node_id.to_owned());
        let mut guard = 0;
        while let Some(id) = cur {
            guard += 1;
            match self.nodes.get(&id) {
                Some(n) if guard < 64 => {
                    names.push(n.name.clone());
                    cur = n.parent.clone();
                }
                _ => {
                    names.push(id);
                    cur = None;
                }
            }
        }
        names.reverse();
        names.join("/")
    }

    /// Every node at or below one of `targets`, that the tree holds.
    pub fn subtree_nodes(&self, targets: &BTreeSet<TargetId>) -> BTreeSet<String> {
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in self.nodes.values() {
            if let Some(p) = &n.parent {
                children.entry(p.as_str()).or_default().push(n.id.as_str());
            }
        }
        let mut out = BTreeSet::new();
        let mut stack: Vec<&str> = targets.iter().map(TargetId::as_str).collect();
        while let Some(id) = stack.pop() {
            if out.insert(id.to_owned()) {
                if let Some(c) = children.get(id) {
                    stack.extend(c.iter().copied());
                }
            }
        }
        out
    }

    /// The target that covers `node_id` most closely, if any.
    pub fn covering_target<'a>(
        &self,
        node_id: &str,
        targets: &'a BTreeSet<TargetId>,
    ) -> Option<&'a TargetId> {
        let mut cur = Some(node_id.to_owned());
        let mut guard = 0;
        while let Some(id) = cur {
            if let Some(t) = targets.iter().find(|t| t.as_str() == id) {
                return Some(t);
            }
            guard += 1;
            cur = self
                .nodes
                .get(&id)
                .and_then(|n| n.parent.clone())
                .filter(|_| guard < 64);
        }
        None
    }
}
