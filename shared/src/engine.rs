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
    advise, expand, plan, AccountId, Batch, Desired, ExpandError, Expansion, InstanceStatus,
    PlanPolicy, ReconcilePlan, Scope, StackInstance,
};
use crate::ports::{AwsError, Clock, OpKind, OrganizationsApi, StackSetApi, StackSetInfo, Targets};
use crate::read::{read_org, ReadError, ReadStats, DEFAULT_CONCURRENCY};

/// Operation IDs this project starts begin with this.
pub const OP_PREFIX: &str = "orgscope";
/// Drift detections begin with this: the org-events function starts one at the beginning of
/// each scheduled run (when the StackSet has instances), so the newest one tells when the last
/// scheduled re-check ran.
pub const DRIFT_OP_PREFIX: &str = "orgscope-drift-";

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
        "StackSet `{name}` does not exist in this account and region. It is created by this \
         stack's template (resource PortStackSet); check StackSetName, and that the stack is \
         deployed in the management account."
    )]
    StackSetMissing { name: String },
    #[error(
        "StackSet `{name}` uses self-managed permissions. This integration needs a \
         service-managed StackSet (PermissionModel SERVICE_MANAGED), which deploys through AWS \
         Organizations; use the StackSet this stack creates."
    )]
    SelfManaged { name: String },
    #[error(
        "This function runs in account {caller}, but the organization's management account is \
         {management}. Deploy this stack from the management account {management}: only it can \
         deploy service-managed StackSets to the organization's accounts."
    )]
    NotManagementAccount {
        caller: AccountId,
        management: AccountId,
    },
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("{0}")]
    Expand(#[from] ExpandError),
    #[error("{0}")]
    Aws(#[from] AwsError),
    #[error(
        "gave up waiting: StackSet operation {operation_id} was still {status} when the time \
         budget ran out"
    )]
    Timeout {
        operation_id: String,
        status: String,
    },
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
}

/// One operation this reconcile started or waited on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    pub kind: OpKind,
    pub id: String,
    pub accounts: Vec<AccountId>,
    pub status: String,
}

