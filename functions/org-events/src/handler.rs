//! One invocation: classify the event, decide cheaply whether it can touch the scope,
//! coalesce, reconcile, and answer with one structured summary.
//!
//! The scope is the deployment stack's (see `config`): read at the start of each run, acted on
//! only while the stack is settled, and checked again right before every StackSet change
//! (`guard`). A run whose check fails plans again from a fresh read, or stands aside.
//!
//! Invocations may run concurrently (no reserved concurrency). What keeps them right:
//! - a run that read the state before another operation started plans again (`guard`);
//! - a run that changed the StackSet reads the accounts it changed again afterwards and goes
//!   on until a read shows nothing to do, so its last change is always followed by a read of
//!   the state after it.
//!
//! Coalescing:
//! - Organizations events reach the function through an SQS queue, in batches (template.yaml:
//!   a 20 s batching window, at most 2 batches at once): a burst is one invocation, which
//!   checks each account once and reconciles the batch's accounts together, in one read and
//!   at most one create and one delete operation;
//! - an operation in progress is waited out before anything is read;
//! - optionally (`Config::settle`, 0 by default: the batching window does it) an
//!   event-triggered change waits until what it read has stayed the same for that long;
//! - an event whose change happened before the start of a full reconcile that this warm
//!   instance completed is already reflected in that reconcile: it costs no AWS call at all.
//!
//! What a batch costs in Organizations calls: per distinct account, `ListParents` (the
//! account's; the OUs above it are remembered by the warm instance, `OuParents`), then for the
//! accounts that can touch the scope `DescribeAccount` and `ListParents` again in the
//! reconcile's read and in the read after its change. Past the point where that costs more
//! than one full read of the scope (known once this instance made one), the batch takes one
//! full read instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use shared::core::{
    advise, plan, AccountId, Batch, ChangeContext, Desired, ExpandError, Filtered, PlanPolicy,
    Scope, ScopeChange,
};
use shared::counted::CallCounts;
use shared::engine::{
    AccountFailure, Engine, EngineConfig, EngineError, OpRecord, Outcome, Report, Request,
};
use shared::feed::{self, NoFeed, Put};
use shared::metrics::{self, EventFigures, ReconcileFigures};
use shared::ports::{AwsError, ChangeFeed, Clock, OpKind, OrganizationsApi, StackApi, StackSetApi};
use shared::wall::epoch_ms;
use thiserror::Error;

use crate::config::{Config, ConfigError, Generation, StackPhase};
use crate::guard::{Guarded, NoStack, Trip};
use crate::time::{format_rfc3339, now_epoch};
use crate::trigger::{deliveries, lead, Classified, Trigger};
use shared::ou_parents::OuParents;

/// An event's change counts as seen by a reconcile that started reading at least this long
/// after it (CloudTrail times have one-second precision).
pub const COVER_MARGIN_SECS: f64 = 2.0;
/// Time kept back from the Lambda deadline to answer.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(20);
/// Time kept for the reconcile itself when settling.
pub const SETTLE_RESERVE: Duration = Duration::from_secs(60);
/// What reading one account costs in a targeted read (`DescribeAccount`, its `ListParents`,
/// and about one more for an OU this instance has not seen yet): used to decide when one full
/// read is cheaper.
pub const TARGETED_CALLS_PER_ACCOUNT: usize = 3;
/// Before this instance has made a full read (so does not know what one costs), a batch about
/// more distinct accounts than this takes the full read.
pub const TARGETED_MAX_ACCOUNTS: usize = 100;
/// The deepest an ancestor walk goes (AWS allows five OU levels under the root).
const MAX_DEPTH: usize = 10;
/// Runs per invocation: the first, plus fresh starts after a refused StackSet change.
pub const MAX_RUNS: u32 = 4;
/// Reconciles per event run: the first, plus those after a read that still showed changes.
pub const MAX_VERIFY_ROUNDS: u32 = 3;

