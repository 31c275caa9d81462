//! The custom resource: Create/Update reconcile the StackSet's instances to the scope, Delete
//! removes them all. Every path ends in exactly one answer to CloudFormation, or in a
//! re-invocation that carries the wait over (and answers later).

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as CfnRequest;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::core::{Expansion, PlanPolicy};
use shared::engine::{Engine, EngineConfig, EngineError, OpRecord, Outcome, Report, Request};
use shared::ports::{AwsError, Clock, IdentityApi, OpKind, OrganizationsApi, StackSetApi};
use shared::preflight::preflight;

use crate::preflight_only;
use crate::props::Props;
use crate::response::{CfnResponse, Status};

/// PhysicalResourceId of a resource whose Create failed: its Delete must touch nothing.
pub const FAILED_CREATE_PREFIX: &str = "orgscope-create-failed/";
/// PhysicalResourceId of a live resource: derived from the StackSet name, so that a new
/// StackSetName is a replacement.
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
}

impl Settings {
    pub fn new(default_region: &str) -> Self {
        Self {
            margin: Duration::from_secs(30),
            budget: Duration::from_secs(55 * 60),
            default_region: default_region.into(),
            engine: EngineConfig::default(),
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
}

enum Step {
    Answer(CfnResponse, Vec<String>, usize),
    Continue(Continuation),
}

pub struct Handler<O, S, I, C, P, R> {
    pub org: O,
    pub stacksets: S,
    pub identity: I,
    pub clock: C,
    pub responder: P,
    pub reinvoker: R,
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

impl<O, S, I, C, P, R> Handler<O, S, I, C, P, R>
where
    O: OrganizationsApi,
    S: StackSetApi,
    I: IdentityApi,
    C: Clock,
    P: Responder,
    R: Reinvoker,
{
    fn engine(&self) -> Engine<'_, O, S, C> {
        Engine {
            org: &self.org,
            stacksets: &self.stacksets,
            clock: &self.clock,
            config: self.settings.engine.clone(),
        }
    }

    /// Handles one invocation: a CloudFormation request, or a continuation of one.
    pub async fn handle(&self, payload: Value, inv: Invocation) -> Summary {
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
        let Some(c) = parsed.as_ref().ok().and_then(common) else {
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
            let resp = CfnResponse {
                status: Status::Failed,
                reason: Some(format!("Malformed custom resource request: {why}")),
                physical_resource_id: match str_field(&raw, "PhysicalResourceId") {
                    p if p.is_empty() => "orgscope-malformed-request".into(),
                    p => p,
                },
                stack_id: str_field(&raw, "StackId"),
                request_id: str_field(&raw, "RequestId"),
                logical_resource_id: str_field(&raw, "LogicalResourceId"),
                data: BTreeMap::new(),
            };
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
                let spent = Duration::from_millis(now_ms().saturating_sub(first_seen));
                if self.settings.budget.saturating_sub(spent) <= self.settings.margin {
                    let resp = self.failed(
                        &c,
                        format!(
                            "Gave up after {} minutes: {}. It continues in AWS; check CloudFormation > StackSets > {} > Operations, then update the stack again.",
                            self.settings.budget.as_secs() / 60,
                            match &cont.operation {
                                Some(op) => format!("StackSet operation {} is still {}", op.id, op.status),
                                None => "AWS did not answer in time".into(),
                            },
                            Props::parse(&c.props, &self.settings.default_region).map(|p| p.stack_set).unwrap_or_default()
                        ),
                    );
                    summary.answered = Some(self.answer(&c.response_url, resp).await);
                } else {
                    let waiting_on = cont
                        .operation
                        .as_ref()
                        .map(|o| o.id.clone())
                        .unwrap_or_default();
                    tracing::info!(operation_id = %waiting_on, hop = cont.hop, "deadline near: carrying the wait over to a new invocation");
                    summary.operations = cont.operation.iter().map(|o| o.id.clone()).collect();
                    match self
                        .reinvoker
                        .reinvoke(&json!({ CONTINUATION_KEY: cont }))
                        .await
                    {
                        Ok(()) => summary.reinvoked = true,
                        Err(e) => {
                            tracing::error!(error = %e, "re-invocation failed; answering now");
                            let resp = self.failed(&c, format!("Could not continue waiting for the StackSet ({e}); any running operation continues in AWS. Update the stack again once it has finished (CloudFormation > StackSets > Operations)."));
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

    fn physical_id(&self, c: &Common, props: Option<&Props>) -> String {
        match props {
            Some(p) => format!("{PHYSICAL_PREFIX}{}", p.stack_set),
            None => c
                .physical_resource_id
                .clone()
                .unwrap_or_else(|| format!("{FAILED_CREATE_PREFIX}{}", c.request_id)),
        }
    }

    fn failed(&self, c: &Common, reason: String) -> CfnResponse {
        // A failed Create gets a marker ID, so that its Delete touches nothing.
        let physical = match (&c.physical_resource_id, c.request_type) {
            (Some(p), _) => p.clone(),
            (None, _) => format!("{FAILED_CREATE_PREFIX}{}", c.request_id),
        };
        CfnResponse {
            status: Status::Failed,
            reason: Some(reason),
            physical_resource_id: physical,
            stack_id: c.stack_id.clone(),
            request_id: c.request_id.clone(),
            logical_resource_id: c.logical_resource_id.clone(),
            data: BTreeMap::new(),
        }
    }

    async fn answer(&self, url: &str, mut resp: CfnResponse) -> String {
        if let Some(full) = resp.fit() {
            tracing::info!(account_ids = %full, "AccountIds truncated in the response; the full list");
        }
        let body = resp.body();
        let status = match resp.status {
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
        };
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
        if c.resource_type == preflight_only::RESOURCE_TYPE {
            return self.preflight_only(c).await;
        }
        let props = Props::parse(&c.props, &self.settings.default_region);
        if c.request_type == "Delete" {
            return self.delete(c, props.ok(), carried, deadline).await;
        }
        let props = match props {
            Ok(p) => p,
            Err(e) => return Step::Answer(self.failed(c, e.to_string()), vec![], 0),
        };
        if let Err(e) =
            preflight(&self.org, &self.stacksets, &self.identity, &props.stack_set).await
        {
            return Step::Answer(self.failed(c, e.to_string()), vec![], 0);
        }
        if let Some(old) = &c.old_props {
            if let Ok(old) = Props::parse(old, &self.settings.default_region) {
                if old.stack_set != props.stack_set {
                    tracing::info!(old = %old.stack_set, new = %props.stack_set, "StackSetName changed: replacement; CloudFormation will delete the old instances");
                }
            }
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
        match self.engine().reconcile(&req).await {
            Ok(Outcome::Done(report)) => self.done(c, &props, &report),
            Ok(Outcome::Pending {
                operation,
                done_kinds,
            }) => Step::Continue(Continuation {
                request: Value::Null,
                operation: Some(operation),
                done_kinds,
                first_seen_ms: 0,
                hop: carried.map(|x| x.hop + 1).unwrap_or(1),
            }),
            Err(e) => Step::Answer(self.failed(c, error_reason(&e)), vec![], 0),
        }
    }

    /// `Custom::PortPreflight`: Create/Update check, Delete does nothing; never a change.
    async fn preflight_only(&self, c: &Common) -> Step {
        let outcome = match c.request_type {
            "Delete" => Ok(()),
            _ => preflight_only::run(&self.org, &self.identity).await,
        };
        match outcome {
            Ok(()) => Step::Answer(
                CfnResponse {
                    status: Status::Success,
                    reason: None,
                    physical_resource_id: c
                        .physical_resource_id
                        .clone()
                        .unwrap_or_else(|| preflight_only::PHYSICAL_ID.into()),
                    stack_id: c.stack_id.clone(),
                    request_id: c.request_id.clone(),
                    logical_resource_id: c.logical_resource_id.clone(),
                    data: BTreeMap::new(),
                },
                vec![],
                0,
            ),
            Err(reason) => Step::Answer(self.failed(c, reason), vec![], 0),
        }
    }

    fn done(&self, c: &Common, props: &Props, report: &Report) -> Step {
        let ops: Vec<String> = report.operations.iter().map(|o| o.id.clone()).collect();
        let n = report.expansion.included.len();
        if !report.succeeded() {
            let total = report.failures.len();
            let shown: Vec<String> = report
                .failures
                .iter()
                .take(10)
                .map(|f| format!("{} ({})", f.advice, f.region))
                .collect();
            let more = if total > shown.len() {
                format!(
                    "; and {} more (see the function's log)",
                    total - shown.len()
                )
            } else {
                String::new()
            };
            for f in &report.failures {
                tracing::warn!(account = %f.account, region = %f.region, reason = %f.reason, advice = %f.advice, "account not CURRENT");
            }
            // A failed Update keeps the old PhysicalResourceId: CloudFormation rolls back to it.
            let resp = self.failed(
                c,
                format!(
                    "{total} of {n} in-scope account(s) did not get Port's role: {}{more}",
                    shown.join("; ")
                ),
            );
            return Step::Answer(resp, ops, n);
        }
        let resp = CfnResponse {
            status: Status::Success,
            reason: None,
            physical_resource_id: self.physical_id(c, Some(props)),
            stack_id: c.stack_id.clone(),
            request_id: c.request_id.clone(),
            logical_resource_id: c.logical_resource_id.clone(),
            data: data(&report.expansion),
        };
        Step::Answer(resp, ops, n)
    }

    async fn delete(
        &self,
        c: &Common,
        props: Option<Props>,
        carried: Option<&Continuation>,
        deadline: Instant,
    ) -> Step {
        let physical = c.physical_resource_id.clone().unwrap_or_default();
        let ok = |reason: Option<String>| {
            Step::Answer(
                CfnResponse {
                    status: Status::Success,
                    reason,
                    physical_resource_id: physical.clone(),
                    stack_id: c.stack_id.clone(),
                    request_id: c.request_id.clone(),
                    logical_resource_id: c.logical_resource_id.clone(),
                    data: BTreeMap::new(),
                },
                vec![],
                0,
            )
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
        match self
            .engine()
            .remove_all(stack_set, &fallback, &c.request_id, deadline)
            .await
        {
            Ok(Outcome::Done(report)) if report.succeeded() => {
                let ops = report.operations.iter().map(|o| o.id.clone()).collect();
                match ok(None) {
                    Step::Answer(r, _, _) => Step::Answer(r, ops, 0),
                    s => s,
                }
            }
            Ok(Outcome::Done(report)) => {
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
            }),
            Err(e) => Step::Answer(self.failed(c, error_reason(&e)), vec![], 0),
        }
    }
}

fn error_reason(e: &EngineError) -> String {
    e.to_string()
}

/// `Fn::GetAtt` attributes.
pub fn data(e: &Expansion) -> BTreeMap<String, String> {
    let ids: Vec<&str> = e.included.iter().map(|x| x.id.as_str()).collect();
    BTreeMap::from([
        ("AccountIds".to_owned(), ids.join(",")),
        ("AccountCount".to_owned(), ids.len().to_string()),
        // "true" once `CfnResponse::fit` had to cut AccountIds (always present, so that the
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
        }
    }
}
