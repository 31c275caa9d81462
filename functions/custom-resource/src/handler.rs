//! The custom resource: Create/Update reconcile the StackSet's instances to the scope, Delete
//! removes them all. Every path ends in exactly one answer to CloudFormation, or in a
//! re-invocation that carries the wait over (and answers later).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as CfnRequest;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::core::mode::MANAGEMENT_ACCOUNT_ID;
use shared::core::{AccountId, ChangeContext, Declared, Expansion, PlanPolicy, ScopeChange};
use shared::counted::CallCounts;
use shared::engine::{Engine, EngineConfig, EngineError, OpRecord, Outcome, Report, Request};
use shared::feed::{self, NoFeed};
use shared::metrics::{self, ReconcileFigures};
use shared::ports::{
    AwsError, ChangeFeed, Clock, IdentityApi, OpKind, OrganizationsApi, StackSetApi,
};
use shared::preflight::preflight;

use crate::alarm_window;
use crate::payload;
use crate::preflight_only;
use crate::props::Props;
use crate::recording::{Mutations, Recording};
use crate::response::{response, status_word, Body, CfnResponse, Status};

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
}

/// What a finished request changed, and where.
#[derive(Debug, Clone)]
struct Changed {
    /// The request's report, with every operation it started, in any invocation.
    report: Report,
    /// A Delete's: every account leaves.
    removal: bool,
    stack_set: String,
    /// Operations whose accounts did not travel in the continuation (`Continuation::unlisted`).
    unlisted: Vec<String>,
    /// An Update that changed Port's role's permissions: the accounts of CloudFormation's
    /// StackSet update that applied them (`ScopeChange::role_permissions_rollout`).
    rollout: Option<ScopeChange>,
}

impl Changed {
    fn change(&self) -> ScopeChange {
        let mut change = if self.removal {
            self.report.removal_change()
        } else {
            self.report.scope_change()
        };
        if let Some(r) = &self.rollout {
            change.merge(r.clone());
        }
        change
    }
}

/// The properties that carry Port's role's permissions (template.yaml passes the same
/// parameters to the StackSet resource, whose update CloudFormation runs first).
const ROLE_PERMISSION_KEYS: [&str; 2] = ["PortRolePolicyArns", "PortRolePermissionsBoundaryArn"];

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
        }
    }
}

/// State carried from one invocation to the next while a StackSet operation runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Continuation {
    pub request: Value,
    /// The operation being waited on; `None` when an AWS call was still unanswered at the
    /// deadline (the next invocation looks again).
    pub operation: Option<OpRecord>,
    pub done_kinds: Vec<OpKind>,
    pub first_seen_ms: u64,
    pub hop: u32,
    /// An earlier invocation of this request may have changed the StackSet.
    #[serde(default)]
    pub mutated: bool,
    /// The operations earlier invocations of this request started (with their accounts),
    /// other than `operation`: the invocation that finishes reports their change too.
    #[serde(default)]
    pub started: Vec<OpRecord>,
    /// Operations (in `started` or `operation`) that travel without their accounts, to keep
    /// the payload under Lambda's limit (`payload::fit`): the invocation that answers reads
    /// their accounts back from the operation's results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlisted: Vec<String>,
}

pub const CONTINUATION_KEY: &str = "OrgscopeContinuation";

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