#[derive(Debug, Error)]
pub enum HandlerError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error(
        "the Lambda deadline came while an AWS call was still unanswered; nothing is lost: \
         the next delivery of this event, or the scheduled run, looks again"
    )]
    Deadline,
    #[error(
        "could not read the deployment stack {stack_id} (cloudformation:DescribeStacks), so \
         the scope is unknown and nothing was changed: {error}"
    )]
    Stack { stack_id: String, error: AwsError },
    #[error("the deployment stack's parameters are not a valid scope; nothing was changed: {0}")]
    StackScope(#[from] ConfigError),
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
    /// From `Context.request_id` and `Context::deadline()`, minus a margin to answer in.
    pub fn from_lambda(request_id: &str, deadline: std::time::SystemTime) -> Self {
        let left = shared::wall::left_until(deadline);
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
    /// The deployment stack was being created, updated or deleted (the custom resource owns
    /// the StackSet then), or kept changing under this run: nothing changed.
    StoodAside,
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
            Self::StoodAside => "stood_aside",
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
    /// The delivery's leading event (the schedule, or the first event that is not ignored).
    pub trigger: Trigger,
    pub event_id: Option<String>,
    /// How many events this invocation was given (an SQS batch holds many; the schedule one).
    pub events: usize,
    /// The distinct accounts the events named.
    pub accounts_named: usize,
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
    /// The accounts this invocation enrolled, withdrew, failed or repaired: the change event.
    #[serde(skip)]
    pub change: ScopeChange,
    /// How putting the change event went; `None` when nothing changed (no event).
    pub change_event: Option<Put>,
}

impl Summary {
    fn new(c: &Classified, outcome: Disposition, reason: impl Into<String>) -> Self {
        Self {
            trigger: c.trigger.clone(),
            event_id: c.event_id.clone(),
            events: 1,
            accounts_named: usize::from(c.trigger.account().is_some()),
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
            change: ScopeChange::default(),
            change_event: None,
        }
    }
}

/// Whether to look.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Reconcile(String),
    Skip(String),
}

/// What a batch's events make the run read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// The whole scope.
    Whole,
    /// These accounts only.
    Accounts(Vec<AccountId>),
}

/// State kept by a warm instance between invocations (an optimisation only: a cold start
/// simply checks again).
#[derive(Debug, Default)]
struct Memo {
    /// Wall-clock start of the last reconcile that finished with the StackSet matching the
    /// scope as read.
    converged_read_at: Option<f64>,
    /// Organizations calls of the last full read of the scope.
    full_read_calls: Option<u32>,
}

/// The function, generic over the ports. `K` reads the deployment stack (`NoStack` when the
/// scope comes from the environment); `F` puts the change event (`NoFeed`: none is put).
pub struct Handler<O, S, C, K = NoStack, F = NoFeed> {
    /// The Organizations client, remembering OUs' parents (they never change).
    pub org: OuParents<O>,
    pub stacksets: Guarded<S, K>,
    pub clock: C,
    /// The start-up settings; with a deployment stack, its scope fields are unused.
    pub config: Config,
    pub engine: EngineConfig,
    /// The `IntegrationIdentifier` dimension of the metrics.
    pub integration_id: String,
    /// Counts of the AWS calls `org` and `stacksets` make, when they are wrapped in
    /// `shared::counted::Counted` with these counts (main does); `None`: not reported.
    pub calls: Option<Arc<CallCounts>>,
    /// Where the change event goes (`with_feed`).
    pub feed: F,
    memo: Mutex<Memo>,
    /// The config this run acts on, and the stack generation it came from.
    applied: Mutex<(Arc<Config>, Option<Generation>)>,
    /// One invocation at a time per instance, as Lambda runs them.
    turn: tokio::sync::Mutex<()>,
}

type Preview = (Vec<Batch>, Vec<Batch>);

