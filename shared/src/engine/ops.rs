//! Operations: their IDs (one scheme: `orgscope[-user]-<label>-<hash>`), starting one and
//! waiting on it, and the one loop that runs a plan's operations in order.

use std::collections::BTreeMap;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::core::{
    reuse_oidc_note, AccountId, Batch, ReconcilePlan, StackInstance, REUSE_OIDC_OVERRIDE,
};
use crate::ports::{AwsError, Clock, OpKind, Operation, OrganizationsApi, StackSetApi, Targets};

use super::verify::Rejected;
use super::{Engine, EngineError, Halt, OpRecord};

/// Operation IDs this project starts begin with this.
pub const OP_PREFIX: &str = "orgscope";
/// Operation IDs of runs that are a change the user made (a custom-resource Create or
/// Update) begin with this: failed attempts are counted from the newest such operation on.
pub const USER_OP_PREFIX: &str = "orgscope-user";
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
pub fn is_oidc_reuse(op: &Operation) -> bool {
    op.id.starts_with(OP_PREFIX)
        && op.action == "UPDATE"
        && op.id.contains(&format!("-{REUSE_OIDC_LABEL}-"))
}

/// The operation was started by this project's scheduled re-check.
pub fn is_scheduled_check(op: &Operation) -> bool {
    op.id.starts_with(DRIFT_OP_PREFIX)
}

/// The operation is a change (create, update, delete) this project made.
pub fn is_own_change(op: &Operation) -> bool {
    op.id.starts_with(OP_PREFIX) && matches!(op.action.as_str(), "CREATE" | "UPDATE" | "DELETE")
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

/// How [`Engine::run_steps`] runs a plan's operations.
pub(super) struct StepLoop<'r> {
    pub stack_set: &'r str,
    pub deadline: Instant,
    pub seed: &'r str,
    pub user_change: bool,
    /// Kinds an earlier invocation already ran: their operations are not started again.
    pub skip: &'r [OpKind],
}

