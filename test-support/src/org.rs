//! The in-memory organization: [`Tree`] (its shape) and [`MemOrg`] (its API).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use shared::core::{Account, AccountId, AccountState, OrgNode, Tags};
use shared::ports::{AwsError, AwsResult, OrgInfo, OrganizationsApi, Page, ParentRef};

/// Organizations page size (AWS's and the emulator's).
pub const PAGE: usize = 20;

/// An organization as a tree: built from the emulator's fixture JSON, so the in-process
/// organization and the emulator hold exactly the same shape.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub organization_id: String,
    pub root: String,
    pub management: String,
    /// Node ID → name, parent.
    pub nodes: BTreeMap<String, OrgNode>,
    /// Node ID → child OU IDs, in creation order.
    pub children: BTreeMap<String, Vec<String>>,
    /// Node ID → accounts directly in it.
    pub accounts: BTreeMap<String, Vec<Account>>,
}

impl Tree {
    /// From `POST /_fidelity/fixture/generate`'s answer.
    pub fn from_fixture(f: &Value) -> Self {
        let root = f["root_id"].as_str().expect("root_id").to_owned();
        let management = f["management_account_id"]
            .as_str()
            .expect("management_account_id")
            .to_owned();
        let mut t = Tree {
            organization_id: f["organization_id"].as_str().unwrap_or_default().into(),
            root: root.clone(),
            management: management.clone(),
            ..Default::default()
        };
        let ous = f["ous"].as_object().expect("ous");
        // Paths sort parents before children; generated names (unit-00042) sort by creation.
        let mut paths: Vec<(&String, &Value)> = ous.iter().collect();
        paths.sort_by(|a, b| a.0.cmp(b.0));
        let id_of: BTreeMap<&str, &str> = paths
            .iter()
            .map(|(p, id)| (p.as_str(), id.as_str().expect("ou id")))
            .collect();
        for (path, id) in &paths {
            let id = id.as_str().expect("ou id").to_owned();
            let (parent, name) = match path.rsplit_once('/') {
                Some((pp, name)) => (Some(id_of[pp].to_owned()), name.to_owned()),
                None => (None, "Root".to_owned()),
            };
            if let Some(p) = &parent {
                t.children.entry(p.clone()).or_default().push(id.clone());
            }
            t.children.entry(id.clone()).or_default();
            t.accounts.entry(id.clone()).or_default();
            t.nodes.insert(id.clone(), OrgNode { id, name, parent });
        }
        let mut accts: Vec<(&String, &Value)> = f["accounts"]
            .as_object()
            .expect("accounts")
            .iter()
            .collect();
        accts.sort_by(|a, b| a.0.cmp(b.0));
        // The management account lives in the root and is not among the generated ones.
        t.accounts.get_mut(&root).expect("root").push(Account {
            id: AccountId::parse(&management).expect("management id"),
            name: "management".into(),
            state: AccountState::Active,
            parent: root.clone(),
            tags: None,
        });
        for (name, a) in accts {
            let parent = id_of[a["ou_path"].as_str().expect("ou_path")].to_owned();
            t.accounts.get_mut(&parent).expect("parent").push(Account {
                id: AccountId::parse(a["id"].as_str().expect("id")).expect("account id"),
                name: name.clone(),
                state: AccountState::parse(a["state"].as_str().unwrap_or("ACTIVE")),
                parent,
                tags: None,
            });
        }
        t
    }

    /// Every node at or below `target`, the target first.
    pub fn subtree(&self, target: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![target.to_owned()];
        while let Some(n) = stack.pop() {
            stack.extend(self.children[&n].iter().rev().cloned());
            out.push(n);
        }
        out
    }

    pub fn account_count(&self) -> usize {
        self.accounts.values().map(Vec::len).sum()
    }

    pub fn suspended_count(&self) -> usize {
        self.accounts
            .values()
            .flatten()
            .filter(|a| a.state == AccountState::Suspended)
            .count()
    }

    /// Depth of the deepest OU (root = 0).
    pub fn depth(&self) -> usize {
        self.nodes
            .keys()
            .map(|n| self.ancestors(n).len())
            .max()
            .unwrap_or(0)
    }

    fn ancestors(&self, n: &str) -> Vec<String> {
        let mut v = Vec::new();
        let mut cur = self.nodes[n].parent.clone();
        while let Some(p) = cur {
            cur = self.nodes[&p].parent.clone();
            v.push(p);
        }
        v
    }