impl<O, S, C> Handler<O, S, C, NoStack> {
    pub fn new(org: O, stacksets: S, clock: C, config: Config) -> Self {
        Self {
            org: OuParents::new(org),
            stacksets: Guarded::new(stacksets, NoStack),
            clock,
            applied: Mutex::new((Arc::new(config.clone()), None)),
            config,
            engine: EngineConfig::default(),
            integration_id: metrics::DEFAULT_INTEGRATION_IDENTIFIER.into(),
            calls: None,
            feed: NoFeed,
            memo: Mutex::new(Memo::default()),
            turn: tokio::sync::Mutex::new(()),
        }
    }
}

impl<O, S, C, F> Handler<O, S, C, NoStack, F> {
    /// The same handler reading the scope from the deployment stack `config.stack_id`.
    pub fn with_stack<K: StackApi>(self, stack: K) -> Handler<O, S, C, K, F> {
        Handler {
            org: self.org,
            stacksets: Guarded::new(self.stacksets.inner, stack),
            clock: self.clock,
            config: self.config,
            engine: self.engine,
            integration_id: self.integration_id,
            calls: self.calls,
            feed: self.feed,
            memo: self.memo,
            applied: self.applied,
            turn: self.turn,
        }
    }
}

impl<O, S, C, K> Handler<O, S, C, K, NoFeed> {
    /// The same handler putting its change events on `feed`.
    pub fn with_feed<F: ChangeFeed>(self, feed: F) -> Handler<O, S, C, K, F> {
        Handler {
            org: self.org,
            stacksets: self.stacksets,
            clock: self.clock,
            config: self.config,
            engine: self.engine,
            integration_id: self.integration_id,
            calls: self.calls,
            feed,
            memo: self.memo,
            applied: self.applied,
            turn: self.turn,
        }
    }
}

