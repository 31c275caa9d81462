//! One invocation: classify the event, decide cheaply whether it can touch the scope,
//! coalesce, reconcile, and answer with one structured summary.
//!
//! Coalescing, with reserved concurrency 1 (invocations run one after another):
//! - an operation in progress is waited out before anything is read;
//! - an event-triggered change waits until the organization has stayed the same for
//!   `Config::settle` (bounded by `Config::settle_max`), so that a burst of moves is planned
//!   once, from the state after the burst;
//! - an event whose change happened before the start of a reconcile that this warm instance
//!   completed is already reflected in that reconcile: it costs no AWS call at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use shared::core::{
    advise, plan, AccountId, AccountScope, Batch, Desired, ExpandError, PlanPolicy, Scope,
};
use shared::counted::CallCounts;
use shared::engine::{
    AccountFailure, Engine, EngineConfig, EngineError, OpRecord, Outcome, Report, Request,
};
use shared::metrics::{self, EventFigures, ReconcileFigures};
use shared::ports::{AwsError, Clock, OpKind, OrganizationsApi, StackSetApi};
use thiserror::Error;

use crate::config::Config;
use crate::time::{format_rfc3339, now_epoch};
use crate::trigger::{classify, Classified, Trigger};

/// An event's change counts as seen by a reconcile that started reading at least this long
/// after it (CloudTrail times have one-second precision).
pub const COVER_MARGIN_SECS: f64 = 2.0;
/// Time kept back from the Lambda deadline to answer.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(20);
/// Time kept for the reconcile itself when settling.
pub const SETTLE_RESERVE: Duration = Duration::from_secs(60);
/// The deepest an ancestor walk goes (AWS allows five OU levels under the root).
const MAX_DEPTH: usize = 10;

#[derive(Debug, Error)]
pub enum HandlerError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error(
        "the Lambda deadline came while an AWS call was still unanswered; nothing is lost: \
         the next delivery of this event, or the scheduled run, looks again"
    )]
    Deadline,
}

/// What the Lambda runtime tells about one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request ID: the same on a retried delivery of the same invocation.
    pub request_id: String,
    /// Stop waiting at this instant.
    pub deadline: Instant,
}

impl Invocation {
    /// From `Context.request_id` and `Context.deadline` (epoch milliseconds), minus a margin
    /// to answer in.
    pub fn from_lambda(request_id: &str, deadline_epoch_ms: u64) -> Self {
        let now_ms = (now_epoch() * 1000.0) as u64;
        let left = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms));
        let left = if left.is_zero() {
            // No deadline given (a local run): a generous default.
            Duration::from_secs(300)
        } else {
            left.saturating_sub(DEADLINE_MARGIN)
                .max(left.min(Duration::from_secs(5)))
        };
        Self {
            request_id: request_id.to_owned(),
            deadline: Instant::now() + left,
        }
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Unknown or malformed event, or a failed call: nothing looked at.
    Ignored,
    /// The cheap check showed the event cannot touch the scope.
    NotRelevant,
    /// A reconcile this instance completed already read the state after this change.
    AlreadyCovered,
    /// Read everything: nothing to change.
    NoChange,
    /// Changes applied (or attempted: see failures).
    Reconciled,
    /// The deadline came while an operation was running; the next run continues.
    Pending,
}

impl Disposition {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ignored => "ignored",
            Self::NotRelevant => "not_relevant",
            Self::AlreadyCovered => "already_covered",
            Self::NoChange => "no_change",
            Self::Reconciled => "reconciled",
            Self::Pending => "pending",
        }
    }
}

/// An account the reconcile gave up on, with what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GivenUp {
    pub account: AccountId,
    pub why: String,
    pub advice: String,
}