enum Step {
    Answer(CfnResponse, Vec<String>, usize),
    Continue(Continuation),
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The ResponseURL without its query (the signature is a credential).
pub fn redact(url: &str) -> String {
    let base = url.split('?').next().unwrap_or_default();
    format!("{base}?<signature redacted>")
}

struct Common {
    request_type: &'static str,
    resource_type: String,
    request_id: String,
    response_url: String,
    stack_id: String,
    logical_resource_id: String,
    physical_resource_id: Option<String>,
    props: Value,
    old_props: Option<Value>,
    /// The StackSet named by the properties, when they parse.
    stack_set: Option<String>,
    /// What this request did to the StackSet, across invocations.
    mutations: Mutations,
}

fn common(req: &CfnRequest) -> Option<Common> {
    Some(match req {
        CfnRequest::Create(r) => Common {
            request_type: "Create",
            resource_type: r.resource_type.clone(),
            request_id: r.request_id.clone(),
            response_url: r.response_url.clone(),
            stack_id: r.stack_id.clone(),
            logical_resource_id: r.logical_resource_id.clone(),
            physical_resource_id: None,
            props: r.resource_properties.clone(),
            old_props: None,
            stack_set: None,
            mutations: Mutations::default(),
        },
        CfnRequest::Update(r) => Common {
            request_type: "Update",
            resource_type: r.resource_type.clone(),
            request_id: r.request_id.clone(),
            response_url: r.response_url.clone(),
            stack_id: r.stack_id.clone(),
            logical_resource_id: r.logical_resource_id.clone(),
            physical_resource_id: Some(r.physical_resource_id.clone()),
            props: r.resource_properties.clone(),
            old_props: Some(r.old_resource_properties.clone()),
            stack_set: None,
            mutations: Mutations::default(),
        },
        CfnRequest::Delete(r) => Common {
            request_type: "Delete",
            resource_type: r.resource_type.clone(),
            request_id: r.request_id.clone(),
            response_url: r.response_url.clone(),
            stack_id: r.stack_id.clone(),
            logical_resource_id: r.logical_resource_id.clone(),
            physical_resource_id: Some(r.physical_resource_id.clone()),
            props: r.resource_properties.clone(),
            old_props: None,
            stack_set: None,
            mutations: Mutations::default(),
        },
        _ => return None,
    })
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
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
        // CloudFormation has its answer: the change event cannot delay or change it.
        let changed = self.settings.change.lock().ok().and_then(|mut c| c.take());
        if let Some(mut changed) = changed {
            let within = || {
                deadline
                    .saturating_duration_since(self.clock.now())
                    .saturating_sub(Duration::from_secs(2))
                    .max(Duration::from_secs(1))
            };
            if !changed.unlisted.is_empty() {
                let read = self.read_back(&mut changed);
                if tokio::time::timeout(within(), read).await.is_err() {
                    tracing::error!(operations = ?changed.unlisted, "the change event leaves out the accounts of operations whose results could not be read back before the deadline");
                }
            }
            let ctx = ChangeContext {
                integration_identifier: self.settings.integration_id.clone(),
                function: "custom-resource".into(),
                trigger: summary.request_type.clone(),
                event_id: None,
                stack_id,
                stack_set_name: changed.stack_set.clone(),
                operation_ids: changed
                    .report
                    .operations
                    .iter()
                    .map(|o| o.id.clone())
                    .collect(),
            };
            summary.change_event =
                feed::publish(&self.feed, &changed.change(), &ctx, within()).await;
        }
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
        summary.metrics_line = metrics::render(&self.settings.integration_id, now_ms(), &record);
        metrics::print(&summary.metrics_line);
        summary
    }

    /// Keeps the figures of a finished request, and the change it made (with what earlier
    /// invocations of it started) for the feed. `removal`: a Delete's.
    fn record(
        &self,
        report: &Report,
        stack_set: &str,
        carried: Option<&Continuation>,
        removal: bool,
        rollout: Option<ScopeChange>,
    ) {
        if let Ok(mut f) = self.settings.figures.lock() {
            *f = Some(ReconcileFigures::from_report(report));
        }
        let mut whole = report.clone();
        let mut ops: Vec<OpRecord> = carried.map(started_ops).unwrap_or_default();
        ops.retain(|o| !report.operations.iter().any(|r| r.id == o.id));
        ops.extend(report.operations.iter().cloned());
        whole.operations = ops;
        let unlisted: Vec<String> = carried
            .map(|c| c.unlisted.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|id| {
                whole
                    .operations
                    .iter()
                    .any(|o| &o.id == id && o.accounts.is_empty())
            })
            .collect();
        if let Ok(mut c) = self.settings.change.lock() {
            *c = Some(Changed {
                report: whole,
                removal,
                stack_set: stack_set.to_owned(),
                unlisted,
                rollout,
            });
        }
    }

