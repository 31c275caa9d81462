//! The reconcile engine both functions and the CLI run: read the organization and the
//! StackSet as they are now, plan, apply at most one operation of each kind, and report.
//!
//! Level-triggered: nothing here depends on why it was called. Every wait has a deadline;
//! when it comes, the engine hands back what it is waiting for instead of guessing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::core::{
    advise, expand, fit_ous, is_execution_role_denied, oidc_reuse, plan, plan_reaching,
    reuse_oidc_note, AccountId, AccountScope, AccountState, Acted, Batch, Desired, ExpandError,
    Expansion, InstanceStatus, LeavePolicy, OrgTree, PlanPolicy, ReconcilePlan, Scope, ScopeChange,
    StackInstance, TargetId, MAX_OUS_PER_OPERATION, REUSE_OIDC_OVERRIDE,
};
use crate::ports::{AwsError, Clock, OpKind, OrganizationsApi, StackSetApi, StackSetInfo, Targets};
use crate::read::{read_accounts, read_scope, ReadError, ReadStats, DEFAULT_CONCURRENCY};

/// Operation IDs this project starts begin with this.
pub const OP_PREFIX: &str = "orgscope";
/// Operation IDs of runs that are a change the user made (a custom-resource Create or
/// Update) begin with this: failed attempts are counted from the newest such operation on.
pub const USER_OP_PREFIX: &str = "orgscope-user";
/// Up to this many accounts of unknown state are looked up one by one (`DescribeAccount`);
/// more, and the whole organization is read from the root instead (pages of 20).
const DESCRIBE_ONE_BY_ONE: usize = 40;
/// Drift detections begin with this: the org-events function starts one at the end of each
/// scheduled run, after its reconcile, so the newest one tells when the last scheduled
/// re-check ran.
pub const DRIFT_OP_PREFIX: &str = "orgscope-drift-";

/// Operations that reuse an existing OIDC provider (an `UpdateStackInstances` with the
/// override `CreateOIDCProvider=false`) carry this in their ID: `orgscope-reuse-oidc-<hash>`,
/// or `orgscope-user-reuse-oidc-<hash>` in a custom-resource run. `orgscope status` finds the
/// accounts that reuse a provider through it.
pub const REUSE_OIDC_LABEL: &str = "reuse-oidc";

/// The operation made accounts reuse their existing OIDC provider.
pub fn is_oidc_reuse(op: &crate::ports::Operation) -> bool {
    op.id.starts_with(OP_PREFIX)
        && op.action == "UPDATE"
        && op.id.contains(&format!("-{REUSE_OIDC_LABEL}-"))
}

/// The operation was started by this project's scheduled re-check.
pub fn is_scheduled_check(op: &crate::ports::Operation) -> bool {
    op.id.starts_with(DRIFT_OP_PREFIX)
}

/// The operation is a change (create, update, delete) this project made.
pub fn is_own_change(op: &crate::ports::Operation) -> bool {
    op.id.starts_with(OP_PREFIX) && matches!(op.action.as_str(), "CREATE" | "UPDATE" | "DELETE")
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum EngineError {
    #[error(
        "StackSet `{name}` does not exist in this region. It is created by this \
         stack's template (resource PortStackSet); check StackSetName, and ManagementAccountId \
         (empty when the stack is deployed in the management account; the management \
         account's ID when it is deployed in a delegated administrator)."
    )]
    StackSetMissing { name: String },
    #[error(
        "StackSet `{name}` uses self-managed permissions. This integration needs a \
         service-managed StackSet (PermissionModel SERVICE_MANAGED), which deploys through AWS \
         Organizations; use the StackSet this stack creates."
    )]
    SelfManaged { name: String },
    #[error("{0}")]
    Mode(#[from] crate::core::ModeError),
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("{0}")]
    Expand(#[from] ExpandError),
    #[error("{0}")]
    Aws(#[from] AwsError),
}

/// Engine tuning.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub concurrency: usize,
    pub poll_initial: Duration,
    pub poll_max: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            poll_initial: Duration::from_millis(500),
            poll_max: Duration::from_secs(10),
        }
    }
}

/// What to reconcile.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub scope: &'a Scope,
    pub stack_set: &'a str,
    pub regions: &'a BTreeSet<String>,
    pub policy: PlanPolicy,
    /// Makes operation IDs deterministic: the same seed and plan give the same ID, so a
    /// repeated delivery does not start a second operation.
    pub seed: &'a str,
    /// Stop waiting at this instant and hand back what is still running.
    pub deadline: Instant,
    /// Operation kinds this request already ran (carried over across invocations).
    pub done_kinds: &'a [OpKind],
    /// This run is a change the user made (a custom-resource Create or Update): earlier
    /// failed attempts are forgotten, so failed accounts are tried again, and later runs
    /// count attempts from this run's operations on.
    pub user_change: bool,
}

