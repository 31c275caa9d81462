//! The reconcile engine both functions and the CLI run: read the organization and the
//! StackSet as they are now, plan, apply at most one operation of each kind, and report.
//!
//! Level-triggered: nothing here depends on why it was called. Every wait has a deadline;
//! when it comes, the engine hands back what it is waiting for instead of guessing.
//!
//! This file is the pass; `ops` starts and waits on operations (and names them), `verify`
//! tells which accounts did not end as the scope wants, `reach` decides where each operation
//! reaches.

mod ops;
mod reach;
mod remove;
mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::{
    decided_instances, expand, expand_slice, oidc_reuse, plan, plan_reaching, AccountId, Acted,
    Desired, ExpandError, Expansion, OrgTree, PlanPolicy, ReconcilePlan, Scope, ScopeChange,
    StackInstance, TagReads, TagSlice,
};
use crate::ports::{AwsError, Clock, OpKind, OrganizationsApi, StackSetApi, StackSetInfo};
use crate::read::{
    read_accounts, read_scope, read_scope_sliced, ReadError, ReadStats, DEFAULT_CONCURRENCY,
};

pub use ops::{
    is_oidc_reuse, is_own_change, is_scheduled_check, DRIFT_OP_PREFIX, OP_PREFIX, REUSE_OIDC_LABEL,
    USER_OP_PREFIX,
};
pub use verify::AccountFailure;

use ops::StepLoop;
use verify::{note_rejected, Rejected};

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
    /// Which candidates' tags a whole-scope pass reads (with a tag filter): all, or one
    /// slice ([`TagReads`]); the others are undecided and left as the StackSet has them. A
    /// pass for a few accounts ([`Engine::reconcile_accounts`]) reads all of theirs.
    pub tag_reads: TagReads,
}

/// One operation this reconcile started or waited on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    pub kind: OpKind,
    pub id: String,
    pub accounts: Vec<AccountId>,
    pub status: String,
}

/// The outcome of one reconcile pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub expansion: Expansion,
    pub plan: ReconcilePlan,
    pub operations: Vec<OpRecord>,
    pub failures: Vec<AccountFailure>,
    pub read_stats: ReadStats,
    /// The slice of the candidates whose tags this pass read ([`TagSlice::ALL`]: all, or no
    /// tag filter).
    #[serde(default)]
    pub tag_slice: TagSlice,
    /// Undecided accounts (tags not read this pass) that have an instance: enrolled by an
    /// earlier decision, which the StackSet keeps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_undecided: Vec<AccountId>,
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

/// Why a pass stopped before its report: an operation still running, or holding the
/// StackSet, at the deadline (handed back as [`Outcome::Pending`]), or an error.
enum Halt {
    Busy(OpRecord),
    Failed(EngineError),
}

impl From<EngineError> for Halt {
    fn from(e: EngineError) -> Self {
        Self::Failed(e)
    }
}