    /// The top-level OU with the most accounts below it.
    pub fn biggest_top_level_ou(&self) -> String {
        self.children[&self.root]
            .iter()
            .max_by_key(|ou| {
                self.subtree(ou)
                    .iter()
                    .map(|n| self.accounts[n].len())
                    .sum::<usize>()
            })
            .expect("a top-level OU")
            .clone()
    }

    /// Accounts below `target`, in a fixed order.
    pub fn accounts_under(&self, target: &str) -> Vec<&Account> {
        self.subtree(target)
            .iter()
            .flat_map(|n| self.accounts[n].iter())
            .collect()
    }

    /// The foundation issue's lower bound for walking `target`'s subtree: one call per page of
    /// `ListAccountsForParent` and of `ListOrganizationalUnitsForParent` for each OU (an empty
    /// list is still a page), plus `DescribeOrganization`.
    pub fn lower_bound(&self, target: &str) -> u32 {
        let sub = self.subtree(target);
        let accounts: BTreeMap<String, usize> = sub
            .iter()
            .map(|n| (n.clone(), self.accounts[n].len()))
            .collect();
        let ous: BTreeMap<String, usize> = sub
            .iter()
            .map(|n| (n.clone(), self.children[n].len()))
            .collect();
        shared::read::lower_bound(&accounts, &ous, PAGE)
    }

    /// The longest chain of calls that must run one after another to walk `target`: a child
    /// OU is known only once the page of its parent's `ListOrganizationalUnitsForParent` that
    /// names it has arrived, and the pages of one listing follow each other (each needs the
    /// previous page's token). Returns (calls on the chain, depth of the subtree, most pages
    /// of one listing on that chain).
    pub fn critical_path(&self, target: &str) -> (u32, u32, u32) {
        let pages = |n: usize| n.div_ceil(PAGE).max(1) as u32;
        // (node, calls before it is known, depth below target, most pages seen on the path)
        let mut stack = vec![(target.to_owned(), 0u32, 0u32, 0u32)];
        let mut best = (1u32, 0u32, 0u32); // DescribeOrganization alone
        while let Some((n, known, depth, widest)) = stack.pop() {
            let acc = pages(self.accounts[&n].len());
            let ou = pages(self.children[&n].len());
            let widest = widest.max(acc).max(ou);
            let done = known + acc.max(ou);
            if (done, depth) > (best.0, best.1) {
                best = (done, depth, widest);
            }
            for (i, c) in self.children[&n].iter().enumerate() {
                stack.push((c.clone(), known + (i / PAGE) as u32 + 1, depth + 1, widest));
            }
        }
        let max_depth = self
            .subtree(target)
            .iter()
            .map(|n| self.ancestors(n).len() - self.ancestors(target).len())
            .max()
            .unwrap_or(0) as u32;
        (best.0, max_depth.max(best.1), best.2)
    }
}

/// Calls made to a [`MemOrg`], by API action.
#[derive(Debug, Default)]
pub struct Calls {
    pub describe_organization: AtomicU32,
    pub list_ous: AtomicU32,
    pub list_accounts: AtomicU32,
    pub list_all_accounts: AtomicU32,
    pub list_parents: AtomicU32,
    pub describe_ou: AtomicU32,
    pub describe_account: AtomicU32,
    /// `ListTagsForResource`.
    pub list_tags: AtomicU32,
    /// The most `ListTagsForResource` calls that were in flight at once (with a latency).
    pub list_tags_most_in_flight: AtomicU32,
    list_tags_in_flight: AtomicU32,
    pub other: AtomicU32,
}