impl<O: OrganizationsApi, S: StackSetApi, C: Clock, K: StackApi, F: ChangeFeed>
    Handler<O, S, C, K, F>
{
    /// The config of the current run.
    fn cfg(&self) -> Arc<Config> {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    fn engine(&self) -> Engine<'_, OuParents<O>, Guarded<S, K>, C> {
        Engine {
            org: &self.org,
            stacksets: &self.stacksets,
            clock: &self.clock,
            config: self.engine.clone(),
        }
    }

    /// Handles one event and logs its summary.
    pub async fn handle(&self, event: &Value, inv: &Invocation) -> Result<Summary, HandlerError> {
        let _turn = self.turn.lock().await;
        let started = self.clock.now();
        let calls_before = self.calls.as_ref().map(|c| c.snapshot());
        let batch = deliveries(event);
        let classified = lead(&batch);
        // A hard stop half a margin after the working deadline: an AWS call that hangs or is
        // retried through an outage must not run into Lambda's own timeout.
        let hard_stop =
            inv.deadline.saturating_duration_since(self.clock.now()) + DEADLINE_MARGIN / 2;
        let result =
            match tokio::time::timeout(hard_stop, self.runs(&batch, &classified, inv)).await {
                Ok(r) => r.map(|mut s| {
                    s.events = batch.len();
                    s.accounts_named = named_in(batch.iter()).len();
                    s
                }),
                Err(_) => Err(HandlerError::Deadline),
            };
        // The change event: after the work, within what is left of the hard stop; its
        // failure is logged and counted, and changes nothing else.
        let result = match result {
            Ok(mut summary) => {
                let within = (inv.deadline + DEADLINE_MARGIN / 2)
                    .saturating_duration_since(self.clock.now())
                    .max(Duration::from_secs(1));
                summary.change_event = feed::publish(
                    &self.feed,
                    &summary.change,
                    &self.change_context(&classified, &summary),
                    within,
                )
                .await;
                Ok(summary)
            }
            e => e,
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
                received: batch.len() as u64,
                touched_scope: s.is_some_and(|s| !s.operations.is_empty()),
            }),
            change_event: s.and_then(|s| s.change_event),
        };
        match result {
            Ok(mut summary) => {
                summary.duration_ms = ms;
                summary.metrics_line =
                    metrics::render(&self.integration_id, epoch_ms(), &record(Some(&summary)));
                log_summary(&summary);
                metrics::print(&summary.metrics_line);
                Ok(summary)
            }
            Err(e) => {
                metrics::print(&metrics::render(
                    &self.integration_id,
                    epoch_ms(),
                    &record(None),
                ));
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

    /// What the change event says about where it came from.
    fn change_context(&self, c: &Classified, s: &Summary) -> ChangeContext {
        ChangeContext {
            integration_identifier: self.integration_id.clone(),
            function: "org-events".into(),
            trigger: c.trigger.kind().to_owned(),
            event_id: c.event_id.clone(),
            stack_id: self.config.stack_id.clone(),
            stack_set_name: self.cfg().stack_set.clone(),
            operation_ids: s.operation_ids.clone(),
        }
    }

    /// Reads the scope, runs, and starts afresh when a StackSet change was refused.
    async fn runs(
        &self,
        batch: &[Classified],
        c: &Classified,
        inv: &Invocation,
    ) -> Result<Summary, HandlerError> {
        if let Trigger::Ignored { why } = &c.trigger {
            tracing::warn!(why = %why, "event ignored");
            return Ok(Summary::new(c, Disposition::Ignored, why.clone()));
        }
        let mut last = String::new();
        for attempt in 0..MAX_RUNS {
            if let Some(why) = self.resolve(inv).await? {
                return Ok(Summary::new(c, Disposition::StoodAside, why));
            }
            let result = self.run(batch, c, inv, attempt).await;
            match self.stacksets.take_trip() {
                Some(trip) if result.is_err() => {
                    tracing::info!(why = %trip.why(), attempt, "StackSet change refused; reading again");
                    last = match trip {
                        Trip::Stack(w) | Trip::Superseded(w) => w,
                    };
                }
                _ => return result,
            }
        }
        Ok(Summary::new(
            c,
            Disposition::StoodAside,
            format!(
                "the state kept changing under this run ({last}); nothing more was changed: \
                 the next event or the scheduled run looks again"
            ),
        ))
    }

    /// With a deployment stack: waits while CloudFormation works on it, then takes its
    /// parameters as this run's scope. `Some(why)` when the run must stand aside.
    async fn resolve(&self, inv: &Invocation) -> Result<Option<String>, HandlerError> {
        let Some(id) = self.config.stack_id.clone() else {
            self.stacksets.set_call_as(self.config.call_as);
            self.stacksets.arm(None, None);
            return Ok(None);
        };
        loop {
            let stack = match self.stacksets.stack.describe_stack(&id).await {
                Ok(s) => s,
                Err(AwsError::NotFound { .. }) => {
                    return Ok(Some(format!(
                        "the deployment stack {id} does not exist: nothing to do"
                    )))
                }
                Err(error) => {
                    return Err(HandlerError::Stack {
                        stack_id: id,
                        error,
                    })
                }
            };
            match StackPhase::of(&stack.status) {
                StackPhase::Settled => {
                    let generation = Generation::of(&stack);
                    let config = self.config.with_stack_parameters(&stack)?;
                    self.stacksets.set_call_as(config.call_as);
                    let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
                    if applied.1.as_ref() != Some(&generation) {
                        // What a reconcile under another scope covered says nothing now.
                        if let Ok(mut m) = self.memo.lock() {
                            *m = Memo::default();
                        }
                        tracing::info!(targets = config.scope.targets.len(), mode = %config.scope.mode, accounts = config.scope.accounts.len(), stack_set = %config.stack_set, "scope read from the deployment stack");
                    }
                    *applied = (Arc::new(config), Some(generation.clone()));
                    drop(applied);
                    self.stacksets.arm(Some(id), Some(generation));
                    return Ok(None);
                }
                StackPhase::Gone => {
                    return Ok(Some(format!(
                        "the deployment stack is {}: the custom resource removes (or removed) \
                         every stack instance, and org-events changes nothing",
                        stack.status
                    )))
                }
                StackPhase::Stuck => {
                    return Ok(Some(format!(
                        "the deployment stack is {}: org-events changes nothing until the \
                         stack is settled again (continue or roll back its update in \
                         CloudFormation)",
                        stack.status
                    )))
                }
                StackPhase::Busy => {
                    let poll = self.config.stack_poll;
                    if self.clock.now() + poll + SETTLE_RESERVE >= inv.deadline {
                        return Ok(Some(format!(
                            "the deployment stack was still {} at this invocation's deadline: \
                             the custom resource is applying the scope; the next event or the \
                             scheduled run looks again",
                            stack.status
                        )));
                    }
                    tracing::info!(status = %stack.status, "the deployment stack is changing; waiting for it to settle");
                    self.clock.sleep(poll).await;
                }
            }
        }
    }

    async fn run(
        &self,
        batch: &[Classified],
        c: &Classified,
        inv: &Invocation,
        attempt: u32,
    ) -> Result<Summary, HandlerError> {
        let cfg = self.cfg();
        let seed = match attempt {
            0 => format!("{}/{}", inv.request_id, c.trigger.kind()),
            n => format!("{}/{}/{n}", inv.request_id, c.trigger.kind()),
        };
        if c.trigger == Trigger::Schedule {
            self.engine().check_stack_set(&cfg.stack_set).await?;
            return self.scheduled(c, inv, &seed).await;
        }
        let live = batch
            .iter()
            .filter(|e| !matches!(e.trigger, Trigger::Ignored { .. } | Trigger::Schedule));
        // Events a full reconcile of this instance already read past cost nothing.
        let mut covered = None;
        let open: Vec<&Classified> = live
            .filter(|e| match self.covered(e) {
                Some(why) => {
                    covered.get_or_insert(why);
                    false
                }
                None => true,
            })
            .collect();
        if open.is_empty() {
            let why = covered.unwrap_or_default();
            return Ok(Summary::new(c, Disposition::AlreadyCovered, why));
        }
        let target = match self.look(&open).await {
            Err(why) => return Ok(Summary::new(c, Disposition::NotRelevant, why)),
            Ok((target, why)) => {
                tracing::info!(why = %why, "events may touch the scope");
                target
            }
        };
        self.engine().check_stack_set(&cfg.stack_set).await?;
        self.on_event(c, inv, &seed, &target).await
    }

    /// The cheap check of a batch's events, once per distinct account: `Ok` with what to read
    /// (the accounts that can touch the scope, or the whole scope), `Err` with why none can.
    /// An event that names no account (a membership event without one, a target OU deleted)
    /// takes the whole scope; so does a batch about more accounts than a full read costs.
    async fn look(&self, events: &[&Classified]) -> Result<(Target, String), String> {
        let accounts = named_in(events.iter().copied());
        if self.whole_read_is_cheaper(accounts.len()) {
            return Ok((
                Target::Whole,
                format!(
                    "{} events name {} accounts: one full read of the scope costs less than \
                     reading them one by one",
                    events.len(),
                    accounts.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        let (mut touch, mut skipped, mut reasons) = (BTreeSet::new(), Vec::new(), Vec::new());
        for e in events {
            // Once per account; a departure is checked apart (it looks at the instances only,
            // and the same account may have joined again within the batch).
            if let Some(a) = e.trigger.account() {
                let left = matches!(e.trigger, Trigger::AccountLeft { .. });
                if !seen.insert((a.clone(), left)) {
                    continue;
                }
            }
            let decision = match self.relevance(&e.trigger).await {
                Ok(d) => d,
                Err(err) => {
                    tracing::warn!(error = %err, "relevance check failed; reconciling anyway");
                    Decision::Reconcile(format!(
                        "the check of a {} event failed ({err}): looking anyway",
                        e.trigger.kind()
                    ))
                }
            };
            match (decision, e.trigger.account()) {
                (Decision::Skip(why), _) => skipped.push(why),
                (Decision::Reconcile(why), Some(a)) => {
                    touch.insert(a.clone());
                    reasons.push(why);
                }
                (Decision::Reconcile(why), None) => return Ok((Target::Whole, why)),
            }
        }
        if touch.is_empty() {
            return Err(match skipped.as_slice() {
                [one] => one.clone(),
                many => format!(
                    "none of the {} events can touch the scope ({} checked): {}",
                    events.len(),
                    many.len(),
                    first_few(many)
                ),
            });
        }
        Ok((
            Target::Accounts(touch.into_iter().collect()),
            first_few(&reasons),
        ))
    }

    /// Whether one full read (and one after the change) costs fewer Organizations calls than
    /// reading `accounts` one by one (twice).
    fn whole_read_is_cheaper(&self, accounts: usize) -> bool {
        if accounts <= 1 {
            return false;
        }
        let known = self.memo.lock().ok().and_then(|m| m.full_read_calls);
        match known {
            Some(full) => 1 + accounts * TARGETED_CALLS_PER_ACCOUNT > full as usize,
            None => accounts > TARGETED_MAX_ACCOUNTS,
        }
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

    /// What a full read of the scope cost, for [`Self::whole_read_is_cheaper`].
    fn remember_full_read(&self, calls: u32) {
        if let Ok(mut m) = self.memo.lock() {
            m.full_read_calls = Some(calls);
        }
    }

    /// The cheap check: can this event change which accounts should have an instance, or
    /// which instances should exist? One `ListStackInstances` for the event's account and a
    /// few `ListParents`.
    async fn relevance(&self, t: &Trigger) -> Result<Decision, AwsError> {
        let cfg = self.cfg();
        let scope = &cfg.scope;
        let is_target = |id: &str| scope.targets.iter().any(|x| x.as_str() == id);
        match t {
            Trigger::Schedule => Ok(Decision::Reconcile("scheduled".into())),
            Trigger::MembershipChanged { via } => Ok(Decision::Reconcile(format!(
                "{via} names no account this code can read: the whole scope is checked"
            ))),
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
                // Only this account's instances: one call, whatever the StackSet's size.
                let instances = self
                    .stacksets
                    .instances_of(&cfg.stack_set, std::slice::from_ref(account))
                    .await?;
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
                // The account filter is the scope's own rule (`Scope::filter`), as in the
                // expansion: nothing re-decided here.
                match scope.filter(account) {
                    Filtered::NotListed => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is not in TargetAccountIds (INTERSECTION) and \
                             has no stack instance"
                        )))
                    }
                    Filtered::ExcludedByList => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is excluded by TargetAccountIds (DIFFERENCE) \
                             and has no stack instance"
                        )))
                    }
                    Filtered::Selected => {}
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
        let cfg = self.cfg();
        let scope = &cfg.scope;
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

    /// Reads the organization and the instances and plans create/delete, without acting:
    /// the whole scope, or `only` these accounts (what the scope's rules say about them, and
    /// their instances). The engine's reads and the one planner; nothing re-decided here.
    async fn preview(
        &self,
        policy: &PlanPolicy,
        only: Option<&[AccountId]>,
    ) -> Result<Preview, EngineError> {
        let cfg = self.cfg();
        let scope = cfg.scope.clone();
        let engine = self.engine();
        let expanded = match only {
            None => engine.expand(&scope).await,
            Some(accounts) => engine.expand_accounts(&scope, accounts).await,
        };
        let (expansion, _) = match expanded {
            Err(EngineError::Expand(ExpandError::AccountsNotInOrganization(missing))) => {
                engine.expand(&without(&scope, &missing)).await?
            }
            other => other?,
        };
        let instances = match only {
            None => self.stacksets.instances(&cfg.stack_set).await?,
            Some(accounts) => {
                self.stacksets
                    .instances_of(&cfg.stack_set, accounts)
                    .await?
            }
        };
        let desired = Desired {
            accounts: expansion.account_ids(),
            regions: cfg.regions.clone(),
        };
        let p = plan(&desired, &instances, &BTreeMap::new(), policy);
        Ok((p.create, p.delete))
    }

    /// Settles and reconciles; after a change, reads again (and reconciles again) until a read
    /// shows nothing to do: a concurrent run may have planned from a read older than this
    /// run's change, and this read is what makes the last change right.
    async fn on_event(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
        target: &Target,
    ) -> Result<Summary, HandlerError> {
        let only = match target {
            Target::Whole => None,
            Target::Accounts(a) => Some(a.as_slice()),
        };
        let mut summary = self.settle_and_reconcile(c, inv, seed, only).await?;
        // After a change, the accounts it changed are read again: a run that read them before
        // this change started (another batch, at most one at a time beside this one) may have
        // planned the opposite. Other accounts were not touched by this run; a change to them
        // comes with its own event.
        let mut changed = operated(&summary);
        for round in 1..MAX_VERIFY_ROUNDS {
            if summary.outcome != Disposition::Reconciled || changed.is_empty() {
                break;
            }
            let next = self
                .settle_and_reconcile(c, inv, &format!("{seed}/after{round}"), Some(&changed))
                .await?;
            match next.outcome {
                Disposition::NoChange => break,
                _ => {
                    tracing::info!(
                        round,
                        "the state changed during this run's change; reconciled again"
                    );
                    changed = operated(&next);
                    summary = merged(summary, next);
                }
            }
        }
        Ok(summary)
    }

    async fn settle_and_reconcile(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
        only: Option<&[AccountId]>,
    ) -> Result<Summary, HandlerError> {
        let cfg = self.cfg();
        let engine = self.engine();
        let policy = cfg.event_policy();
        if let Some(busy) = engine.wait_idle(&cfg.stack_set, inv.deadline).await? {
            return Ok(pending(
                c,
                busy,
                "an operation was still running at the deadline",
            ));
        }
        // Without a settle time, the reconcile's own read decides (one read, not two).
        if cfg.settle.is_zero() {
            let why = match only {
                Some(_) => "the account changed",
                None => "the scope changed",
            };
            return self.reconcile(c, inv, seed, policy, why, only).await;
        }
        let mut read_at = now_epoch();
        let mut last = self.preview(&policy, only).await?;
        if !is_noop(&last) {
            let until = (self.clock.now() + cfg.settle_max).min(
                inv.deadline
                    .checked_sub(SETTLE_RESERVE)
                    .unwrap_or(inv.deadline),
            );
            let mut rounds = 0u32;
            while self.clock.now() + cfg.settle <= until {
                self.clock.sleep(cfg.settle).await;
                rounds += 1;
                read_at = now_epoch();
                let next = self.preview(&policy, only).await?;
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
            let why = match only {
                // A check of some accounts says nothing about the others: not remembered.
                Some(accounts) => format!(
                    "the StackSet already matches the scope for account {}",
                    ids(accounts)
                ),
                None => {
                    self.remember(read_at);
                    "the StackSet already matches the scope".into()
                }
            };
            return Ok(Summary::new(c, Disposition::NoChange, why));
        }
        if let Some(accounts) = only {
            return self
                .reconcile(c, inv, seed, policy, "the account changed", Some(accounts))
                .await;
        }
        self.reconcile(c, inv, seed, policy, "the scope changed", None)
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
        let cfg = self.cfg();
        let policy = cfg.schedule_policy();
        let mut summary = self
            .reconcile(
                c,
                inv,
                seed,
                policy.clone(),
                "scheduled full reconcile",
                None,
            )
            .await?;
        if policy.repair_drift && summary.outcome != Disposition::Pending {
            let instances = self
                .stacksets
                .instances(&cfg.stack_set)
                .await
                .map_err(EngineError::from)?;
            if !instances.is_empty() {
                match self
                    .engine()
                    .start_drift_detection(&cfg.stack_set, seed)
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
        only: Option<&[AccountId]>,
    ) -> Result<Summary, HandlerError> {
        let cfg = self.cfg();
        let mut scope = cfg.scope.clone();
        let mut warnings = Vec::new();
        let done: [OpKind; 0] = [];
        let read_at = now_epoch();
        let outcome = loop {
            let req = Request {
                scope: &scope,
                stack_set: &cfg.stack_set,
                regions: &cfg.regions,
                policy: policy.clone(),
                seed,
                deadline: inv.deadline,
                done_kinds: &done,
                user_change: false,
            };
            let outcome = match only {
                None => self.engine().reconcile(&req).await,
                Some(accounts) => self.engine().reconcile_accounts(&req, accounts).await,
            };
            match outcome {
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
                if only.is_none() {
                    self.remember_full_read(report.read_stats.total());
                    self.remember(read_at);
                }
                let mut s = from_report(c, &report, why);
                if let (Some(f), Some(_)) = (s.figures.as_mut(), only) {
                    f.whole_scope = false;
                }
                s
            }
        };
        summary.warnings = warnings;
        Ok(summary)
    }
}

/// Up to five reasons, then how many more: a batch of a thousand events logs one line, not a
/// thousand reasons.
fn first_few(reasons: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = reasons
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > SHOWN {
        text.push_str(&format!("; and {} more", reasons.len() - SHOWN));
    }
    text
}

/// The accounts a run's operations named.
/// The accounts `s`'s operations acted on, but those left waiting for their execution role
/// (`AccountFailure::awaits_account`): reading them again in the same run cannot find the deny
/// lifted, and would only retry them once more.
fn operated(s: &Summary) -> Vec<AccountId> {
    let waiting: BTreeSet<&AccountId> = s
        .failures
        .iter()
        .filter(|f| f.awaits_account())
        .map(|f| &f.account)
        .collect();
    let set: BTreeSet<AccountId> = s
        .operations
        .iter()
        .flat_map(|o| o.accounts.iter().cloned())
        .filter(|a| !waiting.contains(a))
        .collect();
    set.into_iter().collect()
}

/// `first`, then `next`: what both changed, and how the second ended.
fn merged(first: Summary, next: Summary) -> Summary {
    let mut s = next;
    let cat = |a: Vec<AccountId>, b: Vec<AccountId>| -> Vec<AccountId> {
        let mut v = a;
        v.extend(b);
        v
    };
    s.accounts_added = cat(first.accounts_added, s.accounts_added);
    s.accounts_removed = cat(first.accounts_removed, s.accounts_removed);
    s.accounts_retried = cat(first.accounts_retried, s.accounts_retried);
    s.accounts_repaired = cat(first.accounts_repaired, s.accounts_repaired);
    let mut ids = first.operation_ids;
    ids.extend(s.operation_ids);
    s.operation_ids = ids;
    let mut ops = first.operations;
    ops.extend(s.operations);
    s.operations = ops;
    let mut w = first.warnings;
    w.extend(s.warnings);
    s.warnings = w;
    let mut change = first.change;
    change.merge(s.change);
    s.change = change;
    s
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
    s.change = r.scope_change();
    s
}

/// The distinct accounts the events name.
fn named_in<'a>(events: impl Iterator<Item = &'a Classified>) -> BTreeSet<AccountId> {
    events
        .filter_map(|e| e.trigger.account().cloned())
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_of_reasons_shows_five_and_counts_the_rest() {
        let many: Vec<String> = (0..1000).map(|i| format!("account {i}: outside")).collect();
        let text = first_few(&many);
        assert!(
            text.starts_with("account 0: outside; account 1: outside"),
            "{text}"
        );
        assert!(text.ends_with("account 4: outside; and 995 more"), "{text}");
        assert_eq!(
            first_few(&many[..2]),
            "account 0: outside; account 1: outside"
        );
    }
}