impl<O: OrganizationsApi, S: StackSetApi, C: Clock> Engine<'_, O, S, C> {
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

    /// Runs every operation of `p` in order: create, reuse an existing OIDC provider, update,
    /// delete, drop. Stops with [`Halt::Busy`] at an operation still running, or blocked, at
    /// the deadline. With `done`, a kind is recorded there once its last batch has started: a
    /// re-invocation then does not start it again, but does start the batches of it not yet
    /// started. With `rejected`, a reuse AWS refuses (`Validation`: the StackSet has no
    /// CreateOIDCProvider parameter to override, say) is recorded there instead of failing
    /// the pass; its accounts stay failed and are reported with AWS's answer.
    pub(super) async fn run_steps(
        &self,
        run: &StepLoop<'_>,
        p: &ReconcilePlan,
        mut done: Option<&mut Vec<OpKind>>,
        mut rejected: Option<&mut Vec<Rejected>>,
    ) -> Result<Vec<OpRecord>, Halt> {
        log_reuse(&p.reuse_oidc);
        let steps = steps(p);
        let mut out = Vec::new();
        for (n, (step, batch)) in steps.iter().enumerate() {
            let kind = step.kind();
            if run.skip.contains(&kind) {
                continue;
            }
            let targets = targets_for(*step, batch);
            let op_id = op_id(run.seed, *step, batch, run.user_change);
            let ran = match self
                .run_op(run.stack_set, run.deadline, kind, &targets, batch, &op_id)
                .await
            {
                Err(EngineError::Aws(AwsError::Validation(why)))
                    if *step == Step::ReuseOidc && rejected.is_some() =>
                {
                    if let Some(r) = rejected.as_deref_mut() {
                        r.push((batch.accounts.clone(), why));
                    }
                    continue;
                }
                r => r?,
            };
            if let Some(done) = done.as_deref_mut() {
                let last_of_kind = !steps[n + 1..].iter().any(|(s, _)| s.kind() == kind);
                if !matches!(ran, Ran::Blocked(_)) && last_of_kind && !done.contains(&kind) {
                    done.push(kind);
                }
            }
            match ran {
                Ran::Finished(op) => out.push(op),
                Ran::Running(op) | Ran::Blocked(op) => return Err(Halt::Busy(op)),
            }
        }
        Ok(out)
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

    /// The instances (all, or `only` these accounts') once no operation is working on them:
    /// an operation another caller started between our look and our read is waited out, then
    /// the list is read again.
    pub(super) async fn settled_instances(
        &self,
        name: &str,
        deadline: Instant,
        only: Option<&[AccountId]>,
    ) -> Result<Vec<StackInstance>, Halt> {
        let read = || async {
            match only {
                None => self.stacksets.instances(name).await,
                Some(accounts) => self.stacksets.instances_of(name, accounts).await,
            }
        };
        for _ in 0..5 {
            let instances = read().await?;
            if !instances.iter().any(StackInstance::is_busy) {
                return Ok(instances);
            }
            if let Some(busy) = self.wait_idle(name, deadline).await? {
                return Err(Halt::Busy(busy));
            }
        }
        Ok(read().await?)
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

/// `orgscope-<label>-<hash>`, deterministic for (seed, label, accounts, regions, OUs);
/// `orgscope-user-<label>-<hash>` for a change the user made.
fn op_id(seed: &str, step: Step, batch: &Batch, user_change: bool) -> String {
    let label = step.label();
    let accounts: Vec<&str> = batch.accounts.iter().map(AccountId::as_str).collect();
    let accounts = accounts.join(",");
    let regions = batch.regions.join(",");
    let ous = batch.ous.join(",");
    let hash = short_hash(&[seed, label, &accounts, &regions, &ous]);
    let prefix = if user_change {
        USER_OP_PREFIX
    } else {
        OP_PREFIX
    };
    format!("{prefix}-{label}-{hash}")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Batch;

    fn batch(accounts: &[&str]) -> Batch {
        Batch {
            accounts: accounts
                .iter()
                .map(|a| AccountId::parse(a).expect("account ID"))
                .collect(),
            regions: vec!["us-east-1".into()],
            ous: vec!["r-root".into()],
        }
    }

    #[test]
    fn operation_ids_are_deterministic_and_user_changes_carry_the_user_prefix() {
        let b = batch(&["111111111111"]);
        let scheduled = op_id("seed", Step::Create, &b, false);
        assert_eq!(scheduled, op_id("seed", Step::Create, &b, false));
        assert!(scheduled.starts_with("orgscope-create-"), "{scheduled}");
        let user = op_id("seed", Step::Create, &b, true);
        assert_eq!(user, scheduled.replacen(OP_PREFIX, USER_OP_PREFIX, 1));
        assert_ne!(scheduled, op_id("other seed", Step::Create, &b, false));
        assert_ne!(
            scheduled,
            op_id("seed", Step::Create, &batch(&["222222222222"]), false)
        );
    }

    #[test]
    fn reuse_operations_are_found_by_their_id() {
        let b = batch(&["111111111111"]);
        for user_change in [false, true] {
            let id = op_id("seed", Step::ReuseOidc, &b, user_change);
            let op = Operation {
                id,
                action: "UPDATE".into(),
                status: "SUCCEEDED".into(),
                status_reason: None,
                started: None,
                ended: None,
                duration_secs: None,
            };
            assert!(is_oidc_reuse(&op), "{}", op.id);
            assert!(is_own_change(&op));
            let plain = Operation {
                id: op_id("seed", Step::Update, &b, user_change),
                ..op
            };
            assert!(!is_oidc_reuse(&plain), "{}", plain.id);
        }
    }

    #[test]
    fn steps_run_create_reuse_update_delete_drop_and_drop_retains_stacks() {
        let p = ReconcilePlan {
            create: vec![batch(&["111111111111"])],
            reuse_oidc: vec![batch(&["222222222222"])],
            update: vec![batch(&["333333333333"])],
            delete: vec![batch(&["444444444444"])],
            drop: vec![batch(&["555555555555"])],
            ..ReconcilePlan::default()
        };
        let order: Vec<Step> = steps(&p).into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            order,
            [
                Step::Create,
                Step::ReuseOidc,
                Step::Update,
                Step::Delete,
                Step::Drop
            ]
        );
        let drop = targets_for(Step::Drop, &p.drop[0]);
        assert!(drop.retain_stacks);
        assert_eq!(drop.filter, "INTERSECTION");
        assert!(!targets_for(Step::Delete, &p.delete[0]).retain_stacks);
        let reuse = targets_for(Step::ReuseOidc, &p.reuse_oidc[0]);
        let (k, v) = REUSE_OIDC_OVERRIDE;
        assert_eq!(
            reuse.parameter_overrides.get(k).map(String::as_str),
            Some(v)
        );
        assert!(targets_for(Step::Update, &p.update[0])
            .parameter_overrides
            .is_empty());
    }
}