/// The one structured answer (and log line) of an invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub trigger: Trigger,
    pub event_id: Option<String>,
    pub outcome: Disposition,
    /// Why the function did what it did, in a sentence.
    pub reason: String,
    pub accounts_added: Vec<AccountId>,
    pub accounts_removed: Vec<AccountId>,
    pub accounts_retried: Vec<AccountId>,
    pub accounts_repaired: Vec<AccountId>,
    pub accounts_retained: Vec<AccountId>,
    pub given_up: Vec<GivenUp>,
    pub failures: Vec<AccountFailure>,
    pub operation_ids: Vec<String>,
    pub operations: Vec<OpRecord>,
    pub pending_operation: Option<OpRecord>,
    /// The drift detection the scheduled run started after reconciling (not waited for;
    /// the next scheduled run repairs from its results).
    pub drift_detection: Option<String>,
    pub warnings: Vec<String>,
    pub duration_ms: u64,
    /// What the completed reconcile pass found, for the metrics (`None` when none ran).
    #[serde(skip)]
    pub figures: Option<ReconcileFigures>,
    /// The Embedded Metric Format line printed for this invocation.
    #[serde(skip)]
    pub metrics_line: String,
}

impl Summary {
    fn new(c: &Classified, outcome: Disposition, reason: impl Into<String>) -> Self {
        Self {
            trigger: c.trigger.clone(),
            event_id: c.event_id.clone(),
            outcome,
            reason: reason.into(),
            accounts_added: vec![],
            accounts_removed: vec![],
            accounts_retried: vec![],
            accounts_repaired: vec![],
            accounts_retained: vec![],
            given_up: vec![],
            failures: vec![],
            operation_ids: vec![],
            operations: vec![],
            pending_operation: None,
            drift_detection: None,
            warnings: vec![],
            duration_ms: 0,
            figures: None,
            metrics_line: String::new(),
        }
    }
}

/// Whether to look.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Reconcile(String),
    Skip(String),
}

/// State kept by a warm instance between invocations (an optimisation only: a cold start
/// simply checks again).
#[derive(Debug, Default)]
struct Memo {
    /// Wall-clock start of the last reconcile that finished with the StackSet matching the
    /// scope as read.
    converged_read_at: Option<f64>,
}

/// The function, generic over the ports.
pub struct Handler<O, S, C> {
    pub org: O,
    pub stacksets: S,
    pub clock: C,
    pub config: Config,
    pub engine: EngineConfig,
    /// The `IntegrationIdentifier` dimension of the metrics.
    pub integration_id: String,
    /// Counts of the AWS calls `org` and `stacksets` make, when they are wrapped in
    /// `shared::counted::Counted` with these counts (main does); `None`: not reported.
    pub calls: Option<Arc<CallCounts>>,
    memo: Mutex<Memo>,
}

type Preview = (Vec<Batch>, Vec<Batch>);

impl<O: OrganizationsApi, S: StackSetApi, C: Clock> Handler<O, S, C> {
    pub fn new(org: O, stacksets: S, clock: C, config: Config) -> Self {
        Self {
            org,
            stacksets,
            clock,
            config,
            engine: EngineConfig::default(),
            integration_id: metrics::DEFAULT_INTEGRATION_IDENTIFIER.into(),
            calls: None,
            memo: Mutex::new(Memo::default()),
        }
    }