/// One operation this reconcile started or waited on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    pub kind: OpKind,
    pub id: String,
    pub accounts: Vec<AccountId>,
    pub status: String,
}

/// An account that did not end as the scope wants: a desired account whose instance is not
/// CURRENT, or an account that should have lost the role and whose instance remains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFailure {
    pub account: AccountId,
    pub region: String,
    pub reason: String,
    pub advice: String,
}

/// How the reason of an account that should have lost the role begins.
const LOST_ROLE: &str = "should have lost Port's role";

impl AccountFailure {
    /// An account the scope wants that lacks Port's role only because its StackSets execution
    /// role is denied there (a service control policy, or its setup not finished:
    /// [`is_execution_role_denied`]): it is not ready yet, the scheduled run retries it without
    /// counting an attempt, and it gets the role once the deny lifts. Never an account that
    /// should have lost the role: a role left where the scope excludes it is no wait.
    pub fn awaits_account(&self) -> bool {
        !self.reason.starts_with(LOST_ROLE) && is_execution_role_denied(&self.reason)
    }
}

/// The outcome of one reconcile pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub expansion: Expansion,
    pub plan: ReconcilePlan,
    pub operations: Vec<OpRecord>,
    pub failures: Vec<AccountFailure>,
    pub read_stats: ReadStats,
}

impl Report {
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }

    /// The accounts this pass enrolled, withdrew, failed or repaired (the definitions are
    /// `core::change`'s): from the plan, the operations that ended, and the failures.
    pub fn scope_change(&self) -> ScopeChange {
        self.change_with(None)
    }

    /// The same, for [`Engine::remove_all`]'s report: every account leaves because the
    /// integration is removed.
    pub fn removal_change(&self) -> ScopeChange {
        self.change_with(Some(
            "the integration's stack is being deleted, so every account leaves the scope",
        ))
    }

    fn change_with(&self, why_out: Option<&str>) -> ScopeChange {
        let mut acted = Acted::default();
        for op in &self.operations {
            let into = match op.kind {
                OpKind::Create => &mut acted.created,
                OpKind::Update => &mut acted.updated,
                OpKind::Delete => &mut acted.deleted,
                OpKind::DetectDrift => continue,
            };
            into.extend(op.accounts.iter().cloned());
        }
        let failed: BTreeMap<AccountId, String> = self
            .failures
            .iter()
            .map(|f| (f.account.clone(), f.advice.clone()))
            .collect();
        ScopeChange::of_pass(&self.expansion, &self.plan, &acted, &failed, why_out)
    }
}

/// Either finished, or an operation is still running at the deadline.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(Box<Report>),
    Pending {
        operation: OpRecord,
        done_kinds: Vec<OpKind>,
    },
}

pub struct Engine<'a, O, S, C> {
    pub org: &'a O,
    pub stacksets: &'a S,
    pub clock: &'a C,
    pub config: EngineConfig,
}

enum Waited {
    Finished(String),
    StillRunning(String),
}

/// An operation this pass wanted: ended, still running at the deadline, or not started
/// because another operation still held the StackSet at the deadline.
enum Ran {
    Finished(OpRecord),
    Running(OpRecord),
    Blocked(OpRecord),
}