impl Calls {
    pub fn total(&self) -> u32 {
        [
            &self.describe_organization,
            &self.list_ous,
            &self.list_accounts,
            &self.list_all_accounts,
            &self.list_parents,
            &self.describe_ou,
            &self.describe_account,
            &self.list_tags,
            &self.other,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// An in-process organization: pages of [`PAGE`], a fixed latency per call, call counters.
/// Cloning shares the organization and the counters (the org-events benchmark hands one clone
/// to the handler and one to [`MemStackSet`]); [`MemOrg::move_account`] changes it as
/// `MoveAccount` would.
#[derive(Clone)]
pub struct MemOrg {
    pub latency: Duration,
    pub calls: Arc<Calls>,
    state: Arc<RwLock<OrgState>>,
}

struct OrgState {
    tree: Tree,
    parent_of: BTreeMap<String, String>,
    account_at: BTreeMap<AccountId, Account>,
    /// Accounts' tags ([`MemOrg::set_tags`]); an account not here has none.
    tags: BTreeMap<AccountId, Tags>,
    /// `ListTagsForResource` calls per account ([`MemOrg::tag_calls_of`]).
    tags_read: BTreeMap<AccountId, u32>,
}

impl MemOrg {
    pub fn new(tree: Tree, latency: Duration) -> Self {
        let mut parent_of = BTreeMap::new();
        let mut account_at = BTreeMap::new();
        for n in tree.nodes.values() {
            if let Some(p) = &n.parent {
                parent_of.insert(n.id.clone(), p.clone());
            }
        }
        for a in tree.accounts.values().flatten() {
            parent_of.insert(a.id.as_str().to_owned(), a.parent.clone());
            account_at.insert(a.id.clone(), a.clone());
        }
        Self {
            latency,
            calls: Arc::default(),
            state: Arc::new(RwLock::new(OrgState {
                tree,
                parent_of,
                account_at,
                tags: BTreeMap::new(),
                tags_read: BTreeMap::new(),
            })),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, OrgState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// `MoveAccount`, not counted (the benchmark plays the customer, not the function).
    pub fn move_account(&self, account: &AccountId, to: &str) {
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let from = s.parent_of[account.as_str()].clone();
        let moved = {
            let list = s.tree.accounts.get_mut(&from).expect("source parent");
            let i = list.iter().position(|a| &a.id == account).expect("account");
            list.remove(i)
        };
        let moved = Account {
            parent: to.to_owned(),
            ..moved
        };
        s.tree
            .accounts
            .get_mut(to)
            .expect("destination parent")
            .push(moved.clone());
        s.parent_of
            .insert(account.as_str().to_owned(), to.to_owned());
        s.account_at.insert(account.clone(), moved);
    }

    /// `TagResource` / `UntagResource` on an account, not counted: its tags become `tags`.
    pub fn set_tags(&self, account: &AccountId, tags: &[(&str, &str)]) {
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let tags: Tags = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        s.tags.insert(account.clone(), tags);
    }

    /// How many `ListTagsForResource` calls were made.
    pub fn tag_calls(&self) -> u32 {
        self.calls.list_tags.load(Ordering::Relaxed)
    }

    /// How many `ListTagsForResource` calls asked for `account`'s tags.
    pub fn tag_calls_of(&self, account: &AccountId) -> u32 {
        self.read().tags_read.get(account).copied().unwrap_or(0)
    }

    /// The account's parent now, not counted.
    pub fn parent(&self, account: &AccountId) -> Option<String> {
        self.read().parent_of.get(account.as_str()).cloned()
    }

    /// `node` and its ancestors up to the root, not counted.
    pub fn lineage(&self, node: &str) -> Vec<String> {
        let s = self.read();
        let mut out = vec![node.to_owned()];
        let mut cur = node.to_owned();
        while let Some(p) = s.parent_of.get(&cur) {
            out.push(p.clone());
            cur = p.clone();
        }
        out
    }

    async fn call(&self, counter: &AtomicU32) {
        counter.fetch_add(1, Ordering::Relaxed);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn page<T: Clone>(items: &[T], token: Option<String>) -> Page<T> {
        let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let end = (start + PAGE).min(items.len());
        Page {
            items: items[start.min(end)..end].to_vec(),
            next: (end < items.len()).then(|| end.to_string()),
        }
    }

    fn not_found(what: &str) -> AwsError {
        AwsError::NotFound { what: what.into() }
    }
}

impl OrganizationsApi for MemOrg {
    async fn describe_organization(&self) -> AwsResult<OrgInfo> {
        self.call(&self.calls.describe_organization).await;
        let s = self.read();
        Ok(OrgInfo {
            id: s.tree.organization_id.clone(),
            management_account_id: AccountId::parse(&s.tree.management)
                .map_err(|e| AwsError::Validation(e.to_string()))?,
            all_features: true,
        })
    }

    async fn list_ous_page(&self, parent: &str, token: Option<String>) -> AwsResult<Page<OrgNode>> {
        self.call(&self.calls.list_ous).await;
        let s = self.read();
        let ids = s
            .tree
            .children
            .get(parent)
            .ok_or_else(|| Self::not_found(parent))?;
        let nodes: Vec<OrgNode> = ids.iter().map(|i| s.tree.nodes[i].clone()).collect();
        Ok(Self::page(&nodes, token))
    }

    async fn list_accounts_page(
        &self,
        parent: &str,
        token: Option<String>,
    ) -> AwsResult<Page<Account>> {
        self.call(&self.calls.list_accounts).await;
        let s = self.read();
        let accts = s
            .tree
            .accounts
            .get(parent)
            .ok_or_else(|| Self::not_found(parent))?;
        Ok(Self::page(accts, token))
    }

    async fn list_all_accounts_page(&self, token: Option<String>) -> AwsResult<Page<Account>> {
        self.call(&self.calls.list_all_accounts).await;
        // The token is the last account of the previous page: one page's accounts are found
        // and copied, not the organization's (100,000 accounts are 5,000 pages).
        use std::ops::Bound::{Excluded, Unbounded};
        let s = self.read();
        let after = match token {
            Some(t) => {
                Excluded(AccountId::parse(&t).map_err(|e| AwsError::Validation(e.to_string()))?)
            }
            None => Unbounded,
        };
        let mut rest = s.account_at.range((after, Unbounded));
        let items: Vec<Account> = rest
            .by_ref()
            .take(PAGE)
            .map(|(_, a)| Account {
                parent: String::new(),
                ..a.clone()
            })
            .collect();
        let next = match (items.last(), rest.next()) {
            (Some(last), Some(_)) => Some(last.id.as_str().to_owned()),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn parent_of(&self, child: &str) -> AwsResult<ParentRef> {
        self.call(&self.calls.list_parents).await;
        let s = self.read();
        let p = s
            .parent_of
            .get(child)
            .ok_or_else(|| Self::not_found(child))?;
        Ok(ParentRef {
            id: p.clone(),
            is_root: *p == s.tree.root,
        })
    }

    async fn ou_name(&self, ou: &str) -> AwsResult<String> {
        self.call(&self.calls.describe_ou).await;
        self.read()
            .tree
            .nodes
            .get(ou)
            .map(|n| n.name.clone())
            .ok_or_else(|| Self::not_found(ou))
    }

    async fn describe_account(&self, id: &AccountId) -> AwsResult<(String, AccountState)> {
        self.call(&self.calls.describe_account).await;
        self.read()
            .account_at
            .get(id)
            .map(|a| (a.name.clone(), a.state.clone()))
            .ok_or_else(|| Self::not_found(id.as_str()))
    }

    async fn service_access_enabled(&self, _principal: &str) -> AwsResult<bool> {
        self.call(&self.calls.other).await;
        Ok(true)
    }

    async fn roots(&self) -> AwsResult<Vec<OrgNode>> {
        self.call(&self.calls.other).await;
        let s = self.read();
        Ok(vec![s.tree.nodes[&s.tree.root].clone()])
    }
    async fn delegated_admins(&self, _: &str) -> AwsResult<Vec<AccountId>> {
        self.call(&self.calls.other).await;
        Ok(vec![])
    }

    async fn tags_of(&self, account: &AccountId) -> AwsResult<Tags> {
        let now = self
            .calls
            .list_tags_in_flight
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        self.calls
            .list_tags_most_in_flight
            .fetch_max(now, Ordering::SeqCst);
        self.call(&self.calls.list_tags).await;
        self.calls
            .list_tags_in_flight
            .fetch_sub(1, Ordering::SeqCst);
        *self
            .state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .tags_read
            .entry(account.clone())
            .or_default() += 1;
        let s = self.read();
        if !s.account_at.contains_key(account) {
            return Err(Self::not_found(account.as_str()));
        }
        Ok(s.tags.get(account).cloned().unwrap_or_default())
    }
}

/// A small organization for tests: the management account in the root, and under the root
/// the OUs `ous` (path under the root, e.g. `Prod` or `Prod/Web` → OU ID), each holding
/// `per_ou` ACTIVE accounts numbered from 100000000001 in OU order.
pub fn small_tree(ous: &[(&str, &str)], per_ou: usize) -> Tree {
    let mut ou_ids = serde_json::Map::new();
    ou_ids.insert("root".into(), Value::from(ROOT));
    let mut accounts = serde_json::Map::new();
    let mut n = 0u64;
    for (path, id) in ous {
        ou_ids.insert(format!("root/{path}"), Value::from(*id));
        for _ in 0..per_ou {
            n += 1;
            accounts.insert(
                format!("acct-{n:03}"),
                serde_json::json!({
                    "id": format!("{}", 100_000_000_000 + n),
                    "ou_path": format!("root/{path}"),
                    "state": "ACTIVE",
                }),
            );
        }
    }
    Tree::from_fixture(&serde_json::json!({
        "organization_id": "o-test000001",
        "root_id": ROOT,
        "management_account_id": MANAGEMENT,
        "ous": ou_ids,
        "accounts": accounts,
    }))
}

/// The root of [`small_tree`].
pub const ROOT: &str = "r-ab12";
/// The management account of [`small_tree`].
pub const MANAGEMENT: &str = "999999999999";
