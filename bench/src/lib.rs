//! Shared pieces of the benchmarks: an in-process organization with a fixed latency per call,
//! the call lower bound and critical path of a tree, the planner's 10,000-account inputs, and
//! small output helpers. Figures are printed by `src/bin/*` and `benches/*`; `scripts/bench`
//! runs them all and splices the tables into `BENCHMARKS.md`.

pub mod cost;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use shared::core::{
    Account, AccountId, AccountState, Desired, DetailedStatus, DriftStatus, InstanceStatus,
    OrgNode, PlanPolicy, StackInstance,
};
use shared::ports::{
    AwsError, AwsResult, OpKind, Operation, OperationResult, OrgInfo, OrganizationsApi, Page,
    ParentRef, StackSetApi, StackSetInfo, Targets,
};

/// Organizations page size (AWS's and the emulator's).
pub const PAGE: usize = 20;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    e2e::repo_root()
}

/// Where the binaries leave their tables for `scripts/bench`.
pub fn results_dir() -> PathBuf {
    let d = repo_root().join("target/bench-results");
    std::fs::create_dir_all(&d).expect("create target/bench-results");
    d
}

/// Writes `text` to `target/bench-results/<name>` and prints it.
pub fn emit(name: &str, text: &str) {
    print!("{text}");
    std::fs::write(results_dir().join(name), text).expect("write results");
}

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
        });
        for (name, a) in accts {
            let parent = id_of[a["ou_path"].as_str().expect("ou_path")].to_owned();
            t.accounts.get_mut(&parent).expect("parent").push(Account {
                id: AccountId::parse(a["id"].as_str().expect("id")).expect("account id"),
                name: name.clone(),
                state: AccountState::parse(a["state"].as_str().unwrap_or("ACTIVE")),
                parent,
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
}

/// Calls made to a [`MemStackSet`], by API action (as CloudFormation counts them: one call per
/// page of 100 for the listings).
#[derive(Debug, Default)]
pub struct CfnCalls {
    pub describe_stack_set: AtomicU32,
    pub list_stack_instances: AtomicU32,
    pub start: AtomicU32,
    pub describe_operation: AtomicU32,
    pub list_operations: AtomicU32,
    pub list_operation_results: AtomicU32,
}

impl CfnCalls {
    pub fn total(&self) -> u32 {
        [
            &self.describe_stack_set,
            &self.list_stack_instances,
            &self.start,
            &self.describe_operation,
            &self.list_operations,
            &self.list_operation_results,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// CloudFormation's page size for `ListStackInstances` and `ListStackSetOperationResults`.
pub const CFN_PAGE: usize = 100;

/// The instances by (account, region), and every operation, oldest first.
type SetState = (BTreeMap<(AccountId, String), StackInstance>, Vec<MemOp>);

struct MemOp {
    op: Operation,
    started: std::time::Instant,
    kind: OpKind,
    accounts: Vec<AccountId>,
    ous: Vec<String>,
    regions: Vec<String>,
    results: Vec<OperationResult>,
}

/// An in-process service-managed StackSet: one operation at a time
/// (`OperationInProgress` otherwise), each lasting `op_time` and then applied to exactly the
/// accounts its targets list (the engine always sends INTERSECTION with its accounts), every
/// call counted. A counter, not a fidelity model: the test bed's emulator plays AWS's rules.
pub struct MemStackSet {
    pub name: String,
    pub op_time: Duration,
    pub calls: CfnCalls,
    org: MemOrg,
    state: Mutex<SetState>,
}

impl MemStackSet {
    pub fn new(name: &str, org: MemOrg, op_time: Duration) -> Self {
        Self {
            name: name.into(),
            op_time,
            calls: CfnCalls::default(),
            org,
            state: Mutex::new((BTreeMap::new(), Vec::new())),
        }
    }

    /// Finishes the operations whose time is up, applying them.
    fn advance(&self) -> std::sync::MutexGuard<'_, SetState> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (instances, ops) = &mut *g;
        for o in ops.iter_mut().filter(|o| o.op.status == "RUNNING") {
            if o.started.elapsed() < self.op_time {
                continue;
            }
            for a in &o.accounts {
                let lineage = self.org.parent(a).map(|p| self.org.lineage(&p));
                let ou = lineage.and_then(|l| o.ous.iter().find(|t| l.contains(t)).cloned());
                for r in &o.regions {
                    let key = (a.clone(), r.clone());
                    match o.kind {
                        OpKind::Create | OpKind::Update => {
                            instances.insert(
                                key,
                                StackInstance {
                                    account: a.clone(),
                                    region: r.clone(),
                                    status: InstanceStatus::Current,
                                    detailed: DetailedStatus::Succeeded,
                                    status_reason: None,
                                    drift: DriftStatus::NotChecked,
                                    ou: ou.clone().or_else(|| o.ous.first().cloned()),
                                },
                            );
                        }
                        OpKind::Delete => {
                            instances.remove(&key);
                        }
                        OpKind::DetectDrift => {}
                    }
                    o.results.push(OperationResult {
                        account: a.clone(),
                        region: r.clone(),
                        status: "SUCCEEDED".into(),
                        status_reason: None,
                    });
                }
            }
            o.op.status = "SUCCEEDED".into();
            o.op.ended = Some(rfc3339(std::time::SystemTime::now()));
            o.op.duration_secs = Some(o.started.elapsed().as_secs_f64());
        }
        g
    }

    /// Moves every operation's start `by` into the past (as if it had run that long ago).
    pub fn backdate(&self, by: Duration) {
        let mut g = self.advance();
        for o in g.1.iter_mut() {
            let shift = |t: &Option<String>| {
                t.as_deref()
                    .and_then(parse_rfc3339)
                    .map(|t| rfc3339(t - by))
            };
            o.op.started = shift(&o.op.started);
            o.op.ended = shift(&o.op.ended);
        }
    }

    /// The number of instances now, not counted.
    pub fn instance_count(&self) -> usize {
        self.advance().0.len()
    }

    /// The accounts with an instance now, not counted.
    pub fn enrolled(&self) -> BTreeSet<AccountId> {
        self.advance().0.keys().map(|(a, _)| a.clone()).collect()
    }

    /// Operations started so far (drift detections included), oldest first: (action, accounts).
    pub fn operations(&self) -> Vec<(String, usize)> {
        self.advance()
            .1
            .iter()
            .map(|o| (o.op.action.clone(), o.accounts.len()))
            .collect()
    }

    fn check(&self, name: &str) -> AwsResult<()> {
        if name == self.name {
            Ok(())
        } else {
            Err(AwsError::NotFound {
                what: format!("StackSet {name}"),
            })
        }
    }
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    org_events::time::format_rfc3339(d)
}

fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    org_events::time::parse_rfc3339(text)
        .map(|s| std::time::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0)))
}

fn pages(n: usize) -> u32 {
    n.div_ceil(CFN_PAGE).max(1) as u32
}

impl StackSetApi for MemStackSet {
    /// The benchmarks run as the management account: one StackSet, whoever asks.
    fn set_call_as(&self, _: shared::core::CallAs) {}
    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        self.calls
            .describe_stack_set
            .fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        Ok(StackSetInfo {
            name: name.into(),
            arn: None,
            service_managed: true,
            auto_deployment: false,
            status: "ACTIVE".into(),
        })
    }

    async fn instances(&self, name: &str) -> AwsResult<Vec<StackInstance>> {
        self.check(name)?;
        let all: Vec<StackInstance> = self.advance().0.values().cloned().collect();
        self.calls
            .list_stack_instances
            .fetch_add(pages(all.len()), Ordering::Relaxed);
        Ok(all)
    }

    async fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> AwsResult<Vec<StackInstance>> {
        self.check(name)?;
        self.calls
            .list_stack_instances
            .fetch_add(accounts.len() as u32, Ordering::Relaxed);
        let want: BTreeSet<&AccountId> = accounts.iter().collect();
        Ok(self
            .advance()
            .0
            .values()
            .filter(|i| want.contains(&i.account))
            .cloned()
            .collect())
    }

    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        self.calls.start.fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        let mut g = self.advance();
        if g.1.iter().any(|o| o.op.id == operation_id) {
            return Err(AwsError::OperationIdExists);
        }
        if g.1.iter().any(|o| o.op.is_active()) {
            return Err(AwsError::OperationInProgress);
        }
        let action = match kind {
            OpKind::Create => "CREATE",
            OpKind::Update => "UPDATE",
            OpKind::Delete => "DELETE",
            OpKind::DetectDrift => "DETECT_DRIFT",
        };
        g.1.push(MemOp {
            op: Operation {
                id: operation_id.into(),
                action: action.into(),
                status: "RUNNING".into(),
                status_reason: None,
                started: Some(rfc3339(std::time::SystemTime::now())),
                ended: None,
                duration_secs: None,
            },
            started: std::time::Instant::now(),
            kind,
            accounts: targets.accounts.clone(),
            ous: targets.ous.clone(),
            regions: regions.to_vec(),
            results: Vec::new(),
        });
        Ok(operation_id.into())
    }

    async fn operation(&self, name: &str, id: &str) -> AwsResult<Operation> {
        self.calls
            .describe_operation
            .fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        self.advance()
            .1
            .iter()
            .find(|o| o.op.id == id)
            .map(|o| o.op.clone())
            .ok_or_else(|| AwsError::NotFound {
                what: format!("operation {id}"),
            })
    }

    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        self.calls.list_operations.fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        Ok(self
            .advance()
            .1
            .iter()
            .rev()
            .take(max.max(0) as usize)
            .map(|o| o.op.clone())
            .collect())
    }

    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        self.check(name)?;
        let results = self
            .advance()
            .1
            .iter()
            .find(|o| o.op.id == id)
            .map(|o| o.results.clone())
            .unwrap_or_default();
        self.calls
            .list_operation_results
            .fetch_add(pages(results.len()), Ordering::Relaxed);
        Ok(results)
    }
}