impl From<AwsError> for Halt {
    fn from(e: AwsError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<ReadError> for Halt {
    fn from(e: ReadError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<ExpandError> for Halt {
    fn from(e: ExpandError) -> Self {
        Self::Failed(e.into())
    }
}

/// The pass's result as the engine hands it back: `done_kinds` go with a pending operation.
fn outcome(pass: Result<Report, Halt>, done_kinds: Vec<OpKind>) -> Result<Outcome, EngineError> {
    match pass {
        Ok(report) => Ok(Outcome::Done(Box::new(report))),
        Err(Halt::Busy(operation)) => Ok(Outcome::Pending {
            operation,
            done_kinds,
        }),
        Err(Halt::Failed(e)) => Err(e),
    }
}

/// What one pass has read and decided, for its later steps.
struct Pass<'p> {
    req: &'p Request<'p>,
    only: Option<&'p [AccountId]>,
    tree: OrgTree,
    root: String,
    desired: Desired,
    /// Accounts whose tags this pass did not read: their instances are hidden from the plan.
    undecided: BTreeSet<AccountId>,
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
    /// planner. A preview: earlier failed attempts and reachability are not looked up. A
    /// whole-scope preview reads the tags `tag_reads` says, as the pass would.
    pub async fn preview(
        &self,
        scope: &Scope,
        stack_set: &str,
        regions: &BTreeSet<String>,
        policy: &PlanPolicy,
        only: Option<&[AccountId]>,
        tag_reads: TagReads,
    ) -> Result<ReconcilePlan, EngineError> {
        let expansion = match only {
            None => {
                let (tree, _, slice) =
                    read_scope_sliced(self.org, scope, self.config.concurrency, tag_reads).await?;
                expand_slice(scope, &tree, slice)?
            }
            Some(accounts) => self.expand_accounts(scope, accounts).await?.0,
        };
        let instances = match only {
            None => self.stacksets.instances(stack_set).await?,
            Some(accounts) => self.stacksets.instances_of(stack_set, accounts).await?,
        };
        let instances = decided_instances(instances, &expansion.undecided_ids());
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
        let mut done_kinds = req.done_kinds.to_vec();
        let pass = self.pass(req, only, &mut done_kinds).await;
        outcome(pass, done_kinds)
    }

    async fn pass(
        &self,
        req: &Request<'_>,
        only: Option<&[AccountId]>,
        done_kinds: &mut Vec<OpKind>,
    ) -> Result<Report, Halt> {
        if let Some(busy) = self.wait_idle(req.stack_set, req.deadline).await? {
            return Err(Halt::Busy(busy));
        }
        let (tree, read_stats, tag_slice) = match only {
            None => {
                read_scope_sliced(self.org, req.scope, self.config.concurrency, req.tag_reads)
                    .await?
            }
            Some(accounts) => {
                let (tree, stats) = read_accounts(self.org, req.scope, accounts).await?;
                (tree, stats, TagSlice::ALL)
            }
        };
        let expansion = expand_slice(req.scope, &tree, tag_slice)?;
        let undecided = expansion.undecided_ids();
        let desired = Desired {
            accounts: expansion.account_ids(),
            regions: req.regions.clone(),
        };
        let all_instances = self
            .settled_instances(req.stack_set, req.deadline, only)
            .await?;
        let kept_undecided: Vec<AccountId> = all_instances
            .iter()
            .filter(|i| undecided.contains(&i.account))
            .map(|i| i.account.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !undecided.is_empty() {
            tracing::info!(
                slice = %tag_slice,
                undecided = undecided.len(),
                kept_undecided = kept_undecided.len(),
                "tags read for one slice of the candidates; the others are left as they are"
            );
        }
        let instances = decided_instances(all_instances, &undecided);
        let leaving = desired.leaving(&instances, req.policy.on_leave);
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
        let pass = Pass {
            req,
            only,
            tree,
            root,
            desired,
            undecided,
        };
        let mut rejected: Vec<Rejected> = Vec::new();
        let run = StepLoop {
            skip: req.done_kinds,
            ..Self::step_loop(req)
        };
        let mut operations = self
            .run_steps(&run, &the_plan, Some(done_kinds), Some(&mut rejected))
            .await?;
        let mut failures = if operations.is_empty() && the_plan.is_noop() {
            self.failures(req.stack_set, &pass.desired, &instances, &[], &the_plan)
                .await?
        } else {
            let after = decided_instances(
                self.settled_instances(req.stack_set, req.deadline, only)
                    .await?,
                &pass.undecided,
            );
            let after = self
                .reuse_found_oidc(&pass, after, &mut the_plan, &mut operations, &mut rejected)
                .await?;
            self.failures(req.stack_set, &pass.desired, &after, &operations, &the_plan)
                .await?
        };
        note_rejected(&mut failures, &rejected);
        Ok(Report {
            expansion,
            plan: the_plan,
            operations,
            failures,
            read_stats,
            tag_slice,
            kept_undecided,
        })
    }

    /// Every operation of a plan, once, nothing skipped.
    fn step_loop<'r>(req: &'r Request<'r>) -> StepLoop<'r> {
        StepLoop {
            stack_set: req.stack_set,
            deadline: req.deadline,
            seed: req.seed,
            user_change: req.user_change,
            skip: &[],
        }
    }

    /// Accounts this pass's operations found holding Port's OIDC provider already: one more
    /// operation per batch of them, reusing it (never twice for one account). The instances
    /// as they are afterwards (`after` when there was nothing to reuse).
    async fn reuse_found_oidc(
        &self,
        pass: &Pass<'_>,
        after: Vec<StackInstance>,
        the_plan: &mut ReconcilePlan,
        operations: &mut Vec<OpRecord>,
        rejected: &mut Vec<Rejected>,
    ) -> Result<Vec<StackInstance>, Halt> {
        let req = pass.req;
        let tried: BTreeSet<&AccountId> = the_plan
            .reuse_oidc
            .iter()
            .flat_map(|b| &b.accounts)
            .collect();
        let mut repair = ReconcilePlan {
            reuse_oidc: oidc_reuse(&pass.desired, &after)
                .into_iter()
                .map(|mut b| {
                    b.accounts.retain(|a| !tried.contains(a));
                    b
                })
                .filter(|b| !b.accounts.is_empty())
                .collect(),
            ..ReconcilePlan::default()
        };
        if repair.is_noop() {
            return Ok(after);
        }
        self.fit(&mut repair, req.scope, &pass.tree, &after, &pass.root, &[]);
        let ran = self
            .run_steps(&Self::step_loop(req), &repair, None, Some(rejected))
            .await?;
        operations.extend(ran);
        the_plan.reuse_oidc.extend(repair.reuse_oidc);
        Ok(decided_instances(
            self.settled_instances(req.stack_set, req.deadline, pass.only)
                .await?,
            &pass.undecided,
        ))
    }
}