    fn engine(&self) -> Engine<'_, O, S, C> {
        Engine {
            org: &self.org,
            stacksets: &self.stacksets,
            clock: &self.clock,
            config: self.engine.clone(),
        }
    }

    /// Handles one event and logs its summary.
    pub async fn handle(&self, event: &Value, inv: &Invocation) -> Result<Summary, HandlerError> {
        let started = self.clock.now();
        let calls_before = self.calls.as_ref().map(|c| c.snapshot());
        let classified = classify(event);
        // A hard stop half a margin after the working deadline: an AWS call that hangs or is
        // retried through an outage must not run into Lambda's own timeout.
        let hard_stop =
            inv.deadline.saturating_duration_since(self.clock.now()) + DEADLINE_MARGIN / 2;
        let result = match tokio::time::timeout(hard_stop, self.run(&classified, inv)).await {
            Ok(r) => r,
            Err(_) => Err(HandlerError::Deadline),
        };
        let ms = self.clock.now().duration_since(started).as_millis() as u64;
        let record = |s: Option<&Summary>| metrics::Record {
            function: "org-events",
            trigger: classified.trigger.kind().to_owned(),
            calls: self
                .calls
                .as_ref()
                .zip(calls_before)
                .map(|(c, before)| c.snapshot().since(before)),
            duration_ms: ms,
            reconcile: s.and_then(|s| s.figures),
            scheduled: classified.trigger == Trigger::Schedule,
            event: Some(EventFigures {
                kind: classified.trigger.kind().to_owned(),
                touched_scope: s.is_some_and(|s| !s.operations.is_empty()),
            }),
        };
        match result {
            Ok(mut summary) => {
                summary.duration_ms = ms;
                summary.metrics_line =
                    metrics::render(&self.integration_id, epoch_ms(), &record(Some(&summary)));
                log_summary(&summary);
                println!("{}", summary.metrics_line);
                Ok(summary)
            }
            Err(e) => {
                println!(
                    "{}",
                    metrics::render(&self.integration_id, epoch_ms(), &record(None))
                );
                tracing::error!(
                    trigger = classified.trigger.kind(),
                    event_id = classified.event_id.as_deref().unwrap_or(""),
                    duration_ms = ms,
                    error = %e,
                    "org-events invocation failed"
                );
                Err(e)
            }
        }
    }

    async fn run(&self, c: &Classified, inv: &Invocation) -> Result<Summary, HandlerError> {
        if let Trigger::Ignored { why } = &c.trigger {
            tracing::warn!(why = %why, "event ignored");
            return Ok(Summary::new(c, Disposition::Ignored, why.clone()));
        }
        let seed = format!("{}/{}", inv.request_id, c.trigger.kind());
        if c.trigger == Trigger::Schedule {
            self.engine()
                .check_stack_set(&self.config.stack_set)
                .await?;
            return self.scheduled(c, inv, &seed).await;
        }
        if let Some(why) = self.covered(c) {
            return Ok(Summary::new(c, Disposition::AlreadyCovered, why));
        }
        match self.relevance(&c.trigger).await {
            Ok(Decision::Skip(why)) => {
                return Ok(Summary::new(c, Disposition::NotRelevant, why));
            }
            Ok(Decision::Reconcile(why)) => tracing::info!(why = %why, "event may touch the scope"),
            Err(e) => tracing::warn!(error = %e, "relevance check failed; reconciling anyway"),
        }
        self.engine()
            .check_stack_set(&self.config.stack_set)
            .await?;
        self.on_event(c, inv, &seed).await
    }

    fn covered(&self, c: &Classified) -> Option<String> {
        let at = c.event_time?;
        let read = self.memo.lock().ok()?.converged_read_at?;
        (at + COVER_MARGIN_SECS <= read).then(|| {
            format!(
                "already covered: a reconcile that read the organization at {} (after this \
                 change at {}) brought the StackSet in line",
                format_rfc3339(read),
                format_rfc3339(at)
            )
        })
    }

    fn remember(&self, read_at: f64) {
        if let Ok(mut m) = self.memo.lock() {
            if m.converged_read_at.is_none_or(|t| t < read_at) {
                m.converged_read_at = Some(read_at);
            }
        }
    }

    /// The cheap check: can this event change which accounts should have an instance, or
    /// which instances should exist? At most one instance listing and a few `ListParents`.
    async fn relevance(&self, t: &Trigger) -> Result<Decision, AwsError> {
        let scope = &self.config.scope;
        let is_target = |id: &str| scope.targets.iter().any(|x| x.as_str() == id);
        match t {
            Trigger::Schedule => Ok(Decision::Reconcile("scheduled".into())),
            Trigger::Ignored { why } => Ok(Decision::Skip(why.clone())),
            Trigger::OuChanged {
                ou, created: true, ..
            } => Ok(Decision::Skip(format!(
                "OU {} was created; a new OU is empty, and accounts moved into it send their \
                 own events",
                ou.as_deref().unwrap_or("(unknown)")
            ))),
            Trigger::OuChanged {
                ou, created: false, ..
            } => match ou.as_deref() {
                Some(o) if is_target(o) => {
                    Ok(Decision::Reconcile(format!("target OU {o} was deleted")))
                }
                _ => Ok(Decision::Skip(
                    "a deleted OU is empty and is not a target: no account moved".into(),
                )),
            },
            Trigger::AccountMoved { account, .. }
            | Trigger::AccountJoined { account, .. }
            | Trigger::AccountLeft { account, .. } => {
                let instances = self.stacksets.instances(&self.config.stack_set).await?;
                if instances.iter().any(|i| &i.account == account) {
                    return Ok(Decision::Reconcile(format!(
                        "account {account} has a stack instance"
                    )));
                }
                if let Trigger::AccountLeft { .. } = t {
                    return Ok(Decision::Skip(format!(
                        "account {account} left and has no stack instance: nothing to withdraw"
                    )));
                }
                let listed = scope.accounts.contains(account);
                match scope.mode {
                    AccountScope::Intersection if !listed => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is not in TargetAccountIds (INTERSECTION) and \
                             has no stack instance"
                        )))
                    }
                    AccountScope::Difference if listed => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is excluded by TargetAccountIds (DIFFERENCE) \
                             and has no stack instance"
                        )))
                    }
                    _ => {}
                }
                if let Some(root) = scope.targets.iter().find(|x| x.is_root()) {
                    return Ok(Decision::Reconcile(format!(
                        "the root {root} is a target: every account is under it"
                    )));
                }
                self.walk_up(account).await
            }
        }
    }

    /// Where the account is now: up the `ListParents` chain until a target or the root.
    async fn walk_up(&self, account: &AccountId) -> Result<Decision, AwsError> {
        let scope = &self.config.scope;
        let mut node = match self.org.parent_of(account.as_str()).await {
            Ok(p) => p,
            Err(AwsError::NotFound { .. }) => {
                return Ok(Decision::Skip(format!(
                    "account {account} is not in the organization and has no stack instance"
                )))
            }
            Err(e) => return Err(e),
        };
        let first = node.id.clone();
        for _ in 0..MAX_DEPTH {
            if let Some(t) = scope.targets.iter().find(|t| t.as_str() == node.id) {
                return Ok(Decision::Reconcile(format!(
                    "account {account} is now under target {t}"
                )));
            }
            if node.is_root {
                return Ok(Decision::Skip(format!(
                    "account {account} is in {first}, outside every target OU, and has no \
                     stack instance"
                )));
            }
            node = self.org.parent_of(&node.id).await?;
        }
        Ok(Decision::Reconcile(format!(
            "account {account}: the OU chain is deeper than expected"
        )))
    }

    /// Reads the organization and the instances and plans create/delete, without acting.
    async fn preview(&self, policy: &PlanPolicy) -> Result<Preview, EngineError> {
        let scope = self.config.scope.clone();
        let (expansion, _) = match self.engine().expand(&scope).await {
            Err(EngineError::Expand(ExpandError::AccountsNotInOrganization(missing))) => {
                self.engine().expand(&without(&scope, &missing)).await?
            }
            other => other?,
        };
        let instances = self.stacksets.instances(&self.config.stack_set).await?;
        let desired = Desired {
            accounts: expansion.account_ids(),
            regions: self.config.regions.clone(),
        };
        let p = plan(&desired, &instances, &BTreeMap::new(), policy);
        Ok((p.create, p.delete))
    }

    async fn on_event(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
    ) -> Result<Summary, HandlerError> {
        let engine = self.engine();
        let policy = self.config.event_policy();
        if let Some(busy) = engine
            .wait_idle(&self.config.stack_set, inv.deadline)
            .await?
        {
            return Ok(pending(
                c,
                busy,
                "an operation was still running at the deadline",
            ));
        }
        let mut read_at = now_epoch();
        let mut last = self.preview(&policy).await?;
        if !self.config.settle.is_zero() && !is_noop(&last) {
            let until = (self.clock.now() + self.config.settle_max).min(
                inv.deadline
                    .checked_sub(SETTLE_RESERVE)
                    .unwrap_or(inv.deadline),
            );
            let mut rounds = 0u32;
            while self.clock.now() + self.config.settle <= until {
                self.clock.sleep(self.config.settle).await;
                rounds += 1;
                read_at = now_epoch();
                let next = self.preview(&policy).await?;
                if next == last {
                    break;
                }
                last = next;
                if is_noop(&last) {
                    break;
                }
            }
            tracing::info!(rounds, "waited for the organization to settle");
        }
        if is_noop(&last) {
            self.remember(read_at);
            return Ok(Summary::new(
                c,
                Disposition::NoChange,
                "the StackSet already matches the scope",
            ));
        }
        self.reconcile(c, inv, seed, policy, "the scope changed")
            .await
    }

    /// The schedule: reconcile first (creates, deletes, retries and drift repairs from the
    /// last finished detection), then start a new drift detection without waiting for it:
    /// its results are repaired by the next scheduled run. In an organization where
    /// detection outlasts an invocation, the reconcile still runs every time.
    async fn scheduled(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
    ) -> Result<Summary, HandlerError> {
        let policy = self.config.schedule_policy();
        let mut summary = self
            .reconcile(c, inv, seed, policy.clone(), "scheduled full reconcile")
            .await?;
        if policy.repair_drift && summary.outcome != Disposition::Pending {
            let instances = self
                .stacksets
                .instances(&self.config.stack_set)
                .await
                .map_err(EngineError::from)?;
            if !instances.is_empty() {
                match self
                    .engine()
                    .start_drift_detection(&self.config.stack_set, seed)
                    .await?
                {
                    Some(id) => summary.drift_detection = Some(id),
                    None => summary.warnings.push(
                        "drift detection not started: another StackSet operation was running; \
                         the next scheduled run starts it"
                            .into(),
                    ),
                }
            }
        }
        Ok(summary)
    }

    async fn reconcile(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
        policy: PlanPolicy,
        why: &str,
    ) -> Result<Summary, HandlerError> {
        let mut scope = self.config.scope.clone();
        let mut warnings = Vec::new();
        let done: [OpKind; 0] = [];
        let read_at = now_epoch();
        let outcome = loop {
            let req = Request {
                scope: &scope,
                stack_set: &self.config.stack_set,
                regions: &self.config.regions,
                policy: policy.clone(),
                seed,
                deadline: inv.deadline,
                done_kinds: &done,
                user_change: false,
            };
            match self.engine().reconcile(&req).await {
                Err(EngineError::Expand(ExpandError::AccountsNotInOrganization(missing)))
                    if warnings.is_empty() =>
                {
                    let w = ExpandError::AccountsNotInOrganization(missing.clone()).to_string();
                    tracing::warn!(warning = %w, "listed accounts are not in the organization; reconciling without them");
                    warnings.push(w);
                    scope = without(&scope, &missing);
                }
                other => break other?,
            }
        };
        let mut summary = match outcome {
            Outcome::Pending { operation, .. } => {
                pending(c, operation, "the deadline came while an operation ran")
            }
            Outcome::Done(report) => {
                self.remember(read_at);
                from_report(c, &report, why)
            }
        };
        summary.warnings = warnings;
        Ok(summary)
    }
}