/// A tiny deterministic generator (no dependency needed).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The planner's inputs at organization scale: `n` desired accounts in one region; instances
/// for 95% of them with a mix of statuses (most CURRENT; some FAILED with earlier attempts,
/// OUTDATED, drifted, RUNNING, skipped because suspended); 300 instances of accounts no longer
/// in scope.
pub fn plan_inputs(
    n: usize,
) -> (
    Desired,
    Vec<StackInstance>,
    BTreeMap<AccountId, u32>,
    PlanPolicy,
) {
    let id = |i: usize| {
        AccountId::parse(&format!("{:012}", 100_000_000_000u64 + i as u64 * 7919))
            .expect("12 digits")
    };
    let region = "us-east-1".to_owned();
    let desired = Desired {
        accounts: (0..n).map(id).collect::<BTreeSet<_>>(),
        regions: [region.clone()].into(),
    };
    let mut rng = Lcg(7);
    let mut attempts = BTreeMap::new();
    let mut instances = Vec::with_capacity(n);
    let existing = n * 95 / 100;
    for i in (0..existing).chain(n + 1000..n + 1300) {
        let roll = rng.below(1000);
        let (status, detailed, drift) = match roll {
            0..=19 => (
                InstanceStatus::Outdated,
                DetailedStatus::Failed,
                DriftStatus::NotChecked,
            ),
            20..=29 => (
                InstanceStatus::Outdated,
                DetailedStatus::Succeeded,
                DriftStatus::InSync,
            ),
            30..=39 => (
                InstanceStatus::Current,
                DetailedStatus::Succeeded,
                DriftStatus::Drifted,
            ),
            40..=44 => (
                InstanceStatus::Outdated,
                DetailedStatus::Running,
                DriftStatus::NotChecked,
            ),
            45..=69 => (
                InstanceStatus::Outdated,
                DetailedStatus::SkippedSuspendedAccount,
                DriftStatus::NotChecked,
            ),
            _ => (
                InstanceStatus::Current,
                DetailedStatus::Succeeded,
                DriftStatus::InSync,
            ),
        };
        if detailed == DetailedStatus::Failed {
            attempts.insert(id(i), rng.below(5) as u32);
        }
        instances.push(StackInstance {
            account: id(i),
            region: region.clone(),
            status,
            detailed,
            status_reason: (detailed == DetailedStatus::Failed)
                .then(|| "ResourceLogicalId:PortIntegrationRole, ResourceStatusReason: Role already exists".into()),
            drift,
            ou: Some(format!("ou-abcd-{:08}", i % 1000)),
        });
    }
    (desired, instances, attempts, PlanPolicy::default())
}

