//! The custom resource: Create/Update reconcile the StackSet's instances to the scope, Delete
//! removes them all. Every path ends in exactly one answer to CloudFormation, or in a
//! re-invocation that carries the wait over (and answers later).

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as CfnRequest;
use futures::FutureExt;
use serde::Serialize;
use serde_json::Value;
use shared::core::{Expansion, CUSTOM_RESOURCE_TAG_READS_PER_STEP};
use shared::counted::CallCounts;
use shared::engine::{Engine, EngineConfig, EngineError};
use shared::feed::{self, NoFeed};
use shared::metrics::{self, ReconcileFigures};
use shared::ports::{ChangeFeed, Clock, IdentityApi, OrganizationsApi, StackSetApi};
use shared::wall::epoch_ms;

use crate::payload;
use crate::props::Props;
use crate::recording::{Mutations, Recording};
use crate::response::{response, Status};

mod answer;
mod changed;
mod checks;
mod continuation;
mod delete;
mod process;
mod request;

use changed::Changed;
use continuation::Step;
pub use continuation::{Continuation, CONTINUATION_KEY};
use request::{common, str_field, Common};

/// PhysicalResourceId of a resource whose Create failed before it changed anything: its
/// Delete must touch nothing.
pub const FAILED_CREATE_PREFIX: &str = "orgscope-create-failed/";
/// PhysicalResourceId of a live resource, derived from the StackSet name. Every answer to a
/// Create that may have changed the StackSet carries it, FAILED ones included, so that
/// CloudFormation's rollback Delete removes what the Create made.
pub const PHYSICAL_PREFIX: &str = "stackset-instances/";

/// Sends the response body to the presigned ResponseURL.
pub trait Responder: Send + Sync {
    fn put(&self, url: &str, body: &str) -> impl Future<Output = Result<(), String>> + Send;
}

/// Re-invokes this function asynchronously with a continuation.
pub trait Reinvoker: Send + Sync {
    fn reinvoke(&self, payload: &Value) -> impl Future<Output = Result<(), String>> + Send;
}

/// What this invocation knows about itself.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// When Lambda stops the function.
    pub deadline: Instant,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Stop working this long before the Lambda deadline, to answer or re-invoke.
    pub margin: Duration,
    /// Total time for one CloudFormation request across invocations (CloudFormation waits
    /// at most ServiceTimeout = 3600 s).
    pub budget: Duration,
    pub default_region: String,
    pub engine: EngineConfig,
    /// The `IntegrationIdentifier` dimension of the metrics.
    pub integration_id: String,
    /// Counts of the AWS calls `org` and `stacksets` make, when they are wrapped in
    /// `shared::counted::Counted` with these counts (main does); `None`: not reported.
    pub calls: Option<Arc<CallCounts>>,
    /// The figures of the reconcile pass this invocation completed (one invocation at a time
    /// per instance: Lambda's model).
    figures: Arc<Mutex<Option<ReconcileFigures>>>,
    /// The change the request made, to put on the feed once CloudFormation has its answer.
    change: Arc<Mutex<Option<Changed>>>,
    /// The largest continuation payload sent, in bytes (`payload::BUDGET`: under Lambda's
    /// asynchronous payload limit, with a margin).
    pub continuation_budget: usize,
    /// With a tag filter, the most `ListTagsForResource` calls one invocation makes
    /// ([`CUSTOM_RESOURCE_TAG_READS_PER_STEP`]): more candidates are read one slice per
    /// invocation, and Create/Update answer after the last slice.
    pub tag_reads_per_step: u32,
}

impl Settings {
    pub fn new(default_region: &str) -> Self {
        Self {
            margin: Duration::from_secs(30),
            budget: Duration::from_secs(55 * 60),
            default_region: default_region.into(),
            engine: EngineConfig::default(),
            integration_id: metrics::DEFAULT_INTEGRATION_IDENTIFIER.into(),
            calls: None,
            figures: Arc::default(),
            change: Arc::default(),
            continuation_budget: payload::BUDGET,
            tag_reads_per_step: CUSTOM_RESOURCE_TAG_READS_PER_STEP,
        }
    }
}

/// What one invocation did, returned to Lambda and logged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub request_type: String,
    pub answered: Option<String>,
    pub reinvoked: bool,
    pub operations: Vec<String>,
    pub accounts: usize,
    pub duration_ms: u64,
    /// The Embedded Metric Format line printed for this invocation.
    #[serde(skip)]
    pub metrics_line: String,
    /// How putting the change event went; `None` when nothing changed (no event).
    pub change_event: Option<feed::Put>,
}

/// The function, generic over the ports; `F` puts the change event (`NoFeed`: none).
pub struct Handler<O, S, I, C, P, R, F = NoFeed> {
    pub org: O,
    pub stacksets: S,
    pub identity: I,
    pub clock: C,
    pub responder: P,
    pub reinvoker: R,
    pub feed: F,
    pub settings: Settings,
}