fn is_noop(p: &Preview) -> bool {
    p.0.is_empty() && p.1.is_empty()
}

/// The scope without listed accounts that are no longer in the organization: for
/// INTERSECTION they could not be included, for DIFFERENCE there is nothing to exclude.
fn without(scope: &Scope, missing: &[AccountId]) -> Scope {
    let gone: BTreeSet<&AccountId> = missing.iter().collect();
    Scope {
        targets: scope.targets.clone(),
        mode: scope.mode,
        accounts: scope
            .accounts
            .iter()
            .filter(|a| !gone.contains(a))
            .cloned()
            .collect(),
    }
}

fn pending(c: &Classified, op: OpRecord, why: &str) -> Summary {
    let mut s = Summary::new(
        c,
        Disposition::Pending,
        format!(
            "{why}: StackSet operation {} ({}) is {}; the next invocation or the schedule \
             continues from the state then",
            op.id,
            op.kind.as_str(),
            op.status
        ),
    );
    s.operation_ids.push(op.id.clone());
    s.pending_operation = Some(op);
    s
}

fn from_report(c: &Classified, r: &Report, why: &str) -> Summary {
    let failed: BTreeSet<&AccountId> = r.failures.iter().map(|f| &f.account).collect();
    let op_accounts = |kind: OpKind| -> Vec<AccountId> {
        let mut v: Vec<AccountId> = r
            .operations
            .iter()
            .filter(|o| o.kind == kind)
            .flat_map(|o| o.accounts.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let updated: BTreeSet<AccountId> = op_accounts(OpKind::Update).into_iter().collect();
    let retried: Vec<AccountId> = r
        .plan
        .retry
        .iter()
        .filter(|a| updated.contains(*a))
        .cloned()
        .collect();
    let repaired: Vec<AccountId> = r
        .plan
        .repair
        .iter()
        .filter(|a| updated.contains(*a))
        .cloned()
        .collect();
    let outcome = if r.operations.is_empty() {
        Disposition::NoChange
    } else {
        Disposition::Reconciled
    };
    let reason = if r.operations.is_empty() {
        format!("{why}: the StackSet already matches the scope")
    } else {
        format!("{why}: {} StackSet operation(s)", r.operations.len())
    };
    let mut s = Summary::new(c, outcome, reason);
    s.accounts_added = op_accounts(OpKind::Create)
        .into_iter()
        .filter(|a| !failed.contains(a))
        .collect();
    // A delete that SUCCEEDED can still have failed for some accounts (failure tolerance):
    // those are failures, not removals.
    s.accounts_removed = r
        .operations
        .iter()
        .filter(|o| o.kind == OpKind::Delete && o.status == "SUCCEEDED")
        .flat_map(|o| o.accounts.iter().cloned())
        .filter(|a| !failed.contains(a))
        .collect();
    s.accounts_retried = retried;
    s.accounts_repaired = repaired;
    s.accounts_retained = r.plan.retained.clone();
    s.given_up = r
        .plan
        .given_up
        .iter()
        .map(|h| GivenUp {
            account: h.account.clone(),
            why: h.why.clone(),
            advice: advise(h.account.as_str(), &h.why),
        })
        .collect();
    s.failures = r.failures.clone();
    s.operation_ids = r.operations.iter().map(|o| o.id.clone()).collect();
    s.operations = r.operations.clone();
    s.figures = Some(ReconcileFigures::from_report(r));
    s
}

fn epoch_ms() -> u64 {
    (now_epoch() * 1000.0) as u64
}

fn ids(v: &[AccountId]) -> String {
    v.iter()
        .map(AccountId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn log_summary(s: &Summary) {
    let json = serde_json::to_string(s).unwrap_or_default();
    tracing::info!(
        trigger = s.trigger.kind(),
        event_id = s.event_id.as_deref().unwrap_or(""),
        outcome = s.outcome.as_str(),
        reason = %s.reason,
        accounts_added = %ids(&s.accounts_added),
        accounts_removed = %ids(&s.accounts_removed),
        accounts_retried = %ids(&s.accounts_retried),
        accounts_repaired = %ids(&s.accounts_repaired),
        operation_ids = %s.operation_ids.join(","),
        pending_operation = s.pending_operation.as_ref().map(|o| o.id.as_str()).unwrap_or(""),
        duration_ms = s.duration_ms,
        summary = %json,
        "org-events summary"
    );
    for g in &s.given_up {
        tracing::warn!(account = %g.account, advice = %g.advice, "gave up retrying an account");
    }
    for f in &s.failures {
        tracing::warn!(account = %f.account, region = %f.region, reason = %f.reason, advice = %f.advice, "account not enrolled");
    }
}