/// `(ratio, verdict)` of a figure against a target where lower is better.
pub fn verdict(measured: f64, target: f64) -> (String, &'static str) {
    let ratio = measured / target;
    (
        format!("{ratio:.2}"),
        if measured <= target { "met" } else { "MISSED" },
    )
}

/// The median of some durations, in milliseconds.
pub fn median_ms(v: &mut [Duration]) -> f64 {
    v.sort();
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    };
    mid.as_secs_f64() * 1e3
}

/// One line about the machine and its load, for the tables.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}, load average {}", load())
}

/// `/proc/loadavg`'s first three fields.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs a command to completion and returns (exit status, wall time, peak RSS in KiB, stdout).
///
/// The peak RSS is `ru_maxrss` from `wait4`, taken by a small helper process (this binary
/// re-executed with `--rss-of`, see [`rss_helper`]) rather than by the caller: Linux carries
/// the high-water RSS of the address space a process replaces at `exec` into its `maxrss`, and
/// a child spawned by a big process (vfork/posix_spawn share its memory) would report the
/// parent's peak instead of its own.
pub fn run_measured(
    cmd: &mut std::process::Command,
) -> std::io::Result<(i32, Duration, u64, Vec<u8>)> {
    use std::io::Read;
    let me = std::env::current_exe()?;
    let mut wrapped = std::process::Command::new(me);
    wrapped
        .arg("--rss-of")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let start = std::time::Instant::now();
    let mut child = wrapped
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut out = Vec::new();
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t = std::thread::spawn(move || {
        let mut err = Vec::new();
        let _ = se.read_to_end(&mut err);
        err
    });
    so.read_to_end(&mut out)?;
    let err = String::from_utf8_lossy(&t.join().unwrap_or_default()).into_owned();
    let status = child.wait()?;
    let wall = start.elapsed();
    let code = status.code().unwrap_or(-1);
    if code != 0 {
        eprintln!("{err}");
    }
    let rss = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("BENCH_MAXRSS_KIB "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok((code, wall, rss, out))
}

/// The `--rss-of PROGRAM ARGS...` mode of a bench binary: runs the program (same stdio and
/// environment), waits for it with `wait4`, prints `BENCH_MAXRSS_KIB <n>` on stderr and
/// returns its exit code. Returns `None` when the process was not started in this mode. Call
/// it first thing in `main`.
pub fn rss_helper() -> Option<i32> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a == "--rss-of") != Some(true) {
        return None;
    }
    // Reaped below by `wait4`, which std cannot do (it would discard the rusage).
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(&args[2])
        .args(&args[3..])
        .spawn()
        .expect("spawn the measured program");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for the child we spawned and have not
    // waited for (std's Child is never waited on here, so it does not reap it first).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert!(r == pid, "wait4: {}", std::io::Error::last_os_error());
    // Linux reports ru_maxrss in KiB.
    eprintln!("BENCH_MAXRSS_KIB {}", ru.ru_maxrss);
    Some(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    })
}