impl<O: OrganizationsApi, S: StackSetApi, C: Clock> Engine<'_, O, S, C> {
    /// The StackSet must exist and be service-managed.
    pub async fn check_stack_set(&self, name: &str) -> Result<StackSetInfo, EngineError> {
        match self.stacksets.describe(name).await {
            Ok(info) if !info.service_managed => {
                Err(EngineError::SelfManaged { name: name.into() })
            }
            Ok(info) => Ok(info),
            Err(AwsError::NotFound { .. }) => {
                Err(EngineError::StackSetMissing { name: name.into() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the organization and expands the scope.
    pub async fn expand(&self, scope: &Scope) -> Result<(Expansion, ReadStats), EngineError> {
        let (tree, stats) = read_scope(self.org, scope, self.config.concurrency).await?;
        Ok((expand(scope, &tree)?, stats))
    }

    /// Reads what the scope's rules need about `accounts` only (not the whole scope), and
    /// decides them: the expansion holds those of them that are in the organization.
    pub async fn expand_accounts(
        &self,
        scope: &Scope,
        accounts: &[AccountId],
    ) -> Result<(Expansion, ReadStats), EngineError> {
        let (tree, stats) = read_accounts(self.org, scope, accounts).await?;
        Ok((expand(scope, &tree)?, stats))
    }

    /// Waits until no operation runs on the StackSet. `Some(op)` if the deadline came first.
    pub async fn wait_idle(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<OpRecord>, EngineError> {
        loop {
            let recent = self.stacksets.recent_operations(name, 5).await?;
            let Some(active) = recent.into_iter().find(|o| o.is_active()) else {
                return Ok(None);
            };
            tracing::info!(operation_id = %active.id, status = %active.status, "waiting for a running StackSet operation");
            match self.wait_op(name, &active.id, deadline).await? {
                Waited::Finished(_) => continue,
                Waited::StillRunning(status) => {
                    return Ok(Some(OpRecord {
                        kind: kind_of(&active.action),
                        id: active.id,
                        accounts: vec![],
                        status,
                    }))
                }
            }
        }
    }

    async fn wait_op(
        &self,
        name: &str,
        id: &str,
        deadline: Instant,
    ) -> Result<Waited, EngineError> {
        let mut delay = self.config.poll_initial;
        loop {
            let op = self.stacksets.operation(name, id).await?;
            if !op.is_active() {
                return Ok(Waited::Finished(op.status));
            }
            if self.clock.now() + delay >= deadline {
                return Ok(Waited::StillRunning(op.status));
            }
            self.clock.sleep(delay).await;
            delay = (delay * 2).min(self.config.poll_max);
        }
    }

    /// Starts one operation for `batch` and waits for it to end, or for the deadline.
    async fn run_op(
        &self,
        stack_set: &str,
        deadline: Instant,
        kind: OpKind,
        targets: &Targets,
        batch: &Batch,
        op_id: &str,
    ) -> Result<Ran, EngineError> {
        let id = match self
            .start(stack_set, deadline, kind, targets, &batch.regions, op_id)
            .await?
        {
            Ok(id) => id,
            Err(busy) => return Ok(Ran::Blocked(busy)),
        };
        tracing::info!(operation_id = %id, kind = kind.as_str(), accounts = batch.accounts.len(), "started StackSet operation");
        let record = OpRecord {
            kind,
            id: id.clone(),
            accounts: batch.accounts.clone(),
            status: "RUNNING".into(),
        };
        Ok(match self.wait_op(stack_set, &id, deadline).await? {
            Waited::Finished(status) => Ran::Finished(OpRecord { status, ..record }),
            Waited::StillRunning(status) => Ran::Running(OpRecord { status, ..record }),
        })
    }

    /// Starts an operation, waiting out operations in progress; an ID that already exists
    /// means this very request started it before: wait on it instead of starting another.
    async fn start(
        &self,
        stack_set: &str,
        deadline: Instant,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        op_id: &str,
    ) -> Result<Result<String, OpRecord>, EngineError> {
        loop {
            match self
                .stacksets
                .start(stack_set, kind, targets, regions, op_id)
                .await
            {
                Ok(id) => return Ok(Ok(id)),
                Err(AwsError::OperationIdExists) => {
                    tracing::info!(operation_id = op_id, "operation already started by an earlier delivery of this request; waiting on it");
                    return Ok(Ok(op_id.to_owned()));
                }
                Err(AwsError::OperationInProgress) => {
                    tracing::info!(
                        kind = kind.as_str(),
                        "another StackSet operation is in progress; waiting"
                    );
                    if let Some(busy) = self.wait_idle(stack_set, deadline).await? {
                        return Ok(Err(busy));
                    }
                    if self.clock.now() >= deadline {
                        return Ok(Err(OpRecord {
                            kind,
                            id: op_id.into(),
                            accounts: vec![],
                            status: "NOT_STARTED".into(),
                        }));
                    }
                    // A concurrent operation may have finished just now, or started between
                    // our look and our call: pause briefly before trying again.
                    self.clock.sleep(self.config.poll_initial).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One reconcile pass: expand, plan, apply (one operation per batch; batches split at
    /// 50 OUs), verify every account's outcome.
    pub async fn reconcile(&self, req: &Request<'_>) -> Result<Outcome, EngineError> {
        self.reconcile_in(req, None).await
    }

    /// The same pass for `accounts` only: what the scope's rules say about them and their
    /// instances, read now (`Engine::expand_accounts`, `StackSetApi::instances_of`), planned
    /// by the same planner. For an event that concerns a few accounts: it costs a few calls
    /// per account, not a read of the whole scope.
    pub async fn reconcile_accounts(
        &self,
        req: &Request<'_>,
        accounts: &[AccountId],
    ) -> Result<Outcome, EngineError> {
        self.reconcile_in(req, Some(accounts)).await
    }

    /// What a pass would plan now, without waiting or acting: the scope's expansion (or what
    /// its rules say about `only` these accounts) against the instances (theirs), by the same
    /// planner. A preview: earlier failed attempts and reachability are not looked up.
    pub async fn preview(
        &self,
        scope: &Scope,
        stack_set: &str,
        regions: &BTreeSet<String>,
        policy: &PlanPolicy,
        only: Option<&[AccountId]>,
    ) -> Result<ReconcilePlan, EngineError> {
        let (expansion, _) = match only {
            None => self.expand(scope).await?,
            Some(accounts) => self.expand_accounts(scope, accounts).await?,
        };
        let instances = match only {
            None => self.stacksets.instances(stack_set).await?,
            Some(accounts) => self.stacksets.instances_of(stack_set, accounts).await?,
        };
        let desired = Desired {
            accounts: expansion.account_ids(),
            regions: regions.clone(),
        };
        Ok(plan(&desired, &instances, &BTreeMap::new(), policy))
    }

    async fn reconcile_in(
        &self,
        req: &Request<'_>,
        only: Option<&[AccountId]>,
    ) -> Result<Outcome, EngineError> {
        if let Some(busy) = self.wait_idle(req.stack_set, req.deadline).await? {
            return Ok(Outcome::Pending {
                operation: busy,
                done_kinds: req.done_kinds.to_vec(),
            });
        }
        let (tree, read_stats) = match only {
            None => read_scope(self.org, req.scope, self.config.concurrency).await?,
            Some(accounts) => read_accounts(self.org, req.scope, accounts).await?,
        };
        let expansion = expand(req.scope, &tree)?;
        let desired = Desired {
            accounts: expansion.account_ids(),
            regions: req.regions.clone(),
        };
        let instances = match self
            .settled_instances(req.stack_set, req.deadline, only)
            .await?
        {
            Ok(i) => i,
            Err(busy) => {
                return Ok(Outcome::Pending {
                    operation: busy,
                    done_kinds: req.done_kinds.to_vec(),
                })
            }
        };
        // Under RETAIN, leaving accounts keep their instances whatever their state: no need
        // to look their state up.
        let leaving: BTreeSet<AccountId> = if req.policy.on_leave == LeavePolicy::Retain {
            BTreeSet::new()
        } else {
            instances
                .iter()
                .filter(|i| !desired.accounts.contains(&i.account))
                .map(|i| i.account.clone())
                .collect()
        };
        let unreachable = self.unreachable(&leaving, &tree).await?;
        let attempts = if req.user_change {
            BTreeMap::new()
        } else if instances
            .iter()
            .any(|i| i.needs_retry() || i.is_inoperable())
        {
            self.failed_attempts(req.stack_set).await?
        } else {
            BTreeMap::new()
        };
        let mut the_plan =
            plan_reaching(&desired, &instances, &attempts, &req.policy, &unreachable);
        let root = match tree.nodes.values().find(|n| n.parent.is_none()) {
            Some(r) => r.id.clone(),
            None => self.root().await?,
        };
        self.fit(&mut the_plan, req.scope, &tree, &instances, &root, &[]);
        tracing::info!(
            desired = desired.accounts.len(),
            instances = instances.len(),
            unreachable = unreachable.len(),
            plan = %the_plan.summary(),
            "reconcile plan"
        );

        log_reuse(&the_plan.reuse_oidc);
        // Reuse operations AWS refused (the StackSet has no CreateOIDCProvider parameter to
        // override, say): their accounts stay failed and are reported with AWS's answer.
        let mut rejected: Vec<(Vec<AccountId>, String)> = Vec::new();
        let mut done_kinds = req.done_kinds.to_vec();
        let mut operations = Vec::new();
        let steps = steps(&the_plan);
        for (n, (step, batch)) in steps.iter().enumerate() {
            let kind = step.kind();
            if req.done_kinds.contains(&kind) {
                continue;
            }
            let targets = targets_for(*step, batch);
            let op_id = op_id(req.seed, *step, batch, req.user_change);
            let ran = match self
                .run_op(req.stack_set, req.deadline, kind, &targets, batch, &op_id)
                .await
            {
                Err(EngineError::Aws(AwsError::Validation(why))) if *step == Step::ReuseOidc => {
                    rejected.push((batch.accounts.clone(), why));
                    continue;
                }
                r => r?,
            };
            // A kind is done once its last batch has started: a re-invocation then does not
            // start it again, but does start the batches of it not yet started.
            let last_of_kind = !steps[n + 1..].iter().any(|(s, _)| s.kind() == kind);
            if !matches!(ran, Ran::Blocked(_)) && last_of_kind && !done_kinds.contains(&kind) {
                done_kinds.push(kind);
            }
            match ran {
                Ran::Finished(op) => operations.push(op),
                Ran::Running(operation) | Ran::Blocked(operation) => {
                    return Ok(Outcome::Pending {
                        operation,
                        done_kinds,
                    });
                }
            }
        }

        let mut failures = if operations.is_empty() && the_plan.is_noop() {
            self.failures(req.stack_set, &desired, &instances, &[], &the_plan)
                .await?
        } else {
            let mut after = match self
                .settled_instances(req.stack_set, req.deadline, only)
                .await?
            {
                Ok(i) => i,
                Err(busy) => {
                    return Ok(Outcome::Pending {
                        operation: busy,
                        done_kinds,
                    })
                }
            };
            // Accounts this pass's operations found holding Port's OIDC provider already: one
            // more operation per batch of them, reusing it (never twice for one account).
            let tried: BTreeSet<&AccountId> = the_plan
                .reuse_oidc
                .iter()
                .flat_map(|b| &b.accounts)
                .collect();
            let mut repair = ReconcilePlan {
                reuse_oidc: oidc_reuse(&desired, &after)
                    .into_iter()
                    .map(|mut b| {
                        b.accounts.retain(|a| !tried.contains(a));
                        b
                    })
                    .filter(|b| !b.accounts.is_empty())
                    .collect(),
                ..ReconcilePlan::default()
            };
            if !repair.is_noop() {
                self.fit(&mut repair, req.scope, &tree, &after, &root, &[]);
                match self.run_all(req, &repair, &mut rejected).await? {
                    Ok(ran) => operations.extend(ran),
                    Err(operation) => {
                        return Ok(Outcome::Pending {
                            operation,
                            done_kinds,
                        })
                    }
                }
                the_plan.reuse_oidc.extend(repair.reuse_oidc);
                after = match self
                    .settled_instances(req.stack_set, req.deadline, only)
                    .await?
                {
                    Ok(i) => i,
                    Err(busy) => {
                        return Ok(Outcome::Pending {
                            operation: busy,
                            done_kinds,
                        })
                    }
                };
            }
            self.failures(req.stack_set, &desired, &after, &operations, &the_plan)
                .await?
        };
        for (accounts, why) in &rejected {
            tracing::warn!(accounts = ?accounts, why = %why, "AWS refused the override CreateOIDCProvider=false");
            for f in failures
                .iter_mut()
                .filter(|f| accounts.contains(&f.account))
            {
                f.advice = format!(
                    "{} Reusing it with the override CreateOIDCProvider=false was refused by \
                     AWS: {why}",
                    f.advice
                );
            }
        }
        Ok(Outcome::Done(Box::new(Report {
            expansion,
            plan: the_plan,
            operations,
            failures,
            read_stats,
        })))
    }

    /// Runs every operation of `p` in order (here: the reuse of existing OIDC providers this
    /// pass's own operations called for). `Err` with the operation still running, or blocked,
    /// at the deadline.
    /// A reuse AWS refuses (`Validation`) is added to `rejected` instead of failing the pass.
    async fn run_all(
        &self,
        req: &Request<'_>,
        p: &ReconcilePlan,
        rejected: &mut Vec<(Vec<AccountId>, String)>,
    ) -> Result<Result<Vec<OpRecord>, OpRecord>, EngineError> {
        log_reuse(&p.reuse_oidc);
        let mut out = Vec::new();
        for (step, batch) in steps(p) {
            let targets = targets_for(step, batch);
            let op_id = op_id(req.seed, step, batch, req.user_change);
            match self
                .run_op(
                    req.stack_set,
                    req.deadline,
                    step.kind(),
                    &targets,
                    batch,
                    &op_id,
                )
                .await
            {
                Ok(Ran::Finished(op)) => out.push(op),
                Ok(Ran::Running(op) | Ran::Blocked(op)) => return Ok(Err(op)),
                Err(EngineError::Aws(AwsError::Validation(why))) if step == Step::ReuseOidc => {
                    rejected.push((batch.accounts.clone(), why));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Ok(out))
    }

    /// Removes every stack instance of the StackSet (custom resource Delete). The
    /// organization is read only for the state of the instances' accounts: reachable ones are
    /// deleted, unreachable ones (not ACTIVE, or gone) dropped with `RetainStacks`.
    /// `fallback_ous` are listed for instances that recorded no OU.
    pub async fn remove_all(
        &self,
        stack_set: &str,
        fallback_ous: &[String],
        seed: &str,
        deadline: Instant,
    ) -> Result<Outcome, EngineError> {
        if let Some(busy) = self.wait_idle(stack_set, deadline).await? {
            return Ok(Outcome::Pending {
                operation: busy,
                done_kinds: vec![],
            });
        }
        let instances = self.stacksets.instances(stack_set).await?;
        let mut the_plan = ReconcilePlan::default();
        let mut operations = Vec::new();
        if !instances.is_empty() {
            let accounts: BTreeSet<AccountId> =
                instances.iter().map(|i| i.account.clone()).collect();
            let unreachable = self.unreachable(&accounts, &OrgTree::default()).await?;
            the_plan = plan_reaching(
                &Desired::default(),
                &instances,
                &BTreeMap::new(),
                &PlanPolicy::default(),
                &unreachable,
            );
            let root = self.root().await?;
            let none = Scope {
                targets: BTreeSet::new(),
                mode: AccountScope::All,
                accounts: BTreeSet::new(),
            };
            self.fit(
                &mut the_plan,
                &none,
                &OrgTree::default(),
                &instances,
                &root,
                fallback_ous,
            );
            tracing::info!(plan = %the_plan.summary(), "remove all stack instances");
            for (step, batch) in steps(&the_plan) {
                let targets = targets_for(step, batch);
                let op_id = op_id(seed, step, batch, false);
                match self
                    .run_op(stack_set, deadline, step.kind(), &targets, batch, &op_id)
                    .await?
                {
                    Ran::Finished(op) => operations.push(op),
                    Ran::Running(operation) | Ran::Blocked(operation) => {
                        return Ok(Outcome::Pending {
                            operation,
                            done_kinds: vec![],
                        })
                    }
                }
            }
        }
        let left = self.stacksets.instances(stack_set).await?;
        let reasons = self.result_reasons(stack_set, &operations).await?;
        let failures = left
            .iter()
            .map(|i| {
                let reason = reasons
                    .get(&(i.account.clone(), i.region.clone()))
                    .cloned()
                    .or_else(|| i.status_reason.clone())
                    .unwrap_or_else(|| "stack instance could not be deleted".into());
                AccountFailure {
                    account: i.account.clone(),
                    region: i.region.clone(),
                    advice: advise(i.account.as_str(), &reason),
                    reason,
                }
            })
            .collect();
        Ok(Outcome::Done(Box::new(Report {
            expansion: Expansion {
                organization_id: String::new(),
                management_account_id: None,
                mode: AccountScope::All,
                included: vec![],
                skipped: vec![],
            },
            plan: the_plan,
            operations,
            failures,
            read_stats: ReadStats::default(),
        })))
    }

    /// The organization's root ID (`ListRoots`).
    async fn root(&self) -> Result<String, EngineError> {
        self.org
            .roots()
            .await?
            .into_iter()
            .next()
            .map(|r| r.id)
            .ok_or_else(|| {
                EngineError::Aws(AwsError::NotFound {
                    what: "the organization's root".into(),
                })
            })
    }

    /// Of `accounts`, those StackSets cannot reach: not ACTIVE, or no longer in the
    /// organization. `known` gives the state of accounts already read. Public for
    /// `orgscope plan --stack-set-name`, whose preview must plan as a reconcile would.
    pub async fn unreachable(
        &self,
        accounts: &BTreeSet<AccountId>,
        known: &OrgTree,
    ) -> Result<BTreeSet<AccountId>, EngineError> {
        let mut out = BTreeSet::new();
        let mut unknown = Vec::new();
        for a in accounts {
            match known.accounts.get(a) {
                Some(acct) if acct.state != AccountState::Active => {
                    out.insert(a.clone());
                }
                Some(_) => {}
                None => unknown.push(a.clone()),
            }
        }
        if unknown.len() > DESCRIBE_ONE_BY_ONE {
            let root = self.root().await?;
            let whole = Scope {
                targets: [TargetId::parse(&root).map_err(|e| {
                    EngineError::Aws(AwsError::Validation(format!("root ID {root}: {e}")))
                })?]
                .into_iter()
                .collect(),
                mode: AccountScope::All,
                accounts: BTreeSet::new(),
            };
            let (tree, _) = read_scope(self.org, &whole, self.config.concurrency).await?;
            for a in unknown {
                match tree.accounts.get(&a) {
                    Some(acct) if acct.state == AccountState::Active => {}
                    _ => {
                        out.insert(a);
                    }
                }
            }
        } else {
            for a in unknown {
                match self.org.describe_account(&a).await {
                    Ok((_, AccountState::Active)) => {}
                    Ok(_) | Err(AwsError::NotFound { .. }) => {
                        out.insert(a);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(out)
    }

    /// Sets each batch's OUs and splits batches that would list more than 50. Create lists
    /// the target that covers each account; update, delete and drop list the root and each
    /// instance's recorded OU, which reaches the account under both readings of a listed OU
    /// (through the organization now, or through the recorded OU), the account filter
    /// (INTERSECTION with the batch's accounts) keeping it to exactly those accounts.
    fn fit(
        &self,
        p: &mut ReconcilePlan,
        scope: &Scope,
        tree: &OrgTree,
        instances: &[StackInstance],
        root: &str,
        fallback: &[String],
    ) {
        let mut covering: BTreeMap<AccountId, BTreeSet<String>> = BTreeMap::new();
        for b in &p.create {
            for a in &b.accounts {
                let t = tree
                    .accounts
                    .get(a)
                    .and_then(|acct| tree.covering_target(&acct.parent, &scope.targets))
                    .map_or_else(|| root.to_owned(), |t| t.as_str().to_owned());
                covering.insert(a.clone(), [t].into_iter().collect());
            }
        }
        let mut recorded: BTreeMap<AccountId, BTreeSet<String>> = BTreeMap::new();
        for i in instances {
            let e = recorded.entry(i.account.clone()).or_default();
            match &i.ou {
                Some(ou) => {
                    e.insert(ou.clone());
                }
                None => e.extend(fallback.iter().cloned()),
            }
        }
        let always = [root.to_owned()];
        let m = MAX_OUS_PER_OPERATION;
        p.create = fit_ous(std::mem::take(&mut p.create), &covering, &[], m);
        p.update = fit_ous(std::mem::take(&mut p.update), &recorded, &always, m);
        p.reuse_oidc = fit_ous(std::mem::take(&mut p.reuse_oidc), &recorded, &always, m);
        p.delete = fit_ous(std::mem::take(&mut p.delete), &recorded, &always, m);
        p.drop = fit_ous(std::mem::take(&mut p.drop), &recorded, &always, m);
    }

    /// The instances (all, or `only` these accounts') once no operation is working on them:
    /// an operation another caller started between our look and our read is waited out, then
    /// the list is read again.
    async fn settled_instances(
        &self,
        name: &str,
        deadline: Instant,
        only: Option<&[AccountId]>,
    ) -> Result<Result<Vec<StackInstance>, OpRecord>, EngineError> {
        let read = || async {
            match only {
                None => self.stacksets.instances(name).await,
                Some(accounts) => self.stacksets.instances_of(name, accounts).await,
            }
        };
        for _ in 0..5 {
            let instances = read().await?;
            if !instances.iter().any(StackInstance::is_busy) {
                return Ok(Ok(instances));
            }
            if let Some(busy) = self.wait_idle(name, deadline).await? {
                return Ok(Err(busy));
            }
        }
        Ok(Ok(read().await?))
    }

    /// Starts drift detection and returns without waiting: the next scheduled run repairs
    /// from its results (instances' drift status is that of the last finished detection).
    /// `None` when another operation holds the StackSet (detection is then left for a later
    /// run, never waited for).
    pub async fn start_drift_detection(
        &self,
        stack_set: &str,
        seed: &str,
    ) -> Result<Option<String>, EngineError> {
        let op_id = format!("{DRIFT_OP_PREFIX}{}", short_hash(&[seed]));
        let targets = Targets {
            ous: vec![],
            accounts: vec![],
            filter: "NONE".into(),
            retain_stacks: false,
            parameter_overrides: BTreeMap::new(),
        };
        match self
            .stacksets
            .start(stack_set, OpKind::DetectDrift, &targets, &[], &op_id)
            .await
        {
            Ok(id) => Ok(Some(id)),
            Err(AwsError::OperationIdExists) => Ok(Some(op_id)),
            Err(AwsError::OperationInProgress) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Failed attempts per account since the last change the user made: this project's
    /// operations, newest first, back to and including the newest custom-resource run's. A
    /// failure because the account's execution role is denied (a service control policy, or
    /// its setup not finished: [`is_execution_role_denied`]) is no attempt: the account was
    /// not ready, so waiting for it never spends the bound that gives an account up.
    async fn failed_attempts(&self, name: &str) -> Result<BTreeMap<AccountId, u32>, EngineError> {
        let mut out: BTreeMap<AccountId, u32> = BTreeMap::new();
        let ops = self.stacksets.recent_operations(name, 20).await?;
        for op in ops
            .iter()
            .filter(|o| {
                o.id.starts_with(OP_PREFIX)
                    && matches!(o.action.as_str(), "CREATE" | "UPDATE" | "DELETE")
            })
            .take(10)
        {
            let mut per_op: BTreeSet<AccountId> = BTreeSet::new();
            for r in self.stacksets.operation_results(name, &op.id).await? {
                let not_ready = r
                    .status_reason
                    .as_deref()
                    .is_some_and(is_execution_role_denied);
                if r.status == "FAILED" && !not_ready {
                    per_op.insert(r.account);
                }
            }
            for a in per_op {
                *out.entry(a).or_default() += 1;
            }
            if op.id.starts_with(USER_OP_PREFIX) {
                break;
            }
        }
        Ok(out)
    }

    /// Each (account, region)'s reason from the operations' per-account results, for the
    /// accounts that did not succeed.
    async fn result_reasons(
        &self,
        name: &str,
        ops: &[OpRecord],
    ) -> Result<BTreeMap<(AccountId, String), String>, EngineError> {
        let mut reasons = BTreeMap::new();
        for op in ops {
            for r in self.stacksets.operation_results(name, &op.id).await? {
                if r.status != "SUCCEEDED" {
                    let reason = r.status_reason.unwrap_or_else(|| {
                        format!("{} operation {} {}", op.kind.as_str(), op.id, r.status)
                    });
                    reasons.insert((r.account, r.region), reason);
                }
            }
        }
        Ok(reasons)
    }

    /// Every account that did not end as the scope wants. Desired: an instance CURRENT in
    /// every region. Not desired (and not retained by policy): no instance left, since an
    /// instance that remains means a role Port trusts remains. Every operation's per-account
    /// results are read (deletes too: with a failure tolerance a delete ends SUCCEEDED while
    /// accounts failed).
    async fn failures(
        &self,
        name: &str,
        desired: &Desired,
        instances: &[StackInstance],
        ops: &[OpRecord],
        the_plan: &ReconcilePlan,
    ) -> Result<Vec<AccountFailure>, EngineError> {
        let reasons = self.result_reasons(name, ops).await?;
        let have: BTreeMap<(&AccountId, &str), &StackInstance> = instances
            .iter()
            .map(|i| ((&i.account, i.region.as_str()), i))
            .collect();
        let mut out = Vec::new();
        for a in &desired.accounts {
            for r in &desired.regions {
                let reason = match have.get(&(a, r.as_str())) {
                    Some(i) if i.status == InstanceStatus::Current => continue,
                    Some(i) => reasons
                        .get(&(a.clone(), r.clone()))
                        .cloned()
                        .or_else(|| i.status_reason.clone())
                        .unwrap_or_else(|| {
                            format!("stack instance is {:?}/{:?}", i.status, i.detailed)
                        }),
                    None => reasons
                        .get(&(a.clone(), r.clone()))
                        .cloned()
                        .unwrap_or_else(|| "no stack instance was created".into()),
                };
                out.push(AccountFailure {
                    account: a.clone(),
                    region: r.clone(),
                    advice: advise(a.as_str(), &reason),
                    reason,
                });
            }
        }
        let retained: BTreeSet<&AccountId> = the_plan.retained.iter().collect();
        for i in instances {
            let wanted =
                desired.accounts.contains(&i.account) && desired.regions.contains(&i.region);
            if wanted || retained.contains(&i.account) || i.is_busy() {
                continue;
            }
            let why = reasons
                .get(&(i.account.clone(), i.region.clone()))
                .cloned()
                .or_else(|| i.status_reason.clone())
                .unwrap_or_else(|| format!("stack instance is {:?}/{:?}", i.status, i.detailed));
            let reason = format!(
                "{LOST_ROLE}, but its stack instance remains ({:?}): {why}",
                i.status
            );
            out.push(AccountFailure {
                account: i.account.clone(),
                region: i.region.clone(),
                advice: advise(i.account.as_str(), &reason),
                reason,
            });
        }
        Ok(out)
    }
}

/// What one operation of a plan does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    /// Update with the override [`REUSE_OIDC_OVERRIDE`].
    ReuseOidc,
    Update,
    Delete,
    /// Delete with `RetainStacks`.
    Drop,
}

impl Step {
    fn kind(self) -> OpKind {
        match self {
            Self::Create => OpKind::Create,
            Self::Update | Self::ReuseOidc => OpKind::Update,
            Self::Delete | Self::Drop => OpKind::Delete,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::ReuseOidc => REUSE_OIDC_LABEL,
            other => other.kind().as_str(),
        }
    }
}

/// The plan's operations in order: create, reuse an existing OIDC provider, update, delete,
/// drop.
fn steps(p: &ReconcilePlan) -> Vec<(Step, &Batch)> {
    p.create
        .iter()
        .map(|b| (Step::Create, b))
        .chain(p.reuse_oidc.iter().map(|b| (Step::ReuseOidc, b)))
        .chain(p.update.iter().map(|b| (Step::Update, b)))
        .chain(p.delete.iter().map(|b| (Step::Delete, b)))
        .chain(p.drop.iter().map(|b| (Step::Drop, b)))
        .collect()
}

/// Logs each account about to reuse its existing OIDC provider: advice the engine acts on.
fn log_reuse(batches: &[Batch]) {
    for a in batches.iter().flat_map(|b| &b.accounts) {
        tracing::info!(account = %a, advice = %reuse_oidc_note(a.as_str()), acted_on = true, "advice acted on: reusing the account's existing OIDC provider");
    }
}

/// INTERSECTION of the batch's OUs (set by `fit`) with exactly its accounts.
fn targets_for(step: Step, batch: &Batch) -> Targets {
    Targets {
        ous: batch.ous.clone(),
        accounts: batch.accounts.clone(),
        filter: "INTERSECTION".into(),
        retain_stacks: step == Step::Drop,
        parameter_overrides: if step == Step::ReuseOidc {
            let (k, v) = REUSE_OIDC_OVERRIDE;
            BTreeMap::from([(k.to_owned(), v.to_owned())])
        } else {
            BTreeMap::new()
        },
    }
}

fn op_id(seed: &str, step: Step, batch: &Batch, user_change: bool) -> String {
    let id = operation_id(seed, step.label(), batch);
    if user_change {
        id.replacen(OP_PREFIX, USER_OP_PREFIX, 1)
    } else {
        id
    }
}

fn kind_of(action: &str) -> OpKind {
    match action {
        "CREATE" => OpKind::Create,
        "DELETE" => OpKind::Delete,
        "DETECT_DRIFT" => OpKind::DetectDrift,
        _ => OpKind::Update,
    }
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `orgscope-create-<hash>`: deterministic for (seed, label, accounts, regions, OUs).
fn operation_id(seed: &str, label: &str, batch: &Batch) -> String {
    let accounts: Vec<&str> = batch.accounts.iter().map(AccountId::as_str).collect();
    let accounts = accounts.join(",");
    let regions = batch.regions.join(",");
    let ous = batch.ous.join(",");
    format!(
        "{OP_PREFIX}-{label}-{}",
        short_hash(&[seed, label, &accounts, &regions, &ous])
    )
}
