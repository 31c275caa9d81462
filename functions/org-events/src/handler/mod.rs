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
//! account's; the OUs above it are remembered by the warm instance, `OuParents`), with a tag
//! filter its `ListTagsForResource`, then for the accounts that can touch the scope
//! `DescribeAccount` in the reconcile's read (which takes the parent and tags the triage just
//! read, handed over once by `OuParents`), and `DescribeAccount`, `ListParents` and (with a tag
//! filter) `ListTagsForResource` again in the read after its change. A tag event without a tag
//! filter costs nothing; one on an OU, a root or a policy is ignored before any call. Past the
//! point where that costs more than one full read of the scope (known once this instance made
//! one), the batch takes one full read instead.

mod flows;
mod memo;
mod partial;
mod scope;
mod summary;
mod triage;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::core::ChangeContext;
use shared::counted::CallCounts;
use shared::engine::{Engine, EngineConfig, EngineError};
use shared::feed::{self, NoFeed};
use shared::metrics::{self, EventFigures};
use shared::ou_parents::OuParents;
use shared::ports::{AwsError, ChangeFeed, Clock, OrganizationsApi, StackApi, StackSetApi};
use thiserror::Error;

use crate::config::{Config, ConfigError, Generation};
use crate::guard::{Guarded, NoStack, Trip};
use crate::trigger::{deliveries, lead, Classified, Trigger};
use memo::Memo;
use shared::wall::epoch_ms;
use summary::log_summary;
pub use summary::{BatchItemFailure, Disposition, GivenUp, Summary};
use triage::{named_in, Triage};

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
    memo: Memo,
    /// The config this run acts on, and the stack generation it came from.
    applied: Mutex<(Arc<Config>, Option<Generation>)>,
    /// One invocation at a time per instance, as Lambda runs them.
    turn: tokio::sync::Mutex<()>,
}

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
            memo: Memo::default(),
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

    /// The cheap check of events against the scope of this run.
    fn triage<'a>(&'a self, cfg: &'a Config) -> Triage<'a, OuParents<O>, Guarded<S, K>> {
        Triage {
            org: &self.org,
            stacksets: &self.stacksets,
            scope: &cfg.scope,
            stack_set: &cfg.stack_set,
            memo: &self.memo,
        }
    }

    /// Handles one event and logs its summary.
    pub async fn handle(&self, event: &Value, inv: &Invocation) -> Result<Summary, HandlerError> {
        let _turn = self.turn.lock().await;
        // OU names and the triage's hand-over are this invocation's only.
        self.org.begin_invocation();
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
        let result = match result {
            Err(e) => self.without_whole_scope_events(event, &batch, inv, e).await,
            ok => ok,
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
        // Operations an attempt started before a later change of it was refused: reported
        // with the run's, so that the summary names every operation this invocation started.
        let mut earlier: Vec<String> = Vec::new();
        let with_earlier = |mut s: Summary, earlier: &[String]| {
            let mut ids = earlier.to_vec();
            ids.extend(s.operation_ids);
            s.operation_ids = ids;
            s
        };
        for attempt in 0..MAX_RUNS {
            if let Some(why) = self.resolve(inv).await? {
                let s = Summary::new(c, Disposition::StoodAside, why);
                return Ok(with_earlier(s, &earlier));
            }
            let result = self.run(batch, c, inv, attempt).await;
            match self.stacksets.take_trip() {
                Some(trip) if result.is_err() => {
                    tracing::info!(why = %trip.why(), attempt, "StackSet change refused; reading again");
                    earlier.extend(self.stacksets.own());
                    last = match trip {
                        Trip::Stack(w) | Trip::Superseded(w) => w,
                    };
                }
                _ => return result.map(|s| with_earlier(s, &earlier)),
            }
        }
        let s = Summary::new(
            c,
            Disposition::StoodAside,
            format!(
                "the state kept changing under this run ({last}); nothing more was changed: \
                 the next event or the scheduled run looks again"
            ),
        );
        Ok(with_earlier(s, &earlier))
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
        let triage = self.triage(&cfg);
        let live = batch
            .iter()
            .filter(|e| !matches!(e.trigger, Trigger::Ignored { .. } | Trigger::Schedule));
        // Events a full reconcile of this instance already read past cost nothing.
        let mut covered = None;
        let open: Vec<&Classified> = live
            .filter(|e| match triage.covered(e) {
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
        // What the triage reads of an account (its parent, its tags) is handed to the read
        // that follows it, once: that read would ask the same a moment later.
        self.org.hand_over(true);
        let looked = triage.look(&open).await;
        self.org.hand_over(false);
        let target = match looked {
            Err(why) => return Ok(Summary::new(c, Disposition::NotRelevant, why)),
            Ok((target, why)) => {
                tracing::info!(why = %why, "events may touch the scope");
                target
            }
        };
        self.engine().check_stack_set(&cfg.stack_set).await?;
        self.on_event(c, inv, &seed, &target).await
    }
}