    /// Reads back the accounts of the operations whose accounts did not travel in the
    /// continuation (`ListStackSetOperationResults`: one result per account and region), after
    /// CloudFormation has its answer. An operation whose results cannot be read is left out of
    /// the change event, and logged.
    async fn read_back(&self, changed: &mut Changed) {
        let mut calls = 0usize;
        let wanted = changed.unlisted.clone();
        for op in changed
            .report
            .operations
            .iter_mut()
            .filter(|o| o.accounts.is_empty() && wanted.contains(&o.id))
        {
            calls += 1;
            match self
                .stacksets
                .operation_results(&changed.stack_set, &op.id)
                .await
            {
                Ok(results) => {
                    let accounts: BTreeSet<AccountId> =
                        results.into_iter().map(|r| r.account).collect();
                    op.accounts = accounts.into_iter().collect();
                    changed.unlisted.retain(|id| id != &op.id);
                }
                Err(e) => {
                    tracing::error!(operation_id = %op.id, error = %e, "could not read back the operation's accounts; the change event leaves them out");
                }
            }
        }
        tracing::info!(
            operations = calls,
            "read back the accounts of operations that did not travel in the continuation"
        );
    }

    async fn handle_request(&self, payload: Value, inv: Invocation) -> Summary {
        let started = self.clock.now();
        let (raw, carried) = match payload.get(CONTINUATION_KEY) {
            Some(c) => match serde_json::from_value::<Continuation>(c.clone()) {
                Ok(c) => (c.request.clone(), Some(c)),
                Err(e) => {
                    tracing::error!(error = %e, "malformed continuation; nothing to answer");
                    return Summary::empty("Continuation", started, &self.clock);
                }
            },
            None => (payload, None),
        };
        let parsed: Result<CfnRequest, _> = serde_json::from_value(raw.clone());
        let Some(mut c) = parsed.as_ref().ok().and_then(common) else {
            // Not a request we understand. If it has a ResponseURL, CloudFormation is waiting:
            // answer FAILED so that the stack does not hang for an hour.
            let url = str_field(&raw, "ResponseURL");
            let why = match &parsed {
                Err(e) => format!("the request could not be read: {e}"),
                Ok(_) => "unsupported RequestType".into(),
            };
            tracing::error!(%why, "malformed CloudFormation request");
            if url.is_empty() {
                return Summary::empty("Unknown", started, &self.clock);
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
            let answered = self.answer(&url, resp).await;
            let mut s = Summary::empty("Unknown", started, &self.clock);
            s.answered = Some(answered);
            return s;
        };
        tracing::info!(
            request_type = c.request_type,
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
        let first_seen = carried
            .as_ref()
            .map(|x| x.first_seen_ms)
            .unwrap_or_else(now_ms);
        let elapsed = Duration::from_millis(now_ms().saturating_sub(first_seen));
        let budget_left = self.settings.budget.saturating_sub(elapsed);
        let now = self.clock.now();
        let lambda_left = inv.deadline.saturating_duration_since(now);
        let deadline = now + budget_left.min(lambda_left.saturating_sub(self.settings.margin));

        // A hard stop shortly before Lambda's own: an AWS call that hangs or keeps being
        // retried (an outage) must not cost the answer or the continuation.
        let hard_stop = lambda_left.saturating_sub(self.settings.margin / 2);
        let step = tokio::time::timeout(
            hard_stop,
            AssertUnwindSafe(self.process(&c, carried.as_ref(), deadline)).catch_unwind(),
        )
        .await;
        let step = match step {
            Err(_) => {
                tracing::warn!(
                    "the Lambda deadline came during an AWS call; continuing in a new invocation"
                );
                Step::Continue(Continuation {
                    request: Value::Null,
                    operation: None,
                    done_kinds: carried
                        .as_ref()
                        .map(|x| x.done_kinds.clone())
                        .unwrap_or_default(),
                    first_seen_ms: 0,
                    hop: carried.as_ref().map(|x| x.hop + 1).unwrap_or(1),
                    mutated: false,
                    started: vec![],
                    unlisted: vec![],
                })
            }
            Ok(Ok(s)) => s,
            Ok(Err(panic)) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "unknown".into());
                tracing::error!(panic = %msg, "internal error");
                Step::Answer(
                    self.failed(&c, format!("Internal error in the custom resource function: {msg}. Nothing more was changed; see the function's CloudWatch log.")),
                    vec![],
                    0,
                )
            }
        };
        let mut summary = Summary::empty(c.request_type, started, &self.clock);
        match step {
            Step::Answer(resp, ops, accounts) => {
                summary.operations = ops;
                summary.accounts = accounts;
                summary.answered = Some(self.answer(&c.response_url, resp).await);
            }
            Step::Continue(mut cont) => {
                cont.request = raw;
                cont.first_seen_ms = first_seen;
                cont.mutated = c.mutations.any();
                // Each operation's accounts travel once (the payload of an asynchronous
                // invocation is limited to 256 KB): in `operation` while it is the one waited
                // on, in `started` once an earlier one.
                let mut started = Vec::new();
                for op in carried.as_ref().map(started_ops).unwrap_or_default() {
                    match cont.operation.as_mut() {
                        Some(cur) if cur.id == op.id => {
                            if cur.accounts.is_empty() {
                                cur.accounts = op.accounts;
                            }
                        }
                        _ if started.iter().any(|s: &OpRecord| s.id == op.id) => {}
                        _ => started.push(op),
                    }
                }
                cont.started = started;
                for id in carried.iter().flat_map(|c| &c.unlisted) {
                    if !cont.unlisted.contains(id) {
                        cont.unlisted.push(id.clone());
                    }
                }
                let spent = Duration::from_millis(now_ms().saturating_sub(first_seen));
                if self.settings.budget.saturating_sub(spent) <= self.settings.margin {
                    let resp = self.failed(
                        &c,
                        format!(
                            "Gave up after {} minutes: {}. It continues in AWS; check CloudFormation > StackSets > {} > Operations, then {}.",
                            self.settings.budget.as_secs() / 60,
                            match &cont.operation {
                                Some(op) => format!("StackSet operation {} is still {}", op.id, op.status),
                                None => "AWS did not answer in time".into(),
                            },
                            c.stack_set.as_deref().unwrap_or_default(),
                            self.next_step(&c),
                        ),
                    );
                    summary.answered = Some(self.answer(&c.response_url, resp).await);
                } else {
                    let waiting_on = cont
                        .operation
                        .as_ref()
                        .map(|o| o.id.clone())
                        .unwrap_or_default();
                    summary.operations = cont.operation.iter().map(|o| o.id.clone()).collect();
                    match payload::fit(&mut cont, self.settings.continuation_budget) {
                        Ok(fitted) => {
                            tracing::info!(operation_id = %waiting_on, hop = cont.hop, payload_bytes = fitted.bytes, unlisted = ?fitted.unlisted, "deadline near: carrying the wait over to a new invocation");
                            match self.reinvoker.reinvoke(&fitted.payload).await {
                                Ok(()) => summary.reinvoked = true,
                                Err(e) => {
                                    tracing::error!(error = %e, payload_bytes = fitted.bytes, "re-invocation failed; answering now");
                                    let resp = self.failed(&c, format!("Could not continue waiting for the StackSet ({e}); any running operation continues in AWS (CloudFormation > StackSets > Operations). Once it has finished, {}.", self.next_step(&c)));
                                    summary.answered =
                                        Some(self.answer(&c.response_url, resp).await);
                                }
                            }
                        }
                        Err(bytes) => {
                            let request_bytes = cont.request.to_string().len();
                            tracing::error!(payload_bytes = bytes, request_bytes, budget = self.settings.continuation_budget, "the continuation does not fit Lambda's asynchronous payload limit; answering now");
                            let resp = self.failed(&c, format!("Could not continue waiting for the StackSet: the wait would be carried over in a {bytes}-byte asynchronous invocation, over the {} bytes this function sends (Lambda refuses more than {} bytes), because the CloudFormation request itself is {request_bytes} bytes. Nothing was sent. Any running operation continues in AWS (CloudFormation > StackSets > Operations). Shorten the custom resource's properties; once the operation has finished, {}.", self.settings.continuation_budget, payload::ASYNC_PAYLOAD_LIMIT, self.next_step(&c)));
                            summary.answered = Some(self.answer(&c.response_url, resp).await);
                        }
                    }
                }
            }
        }
        summary.duration_ms = self.clock.now().duration_since(started).as_millis() as u64;
        tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "custom resource invocation done");
        summary
    }

    /// What the user does after a FAILED answer that left an operation running.
    fn next_step(&self, c: &Common) -> &'static str {
        if c.physical_resource_id.is_none() && c.mutations.any() {
            "create the stack again: its rollback removes what this Create deployed"
        } else {
            "update the stack again"
        }
    }

    /// The PhysicalResourceId of a FAILED answer. Update and Delete keep the ID they were
    /// given (CloudFormation rolls back to it). A Create that may have changed the StackSet
    /// answers the live ID, so that the rollback Delete removes what it made; one that changed
    /// nothing answers the marker, so that the rollback Delete touches nothing.
    fn failed_physical_id(&self, c: &Common) -> String {
        match (&c.physical_resource_id, &c.stack_set) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) if c.mutations.any() => format!("{PHYSICAL_PREFIX}{name}"),
            (None, _) => format!("{FAILED_CREATE_PREFIX}{}", c.request_id),
        }
    }

    fn failed(&self, c: &Common, reason: String) -> CfnResponse {
        let mut r = response(
            Status::Failed,
            self.failed_physical_id(c),
            c.stack_id.clone(),
            c.request_id.clone(),
            c.logical_resource_id.clone(),
        );
        r.reason = Some(reason);
        r
    }

    async fn answer(&self, url: &str, mut resp: CfnResponse) -> String {
        if let Some(full) = resp.fit() {
            tracing::info!(account_ids = %full, "AccountIds truncated in the response; the full list");
        }
        let body = resp.body();
        let status = status_word(&resp.status);
        tracing::info!(status, reason = resp.reason.as_deref().unwrap_or(""), physical_resource_id = %resp.physical_resource_id, "answering CloudFormation");
        match self.responder.put(url, &body).await {
            Ok(()) => status.to_owned(),
            Err(e) => {
                tracing::error!(error = %e, url = %redact(url), "could not deliver the response to CloudFormation");
                format!("{status} (delivery failed: {e})")
            }
        }
    }

    async fn process(&self, c: &Common, carried: Option<&Continuation>, deadline: Instant) -> Step {
        if c.resource_type == alarm_window::RESOURCE_TYPE {
            return self.alarm_window(c);
        }
        // The declared mode (`ManagementAccountId`): the preflight checks it against the facts
        // before any change; every StackSet call of this request carries its `CallAs`.
        let declared =
            match Declared::parse(c.props.get(MANAGEMENT_ACCOUNT_ID).and_then(Value::as_str)) {
                Ok(d) => d,
                // A Create with this value failed before any change (so its Delete touches
                // nothing); any other Delete falls back to AWS's default, SELF.
                Err(e) if c.request_type == "Delete" => {
                    tracing::warn!(error = %e, "Delete with an unreadable ManagementAccountId");
                    Declared::InManagementAccount
                }
                Err(e) => return Step::Answer(self.failed(c, e.to_string()), vec![], 0),
            };
        self.stacksets.set_call_as(declared.call_as());
        if c.resource_type == preflight_only::RESOURCE_TYPE {
            return self.preflight_only(c, &declared).await;
        }
        let stacksets = Recording {
            inner: &self.stacksets,
            mutations: &c.mutations,
        };
        let engine = self.engine(&stacksets);
        let props = Props::parse(&c.props, &self.settings.default_region);
        if c.request_type == "Delete" {
            return self.delete(c, &engine, props.ok(), carried, deadline).await;
        }
        let props = match props {
            Ok(p) => p,
            Err(e) => return Step::Answer(self.failed(c, e.to_string()), vec![], 0),
        };
        if let Some(reason) = self.stack_set_renamed(c, &props) {
            return Step::Answer(self.failed(c, reason), vec![], 0);
        }
        if let Err(e) = preflight(&engine, &self.identity, &props.stack_set, declared).await {
            return Step::Answer(self.failed(c, e.to_string()), vec![], 0);
        }
        let done = carried.map(|x| x.done_kinds.clone()).unwrap_or_default();
        let req = Request {
            scope: &props.scope,
            stack_set: &props.stack_set,
            regions: &props.regions,
            policy: PlanPolicy {
                on_leave: props.on_leave,
                max_retry_attempts: 3,
                repair_drift: false,
            },
            seed: &c.request_id,
            deadline,
            done_kinds: &done,
            // A custom-resource run is a change the user made: always try failed accounts
            // again, and let later scheduled runs count attempts from here.
            user_change: true,
        };
        match engine.reconcile(&req).await {
            Ok(Outcome::Done(report)) => {
                let rollout = self
                    .role_permissions_rollout(c, &stacksets, &props.stack_set, &report)
                    .await;
                self.done(c, &props, &report, carried, rollout)
            }
            Ok(Outcome::Pending {
                operation,
                done_kinds,
            }) => Step::Continue(Continuation {
                request: Value::Null,
                operation: Some(operation),
                done_kinds,
                first_seen_ms: 0,
                hop: carried.map(|x| x.hop + 1).unwrap_or(1),
                mutated: false,
                started: vec![],
                unlisted: vec![],
            }),
            Err(e) => Step::Answer(self.failed(c, error_reason(&e)), vec![], 0),
        }
    }

    /// `Custom::PortAlarmWindow`: Create/Update compute, Delete does nothing; no AWS call.
    fn alarm_window(&self, c: &Common) -> Step {
        let outcome = match c.request_type {
            "Delete" => Ok(Default::default()),
            _ => alarm_window::data(&c.props),
        };
        match outcome {
            Ok(data) => {
                let mut r = response(
                    Status::Success,
                    c.physical_resource_id
                        .clone()
                        .unwrap_or_else(|| alarm_window::PHYSICAL_ID.into()),
                    c.stack_id.clone(),
                    c.request_id.clone(),
                    c.logical_resource_id.clone(),
                );
                r.data = data.into_iter().collect();
                Step::Answer(r, vec![], 0)
            }
            Err(reason) => Step::Answer(self.failed(c, reason), vec![], 0),
        }
    }

    /// An Update may not move the resource to another StackSet: two StackSets would deploy
    /// the same role name into the same accounts. The refusal comes before any AWS call.
    fn stack_set_renamed(&self, c: &Common, props: &Props) -> Option<String> {
        let deployed = match c.physical_resource_id.as_deref() {
            Some(p) if p.starts_with(PHYSICAL_PREFIX) => p[PHYSICAL_PREFIX.len()..].to_owned(),
            _ => {
                Props::parse(c.old_props.as_ref()?, &self.settings.default_region)
                    .ok()?
                    .stack_set
            }
        };
        (deployed != props.stack_set).then(|| {
            format!(
                "StackSetName cannot change on a deployed stack: it is `{deployed}`, and this \
                 update asks for `{new}`. Two StackSets would deploy the same role name into the \
                 same accounts, and one of them would fail in every account. Nothing was \
                 changed. Keep StackSetName `{deployed}`; to use `{new}`, delete this stack and \
                 create it again with the new name.",
                new = props.stack_set
            )
        })
    }

    /// `Custom::PortPreflight`: Create/Update check, Delete does nothing; never a change.
    /// Port's role's policies and boundary are checked first, without any AWS call.
    async fn preflight_only(&self, c: &Common, declared: &Declared) -> Step {
        let outcome = match c.request_type {
            "Delete" => Ok(()),
            _ => match preflight_only::role_policies(&c.props, &c.stack_id) {
                Err(reason) => Err(reason),
                Ok(_) => preflight_only::run(&self.org, &self.identity, declared).await,
            },
        };
        match outcome {
            Ok(()) => Step::Answer(
                response(
                    Status::Success,
                    c.physical_resource_id
                        .clone()
                        .unwrap_or_else(|| preflight_only::PHYSICAL_ID.into()),
                    c.stack_id.clone(),
                    c.request_id.clone(),
                    c.logical_resource_id.clone(),
                ),
                vec![],
                0,
            ),
            Err(reason) => Step::Answer(self.failed(c, reason), vec![], 0),
        }
    }

    /// An Update that changed Port's role's permissions (`ROLE_PERMISSION_KEYS`): CloudFormation
    /// applied them with one `UpdateStackSet` before this request (the custom resource depends
    /// on the StackSet resource). That operation is the newest finished UPDATE this project did
    /// not start; its accounts are read back (`ListStackSetOperationResults`) and reported as
    /// updated, or failed with the advice of this pass's failures. `None` when nothing of the
    /// kind changed, or the operation or its results cannot be read (logged; the answer is not
    /// affected).
    async fn role_permissions_rollout<A: StackSetApi>(
        &self,
        c: &Common,
        stacksets: &A,
        stack_set: &str,
        report: &Report,
    ) -> Option<ScopeChange> {
        let old = c.old_props.as_ref()?;
        let changed: Vec<&str> = ROLE_PERMISSION_KEYS
            .iter()
            .copied()
            .filter(|k| old.get(k) != c.props.get(k))
            .collect();
        if changed.is_empty() {
            return None;
        }
        let ops = match stacksets.recent_operations(stack_set, 20).await {
            Ok(ops) => ops,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the StackSet's operations; the change of Port's role's permissions is not in the change event");
                return None;
            }
        };
        let Some(op) = ops.into_iter().find(|o| {
            o.action == "UPDATE" && !o.is_active() && !o.id.starts_with(shared::engine::OP_PREFIX)
        }) else {
            tracing::warn!("no finished StackSet update by CloudFormation found for the change of Port's role's permissions");
            return None;
        };
        let results = match stacksets.operation_results(stack_set, &op.id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(operation_id = %op.id, error = %e, "could not read the StackSet update's results");
                return None;
            }
        };
        let accounts: BTreeSet<AccountId> = results.into_iter().map(|r| r.account).collect();
        let failed = report
            .failures
            .iter()
            .map(|f| (f.account.clone(), f.advice.clone()))
            .collect();
        tracing::info!(operation_id = %op.id, accounts = accounts.len(), changed = ?changed, "Port's role's permissions rolled out by CloudFormation's StackSet update");
        Some(ScopeChange::role_permissions_rollout(
            &accounts,
            &failed,
            &changed.join(", "),
        ))
    }

    fn done(
        &self,
        c: &Common,
        props: &Props,
        report: &Report,
        carried: Option<&Continuation>,
        rollout: Option<ScopeChange>,
    ) -> Step {
        self.record(report, &props.stack_set, carried, false, rollout);
        let ops: Vec<String> = report.operations.iter().map(|o| o.id.clone()).collect();
        let n = report.expansion.included.len();
        for f in &report.failures {
            tracing::warn!(account = %f.account, region = %f.region, reason = %f.reason, advice = %f.advice, awaits_account = f.awaits_account(), "account not CURRENT");
        }
        // Accounts whose StackSets execution role is denied (an SCP quarantine, or setup not
        // finished) are not ready yet: they alone do not fail the request. Failing it would
        // roll the stack back for an account that gets the role by itself at a later scheduled
        // run, and an Update's rollback would fail on the same account (UPDATE_ROLLBACK_FAILED,
        // which only a person can continue).
        let (waiting, failed): (Vec<_>, Vec<_>) =
            report.failures.iter().partition(|f| f.awaits_account());
        let listed = |fs: &[&shared::engine::AccountFailure]| {
            let shown: Vec<String> = fs
                .iter()
                .take(10)
                .map(|f| format!("{} ({})", f.advice, f.region))
                .collect();
            let more = if fs.len() > shown.len() {
                format!(
                    "; and {} more (see the function's log)",
                    fs.len() - shown.len()
                )
            } else {
                String::new()
            };
            format!("{}{more}", shown.join("; "))
        };
        if !failed.is_empty() {
            let besides =
                if waiting.is_empty() {
                    String::new()
                } else {
                    let ids: Vec<&str> = waiting
                        .iter()
                        .take(10)
                        .map(|f| f.account.as_str())
                        .collect();
                    format!(
                    ". Besides, {} account(s) wait for their StackSets execution role, which a \
                     service control policy or the account's setup denies ({}{}); these alone \
                     would not fail the stack",
                    waiting.len(),
                    ids.join(", "),
                    if waiting.len() > ids.len() { ", …" } else { "" }
                )
                };
            // A failed Update keeps the old PhysicalResourceId: CloudFormation rolls back to it.
            let resp = self.failed(
                c,
                format!(
                    "{} of {n} in-scope account(s) did not get Port's role: {}{besides}",
                    failed.len(),
                    listed(&failed)
                ),
            );
            return Step::Answer(resp, ops, n);
        }
        let mut resp = response(
            Status::Success,
            format!("{PHYSICAL_PREFIX}{}", props.stack_set),
            c.stack_id.clone(),
            c.request_id.clone(),
            c.logical_resource_id.clone(),
        );
        resp.data = data(&report.expansion);
        if !waiting.is_empty() {
            // EnrolledAccountIds: the accounts that have Port's role now.
            let later: BTreeSet<&str> = waiting.iter().map(|f| f.account.as_str()).collect();
            let ids: Vec<&str> = report
                .expansion
                .included
                .iter()
                .map(|e| e.id.as_str())
                .filter(|a| !later.contains(a))
                .collect();
            resp.data.insert("AccountIds".into(), ids.join(","));
            resp.data
                .insert("AccountCount".into(), ids.len().to_string());
            resp.reason = Some(format!(
                "{} of {n} in-scope account(s) are not ready for Port's role yet: {}",
                later.len(),
                listed(&waiting)
            ));
        }
        Step::Answer(resp, ops, n)
    }

    async fn delete(
        &self,
        c: &Common,
        engine: &Engine<'_, O, Recording<'_, S>, C>,
        props: Option<Props>,
        carried: Option<&Continuation>,
        deadline: Instant,
    ) -> Step {
        let physical = c.physical_resource_id.clone().unwrap_or_default();
        let ok = |reason: Option<String>| {
            let mut r = response(
                Status::Success,
                physical.clone(),
                c.stack_id.clone(),
                c.request_id.clone(),
                c.logical_resource_id.clone(),
            );
            r.reason = reason;
            Step::Answer(r, vec![], 0)
        };
        if physical.starts_with(FAILED_CREATE_PREFIX) || !physical.starts_with(PHYSICAL_PREFIX) {
            tracing::info!(%physical, "Delete of a resource that was never created: nothing to do");
            return ok(None);
        }
        let stack_set = &physical[PHYSICAL_PREFIX.len()..];
        match self.stacksets.describe(stack_set).await {
            Err(AwsError::NotFound { .. }) => {
                tracing::info!(stack_set, "StackSet is already gone: nothing to delete");
                return ok(None);
            }
            Err(e) => return Step::Answer(self.failed(c, error_reason(&e.into())), vec![], 0),
            Ok(_) => {}
        }
        let fallback: Vec<String> = props
            .map(|p| {
                p.scope
                    .targets
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        match engine
            .remove_all(stack_set, &fallback, &c.request_id, deadline)
            .await
        {
            Ok(Outcome::Done(report)) if report.succeeded() => {
                self.record(&report, stack_set, carried, true, None);
                let ops = report.operations.iter().map(|o| o.id.clone()).collect();
                match ok(None) {
                    Step::Answer(r, _, _) => Step::Answer(r, ops, 0),
                    s => s,
                }
            }
            Ok(Outcome::Done(report)) => {
                self.record(&report, stack_set, carried, true, None);
                let left: Vec<String> = report
                    .failures
                    .iter()
                    .take(10)
                    .map(|f| f.advice.clone())
                    .collect();
                Step::Answer(
                    self.failed(
                        c,
                        format!(
                            "{} stack instance(s) could not be removed: {}",
                            report.failures.len(),
                            left.join("; ")
                        ),
                    ),
                    report.operations.iter().map(|o| o.id.clone()).collect(),
                    0,
                )
            }
            Ok(Outcome::Pending {
                operation,
                done_kinds,
            }) => Step::Continue(Continuation {
                request: Value::Null,
                operation: Some(operation),
                done_kinds,
                first_seen_ms: 0,
                hop: carried.map(|x| x.hop + 1).unwrap_or(1),
                mutated: false,
                started: vec![],
                unlisted: vec![],
            }),
            Err(e) => Step::Answer(self.failed(c, error_reason(&e)), vec![], 0),
        }
    }
}

/// The operations earlier invocations of a request started, with their accounts (or listed in
/// `unlisted`): those it carried over, and the one it was waiting on.
fn started_ops(c: &Continuation) -> Vec<OpRecord> {
    let mut v = c.started.clone();
    if let Some(op) = c
        .operation
        .as_ref()
        .filter(|o| !o.accounts.is_empty() || c.unlisted.contains(&o.id))
    {
        if !v.iter().any(|s| s.id == op.id) {
            v.push(op.clone());
        }
    }
    v
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