/// A desired account that did not end CURRENT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFailure {
    pub account: AccountId,
    pub region: String,
    pub reason: String,
    pub advice: String,
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
        let (tree, stats) = read_org(self.org, scope, self.config.concurrency).await?;
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

    /// One reconcile pass: expand, plan, apply (one operation per kind), verify.
    pub async fn reconcile(&self, req: &Request<'_>) -> Result<Outcome, EngineError> {
        if let Some(busy) = self.wait_idle(req.stack_set, req.deadline).await? {
            return Ok(Outcome::Pending {
                operation: busy,
                done_kinds: req.done_kinds.to_vec(),
            });
        }
        let (expansion, read_stats) = self.expand(req.scope).await?;
        let desired = Desired {
            accounts: expansion.account_ids(),
            regions: req.regions.clone(),
        };
        let instances = match self.settled_instances(req.stack_set, req.deadline).await? {
            Ok(i) => i,
            Err(busy) => {
                return Ok(Outcome::Pending {
                    operation: busy,
                    done_kinds: req.done_kinds.to_vec(),
                })
            }
        };
        let attempts = if instances
            .iter()
            .any(|i| desired.accounts.contains(&i.account) && i.needs_retry())
        {
            self.failed_attempts(req.stack_set).await?
        } else {
            BTreeMap::new()
        };
        let the_plan = plan(&desired, &instances, &attempts, &req.policy);
        tracing::info!(
            desired = desired.accounts.len(),
            instances = instances.len(),
            create = the_plan
                .create
                .iter()
                .map(|b| b.accounts.len())
                .sum::<usize>(),
            delete = the_plan
                .delete
                .iter()
                .map(|b| b.accounts.len())
                .sum::<usize>(),
            update = the_plan
                .update
                .iter()
                .map(|b| b.accounts.len())
                .sum::<usize>(),
            "reconcile plan"
        );

        let mut done_kinds = req.done_kinds.to_vec();
        let mut operations = Vec::new();
        let steps: Vec<(OpKind, &Batch)> = the_plan
            .create
            .iter()
            .map(|b| (OpKind::Create, b))
            .chain(the_plan.update.iter().map(|b| (OpKind::Update, b)))
            .chain(the_plan.delete.iter().map(|b| (OpKind::Delete, b)))
            .collect();
        for (kind, batch) in steps {
            if req.done_kinds.contains(&kind) {
                continue;
            }
            let targets = self.targets_for(req.scope, kind, batch, &instances);
            let op_id = operation_id(req.seed, kind, batch);
            let ran = self
                .run_op(req.stack_set, req.deadline, kind, &targets, batch, &op_id)
                .await?;
            if !matches!(ran, Ran::Blocked(_)) && !done_kinds.contains(&kind) {
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

        let failures = if operations.is_empty() && the_plan.is_noop() {
            self.failures(req.stack_set, &desired, &instances, &[])
                .await?
        } else {
            let after = match self.settled_instances(req.stack_set, req.deadline).await? {
                Ok(i) => i,
                Err(busy) => {
                    return Ok(Outcome::Pending {
                        operation: busy,
                        done_kinds,
                    })
                }
            };
            self.failures(req.stack_set, &desired, &after, &operations)
                .await?
        };
        Ok(Outcome::Done(Box::new(Report {
            expansion,
            plan: the_plan,
            operations,
            failures,
            read_stats,
        })))
    }

    /// Removes every stack instance of the StackSet (custom resource Delete), without reading
    /// the organization: the instances say which OUs they were deployed through.
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
        let desired = Desired::default();
        let the_plan = plan(
            &desired,
            &instances,
            &BTreeMap::new(),
            &PlanPolicy::default(),
        );
        let mut operations = Vec::new();
        for batch in &the_plan.delete {
            let mut ous: BTreeSet<String> = fallback_ous.iter().cloned().collect();
            ous.extend(instances.iter().filter_map(|i| i.ou.clone()));
            let targets = Targets {
                ous: ous.into_iter().collect(),
                accounts: batch.accounts.clone(),
                filter: "INTERSECTION".into(),
            };
            let op_id = operation_id(seed, OpKind::Delete, batch);
            match self
                .run_op(stack_set, deadline, OpKind::Delete, &targets, batch, &op_id)
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
        let left = self.stacksets.instances(stack_set).await?;
        let failures = left
            .iter()
            .map(|i| {
                let reason = i
                    .status_reason
                    .clone()
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
                mode: crate::core::AccountScope::All,
                included: vec![],
                skipped: vec![],
            },
            plan: the_plan,
            operations,
            failures,
            read_stats: ReadStats::default(),
        })))
    }

    /// The instances once no operation is working on them: an operation another caller
    /// started between our look and our read is waited out, then the list is read again.
    async fn settled_instances(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<Result<Vec<StackInstance>, OpRecord>, EngineError> {
        for _ in 0..5 {
            let instances = self.stacksets.instances(name).await?;
            if !instances.iter().any(StackInstance::is_busy) {
                return Ok(Ok(instances));
            }
            if let Some(busy) = self.wait_idle(name, deadline).await? {
                return Ok(Err(busy));
            }
        }
        Ok(Ok(self.stacksets.instances(name).await?))
    }

    /// Starts drift detection and waits for it. `Some(op)` if the deadline came first.
    pub async fn detect_drift(&self, req: &Request<'_>) -> Result<Option<OpRecord>, EngineError> {
        if let Some(busy) = self.wait_idle(req.stack_set, req.deadline).await? {
            return Ok(Some(busy));
        }
        let op_id = format!("{DRIFT_OP_PREFIX}{}", short_hash(&[req.seed]));
        let targets = Targets {
            ous: vec![],
            accounts: vec![],
            filter: "NONE".into(),
        };
        let id = match self
            .start(
                req.stack_set,
                req.deadline,
                OpKind::DetectDrift,
                &targets,
                &[],
                &op_id,
            )
            .await?
        {
            Ok(id) => id,
            Err(busy) => return Ok(Some(busy)),
        };
        match self.wait_op(req.stack_set, &id, req.deadline).await? {
            Waited::Finished(_) => Ok(None),
            Waited::StillRunning(status) => Ok(Some(OpRecord {
                kind: OpKind::DetectDrift,
                id,
                accounts: vec![],
                status,
            })),
        }
    }

    /// Waits for one known operation (carried over from an earlier invocation).
    pub async fn wait_for(
        &self,
        name: &str,
        op: &OpRecord,
        deadline: Instant,
    ) -> Result<Option<OpRecord>, EngineError> {
        match self.wait_op(name, &op.id, deadline).await {
            Ok(Waited::Finished(_)) => Ok(None),
            Ok(Waited::StillRunning(status)) => Ok(Some(OpRecord {
                status,
                ..op.clone()
            })),
            Err(EngineError::Aws(AwsError::NotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn targets_for(
        &self,
        scope: &Scope,
        kind: OpKind,
        batch: &Batch,
        instances: &[StackInstance],
    ) -> Targets {
        let mut ous: BTreeSet<String> = scope
            .targets
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        if kind != OpKind::Create {
            // Accounts that moved or left are found through the OU they were deployed by.
            let wanted: BTreeSet<&AccountId> = batch.accounts.iter().collect();
            ous.extend(
                instances
                    .iter()
                    .filter(|i| wanted.contains(&i.account))
                    .filter_map(|i| i.ou.clone()),
            );
        }
        Targets {
            ous: ous.into_iter().collect(),
            accounts: batch.accounts.clone(),
            filter: "INTERSECTION".into(),
        }
    }

    /// Earlier failed attempts per account, from this project's recent operations.
    async fn failed_attempts(&self, name: &str) -> Result<BTreeMap<AccountId, u32>, EngineError> {
        let mut out: BTreeMap<AccountId, u32> = BTreeMap::new();
        let ops = self.stacksets.recent_operations(name, 20).await?;
        for op in ops
            .iter()
            .filter(|o| {
                o.id.starts_with(OP_PREFIX) && matches!(o.action.as_str(), "CREATE" | "UPDATE")
            })
            .take(10)
        {
            for r in self.stacksets.operation_results(name, &op.id).await? {
                if r.status == "FAILED" {
                    *out.entry(r.account).or_default() += 1;
                }
            }
        }
        Ok(out)
    }

    async fn failures(
        &self,
        name: &str,
        desired: &Desired,
        instances: &[StackInstance],
        ops: &[OpRecord],
    ) -> Result<Vec<AccountFailure>, EngineError> {
        let mut reasons: BTreeMap<(AccountId, String), String> = BTreeMap::new();
        for op in ops {
            if op.status == "SUCCEEDED" && op.kind == OpKind::Delete {
                continue;
            }
            for r in self.stacksets.operation_results(name, &op.id).await? {
                if r.status != "SUCCEEDED" {
                    if let Some(reason) = r.status_reason {
                        reasons.insert((r.account, r.region), reason);
                    }
                }
            }
        }
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
        Ok(out)
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

/// `orgscope-create-<hash>`: deterministic for (seed, kind, accounts, regions).
pub fn operation_id(seed: &str, kind: OpKind, batch: &Batch) -> String {
    let accounts: Vec<&str> = batch.accounts.iter().map(AccountId::as_str).collect();
    let accounts = accounts.join(",");
    let regions = batch.regions.join(",");
    format!(
        "{OP_PREFIX}-{}-{}",
        kind.as_str(),
        short_hash(&[seed, kind.as_str(), &accounts, &regions])
    )
}