/// The ResponseURL without its query (the signature is a credential).
pub fn redact(url: &str) -> String {
    let base = url.split('?').next().unwrap_or_default();
    format!("{base}?<signature redacted>")
}

/// The time one request may still take, and when this invocation stops working on it.
struct Budget {
    /// When CloudFormation's request was first seen (epoch ms), in this or an earlier
    /// invocation.
    first_seen_ms: u64,
    /// Stop starting work: the budget's end or Lambda's deadline less the margin.
    deadline: Instant,
    /// A hard stop shortly before Lambda's own.
    hard_stop: Duration,
}

impl<O, S, I, C, P, R, F> Handler<O, S, I, C, P, R, F>
where
    O: OrganizationsApi,
    S: StackSetApi,
    I: IdentityApi,
    C: Clock,
    P: Responder,
    R: Reinvoker,
    F: ChangeFeed,
{
    /// The engine for one request, its StackSet calls recorded in `stacksets`.
    fn engine<'a>(&'a self, stacksets: &'a Recording<'a, S>) -> Engine<'a, O, Recording<'a, S>, C> {
        Engine {
            org: &self.org,
            stacksets,
            clock: &self.clock,
            config: self.settings.engine.clone(),
        }
    }

    /// Handles one invocation: a CloudFormation request, or a continuation of one.
    pub async fn handle(&self, payload: Value, inv: Invocation) -> Summary {
        let calls_before = self.settings.calls.as_ref().map(|c| c.snapshot());
        if let Ok(mut f) = self.settings.figures.lock() {
            *f = None;
        }
        if let Ok(mut c) = self.settings.change.lock() {
            *c = None;
        }
        let deadline = inv.deadline;
        let stack_id = payload
            .get(CONTINUATION_KEY)
            .and_then(|c| c.get("Request"))
            .unwrap_or(&payload)
            .get("StackId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut summary = self.handle_request(payload, inv).await;
        self.publish_change(&mut summary, deadline, stack_id).await;
        let record = metrics::Record {
            function: "custom-resource",
            trigger: summary.request_type.clone(),
            calls: self
                .settings
                .calls
                .as_ref()
                .zip(calls_before)
                .map(|(c, before)| c.snapshot().since(before)),
            duration_ms: summary.duration_ms,
            reconcile: self.settings.figures.lock().ok().and_then(|mut f| f.take()),
            scheduled: false,
            event: None,
            change_event: summary.change_event,
        };
        summary.metrics_line = metrics::render(&self.settings.integration_id, epoch_ms(), &record);
        metrics::print(&summary.metrics_line);
        summary
    }

    async fn handle_request(&self, payload: Value, inv: Invocation) -> Summary {
        let started = self.clock.now();
        let (raw, carried, mut c) = match self.read_request(payload, started).await {
            Ok(read) => read,
            Err(summary) => return summary,
        };
        tracing::info!(
            request_type = c.request_type.as_str(),
            request_id = %c.request_id,
            stack_id = %c.stack_id,
            logical_resource_id = %c.logical_resource_id,
            response_url = %redact(&c.response_url),
            hop = carried.as_ref().map(|x| x.hop).unwrap_or(0),
            "custom resource request"
        );
        c.stack_set = Props::parse(&c.props, &self.settings.default_region)
            .ok()
            .map(|p| p.stack_set);
        c.mutations = Mutations::carried(carried.as_ref().is_some_and(|x| x.mutated));
        let budget = self.budget(carried.as_ref(), &inv);
        let step = self.guarded(&c, carried.as_ref(), &budget).await;
        let mut summary = Summary::empty(c.request_type.as_str(), started, &self.clock);
        match step {
            Step::Answer {
                response,
                operations,
                accounts,
            } => {
                summary.operations = operations;
                summary.accounts = accounts;
                summary.answered = Some(self.answer(&c.response_url, response).await);
            }
            Step::Continue(mut cont) => {
                cont.carry_over(
                    raw,
                    budget.first_seen_ms,
                    c.mutations.any(),
                    carried.as_ref(),
                );
                self.carry_on_or_give_up(&c, cont, &mut summary).await;
            }
        }
        summary.duration_ms = self.clock.now().duration_since(started).as_millis() as u64;
        tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "custom resource invocation done");
        summary
    }

    /// The request, and the continuation it came in (if any). `Err`: nothing this function can
    /// work on; a request CloudFormation waits for (it has a ResponseURL) was answered FAILED.
    async fn read_request(
        &self,
        payload: Value,
        started: Instant,
    ) -> Result<(Value, Option<Continuation>, Common), Summary> {
        let (raw, carried) = match payload.get(CONTINUATION_KEY) {
            Some(c) => match serde_json::from_value::<Continuation>(c.clone()) {
                Ok(c) => (c.request.clone(), Some(c)),
                Err(e) => {
                    tracing::error!(error = %e, "malformed continuation; nothing to answer");
                    return Err(Summary::empty("Continuation", started, &self.clock));
                }
            },
            None => (payload, None),
        };
        let parsed: Result<CfnRequest, _> = serde_json::from_value(raw.clone());
        let Some(c) = parsed.as_ref().ok().and_then(common) else {
            // Not a request we understand. If it has a ResponseURL, CloudFormation is waiting:
            // answer FAILED so that the stack does not hang for an hour.
            let url = str_field(&raw, "ResponseURL");
            let why = match &parsed {
                Err(e) => format!("the request could not be read: {e}"),
                Ok(_) => "unsupported RequestType".into(),
            };
            tracing::error!(%why, "malformed CloudFormation request");
            let mut s = Summary::empty("Unknown", started, &self.clock);
            if url.is_empty() {
                return Err(s);
            }
            let mut resp = response(
                Status::Failed,
                match str_field(&raw, "PhysicalResourceId") {
                    p if p.is_empty() => "orgscope-malformed-request".into(),
                    p => p,
                },
                str_field(&raw, "StackId"),
                str_field(&raw, "RequestId"),
                str_field(&raw, "LogicalResourceId"),
            );
            resp.reason = Some(format!("Malformed custom resource request: {why}"));
            s.answered = Some(self.answer(&url, resp).await);
            s.duration_ms = self.clock.now().duration_since(started).as_millis() as u64;
            return Err(s);
        };
        Ok((raw, carried, c))
    }

    /// The request's budget across invocations, and this invocation's share of it.
    fn budget(&self, carried: Option<&Continuation>, inv: &Invocation) -> Budget {
        let first_seen_ms = carried.map(|x| x.first_seen_ms).unwrap_or_else(epoch_ms);
        let elapsed = Duration::from_millis(epoch_ms().saturating_sub(first_seen_ms));
        let budget_left = self.settings.budget.saturating_sub(elapsed);
        let now = self.clock.now();
        let lambda_left = inv.deadline.saturating_duration_since(now);
        Budget {
            first_seen_ms,
            deadline: now + budget_left.min(lambda_left.saturating_sub(self.settings.margin)),
            // A hard stop shortly before Lambda's own: an AWS call that hangs or keeps being
            // retried (an outage) must not cost the answer or the continuation.
            hard_stop: lambda_left.saturating_sub(self.settings.margin / 2),
        }
    }

    /// Runs the request's step within the hard stop; a panic becomes a FAILED answer, the
    /// hard stop a continuation that looks again.
    async fn guarded(&self, c: &Common, carried: Option<&Continuation>, budget: &Budget) -> Step {
        let step = tokio::time::timeout(
            budget.hard_stop,
            AssertUnwindSafe(self.process(c, carried, budget.deadline)).catch_unwind(),
        )
        .await;
        match step {
            Err(_) => {
                tracing::warn!(
                    "the Lambda deadline came during an AWS call; continuing in a new invocation"
                );
                let done_kinds = carried.map(|x| x.done_kinds.clone()).unwrap_or_default();
                Step::Continue(Continuation::next(None, done_kinds, carried))
            }
            Ok(Ok(s)) => s,
            Ok(Err(panic)) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "unknown".into());
                tracing::error!(panic = %msg, "internal error");
                Step::answer(self.failed(c, format!("Internal error in the custom resource function: {msg}. Nothing more was changed; see the function's CloudWatch log.")))
            }
        }
    }
}

fn error_reason(e: &EngineError) -> String {
    e.to_string()
}

/// `Fn::GetAtt` attributes.
pub fn data(e: &Expansion) -> HashMap<String, String> {
    let ids: Vec<&str> = e.included.iter().map(|x| x.id.as_str()).collect();
    HashMap::from([
        ("AccountIds".to_owned(), ids.join(",")),
        ("AccountCount".to_owned(), ids.len().to_string()),
        // "true" once `Body::fit` had to cut AccountIds (always present, so that the
        // stack's EnrolledAccountIdsTruncated output can read it).
        ("AccountIdsTruncated".to_owned(), "false".to_owned()),
        ("OrganizationId".to_owned(), e.organization_id.clone()),
        (
            "ManagementAccountId".to_owned(),
            e.management_account_id
                .as_ref()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
        ),
    ])
}

impl Summary {
    fn empty<C: Clock>(request_type: &str, started: Instant, clock: &C) -> Self {
        Self {
            request_type: request_type.into(),
            answered: None,
            reinvoked: false,
            operations: vec![],
            accounts: 0,
            duration_ms: clock.now().duration_since(started).as_millis() as u64,
            metrics_line: String::new(),
            change_event: None,
        }
    }
}
