//! Organization events on their way to org-events, played as AWS runs them: template.yaml's
//! rules put each matching event on `OrgEventsQueue` (the emulator applies the rules' patterns:
//! `tests/emulator/fidelity/events_queue.py`), and [`Poller`] plays the queue's event source
//! mapping (`OrgEventsQueueMapping`), with the settings the emulator read from the template.
//!
//! What the poller plays, from the Lambda developer guide ("Using Lambda with Amazon SQS",
//! "Understanding polling and batching behavior", "Handling errors for an SQS event source"):
//! - it receives with the function's execution role (statement `ConsumeOrgEventsQueue`): the
//!   emulator authorizes every SQS call against the role's policies;
//! - a batch holds up to `BatchSize` messages, gathered for up to
//!   `MaximumBatchingWindowInSeconds` after its first one (SQS hands out at most 10 per
//!   ReceiveMessage, so the poller receives until either limit);
//! - at most `ScalingConfig.MaximumConcurrency` batches are gathered or invoked at once, each by
//!   its own poller, competing for the messages: a burst may come in several batches, in no
//!   order between them;
//! - the invocation gets the SQS event Lambda builds (the record shape of
//!   `events/sqs-org-events-batch.json`); on success the poller deletes the batch's messages, on
//!   failure it leaves them all: they come back after the visibility timeout with a higher
//!   `ApproximateReceiveCount`, and the queue's RedrivePolicy moves one received
//!   `maxReceiveCount` times to the dead-letter queue;
//! - at-least-once delivery: [`Options::every_message_twice`] delivers each message a second
//!   time (its first delete is lost, as the SQS developer guide's "at-least-once delivery"
//!   describes: a copy on a server that was unavailable is not deleted and comes again).
//!
//! Time: the batching window is played in real time scaled by [`Options::time_scale`]; the
//! visibility timeout (5,420 s) is virtual: when no poller holds a batch and the only messages
//! left are in flight, the poller asks the emulator to let one visibility timeout pass
//! (`POST /_fidelity/events/elapse`: they become visible again) and counts it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{json, Value};

use crate::{Deployment, Function, TestBed};

/// What template.yaml sets for the queue, its dead-letter queue and the mapping, as the
/// emulator read it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub queue_arn: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
    pub retention: Duration,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub max_concurrency: usize,
    pub function_response_types: Vec<String>,
    /// The rules whose target is the queue.
    pub rules: Vec<String>,
}

/// OrgEventsQueue in the emulator: created from the template by [`TestBed::org_events_queue`].
#[derive(Clone)]
pub struct OrgEventsQueue {
    endpoint: String,
    http: reqwest::Client,
    admin: aws_sdk_sqs::Client,
    pub settings: Settings,
}

impl TestBed {
    /// Creates OrgEventsQueue and its dead-letter queue with template.yaml's settings.
    pub async fn org_events_queue(&self) -> OrgEventsQueue {
        let v = self.control("events/queue", json!({})).await;
        let secs = |x: &Value| Duration::from_secs(x.as_u64().expect("seconds"));
        let s = |x: &Value| x.as_str().expect("string").to_owned();
        let settings = Settings {
            queue_arn: s(&v["queue"]["arn"]),
            queue_url: format!("{}{}", self.endpoint, s(&v["queue"]["url_path"])),
            dead_letter_queue_url: format!(
                "{}{}",
                self.endpoint,
                s(&v["dead_letter_queue"]["url_path"])
            ),
            visibility_timeout: secs(&v["queue"]["visibility_timeout"]),
            max_receive_count: v["queue"]["max_receive_count"].as_u64().unwrap() as u32,
            retention: secs(&v["queue"]["message_retention_period"]),
            batch_size: v["mapping"]["batch_size"].as_u64().unwrap() as usize,
            batching_window: secs(&v["mapping"]["maximum_batching_window_seconds"]),
            max_concurrency: v["mapping"]["maximum_concurrency"].as_u64().unwrap() as usize,
            function_response_types: v["mapping"]["function_response_types"]
                .as_array()
                .unwrap()
                .iter()
                .map(s)
                .collect(),
            rules: v["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| s(&r["rule"]))
                .collect(),
        };
        OrgEventsQueue {
            endpoint: self.endpoint.clone(),
            http: reqwest::Client::new(),
            admin: aws_sdk_sqs::Client::new(&self.sdk_config().await),
            settings,
        }
    }
}

impl OrgEventsQueue {
    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_fidelity/{path}", self.endpoint))
            .json(&body)
            .send()
            .await
            .expect("control call");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "control {path}: {status} {v}");
        v
    }

    /// EventBridge's delivery of `event` put on the default bus: the rules of template.yaml
    /// that match it (each sent it to the queue once), in template order.
    pub async fn put(&self, event: &Value) -> Vec<String> {
        let v = self.control("events/put", json!({ "event": event })).await;
        v["matched"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    }

    /// Puts every event; each must match a rule (an event meant to be left out is put with
    /// [`Self::put`] and its answer asserted).
    pub async fn put_all(&self, events: &[Value]) {
        for e in events {
            let rules = self.put(e).await;
            assert!(!rules.is_empty(), "no rule of template.yaml matches {e}");
        }
    }

    /// (visible, in flight) messages of the queue.
    pub async fn depth(&self) -> (usize, usize) {
        let a = self
            .admin
            .get_queue_attributes()
            .queue_url(&self.settings.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes");
        let n = |k: QueueAttributeName| -> usize {
            a.attributes()
                .and_then(|m| m.get(&k))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// What FailedInvocationsAlarm watches: the dead-letter queue's CloudWatch metric
    /// ApproximateNumberOfMessagesVisible, which is the queue's ApproximateNumberOfMessages
    /// attribute (SQS developer guide, "Available CloudWatch metrics for Amazon SQS").
    pub async fn dead_letter_visible(&self) -> usize {
        let a = self
            .admin
            .get_queue_attributes()
            .queue_url(&self.settings.dead_letter_queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("GetQueueAttributes");
        a.attributes()
            .and_then(|m| m.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// One visibility timeout passes (virtually): the messages in flight are visible again.
    async fn elapse(&self) -> usize {
        let v = self.control("events/elapse", json!({})).await;
        v["visible_again"].as_u64().unwrap_or(0) as usize
    }

    /// Lambda's poller for the mapping: it receives and deletes with org-events' execution
    /// role, deployed in the management account (`ConsumeOrgEventsQueue`).
    pub async fn lambda_poller(&self, bed: &TestBed, options: Options) -> Poller {
        let conf = bed
            .function_config(Function::OrgEvents, &Deployment::management())
            .await;
        self.poller(aws_sdk_sqs::Client::new(&conf), options)
    }

    /// A poller receiving with `sqs`.
    pub fn poller(&self, sqs: aws_sdk_sqs::Client, options: Options) -> Poller {
        for t in &self.settings.function_response_types {
            assert_eq!(
                t, "ReportBatchItemFailures",
                "template.yaml: FunctionResponseTypes {t} is not played by the poller"
            );
        }
        Poller {
            queue: self.clone(),
            sqs,
            options,
        }
    }
}

/// How the test plays the mapping beyond the template's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Real seconds per second of the template's time (the batching window).
    pub time_scale: f64,
    /// At-least-once delivery: every message is delivered twice (its first delete is lost).
    pub every_message_twice: bool,
    /// Hand each gathered set over newest first.
    pub reverse: bool,
    /// Hand each gathered set over in batches of at most this many (Lambda may invoke with
    /// fewer records than BatchSize), `None`: BatchSize.
    pub batch_limit: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            every_message_twice: false,
            reverse: false,
            batch_limit: None,
        }
    }
}

/// One invocation the poller made.
#[derive(Debug, Clone)]
pub struct Delivery<T> {
    /// In the order the invocations started.
    pub seq: usize,
    pub message_ids: Vec<String>,
    /// Each record's ApproximateReceiveCount.
    pub receive_counts: Vec<u32>,
    /// Each record's body, parsed.
    pub bodies: Vec<Value>,
    /// The records the function answered as failed (partial batch response): left on the
    /// queue while the others were deleted.
    pub failed_items: Vec<String>,
    pub result: Result<T, String>,
}

/// What a run of the poller did.
#[derive(Debug)]
pub struct Report<T> {
    pub deliveries: Vec<Delivery<T>>,
    /// Visibility timeouts the virtual clock let pass.
    pub visibility_timeouts: usize,
}

impl<T> Report<T> {
    pub fn failed(&self) -> usize {
        self.deliveries.iter().filter(|d| d.result.is_err()).count()
    }
    /// How many times each message ID was delivered.
    pub fn deliveries_per_message(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for d in &self.deliveries {
            for id in &d.message_ids {
                *m.entry(id.clone()).or_default() += 1;
            }
        }
        m
    }
}

pub struct Poller {
    queue: OrgEventsQueue,
    sqs: aws_sdk_sqs::Client,
    options: Options,
}

struct Received {
    id: String,
    receipt: String,
    body: String,
    count: u32,
    record: Value,
}

/// Shared by the poller tasks: receives and the virtual clock go through `gate`, so the clock
/// never moves while a poller holds a batch.
struct Shared {
    gate: tokio::sync::Mutex<()>,
    busy: AtomicUsize,
    seq: AtomicUsize,
    timeouts: AtomicUsize,
    done: Arc<AtomicBool>,
}

const POLL: Duration = Duration::from_millis(50);

impl Poller {
    /// Polls until `done` is set and the queue is empty (every message deleted or
    /// dead-lettered), invoking `invoke` with each batch's SQS event.
    pub async fn run<F, Fut, T>(self, done: Arc<AtomicBool>, invoke: F) -> Report<T>
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
    {
        let shared = Arc::new(Shared {
            gate: tokio::sync::Mutex::new(()),
            busy: AtomicUsize::new(0),
            seq: AtomicUsize::new(0),
            timeouts: AtomicUsize::new(0),
            done,
        });
        let this = Arc::new(self);
        let invoke = Arc::new(invoke);
        let mut pollers = tokio::task::JoinSet::new();
        for _ in 0..this.queue.settings.max_concurrency {
            let (this, shared, invoke) = (this.clone(), shared.clone(), invoke.clone());
            pollers.spawn(async move { this.poll(&shared, &*invoke).await });
        }
        let mut deliveries = Vec::new();
        while let Some(r) = pollers.join_next().await {
            deliveries.extend(r.expect("poller task"));
        }
        deliveries.sort_by_key(|d: &Delivery<T>| d.seq);
        Report {
            deliveries,
            visibility_timeouts: shared.timeouts.load(Ordering::SeqCst),
        }
    }

    /// Every message already put: polls until the queue is empty.
    pub async fn drain<F, Fut, T>(self, invoke: F) -> Report<T>
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
        T: serde::Serialize + Send + 'static,
    {
        self.run(Arc::new(AtomicBool::new(true)), invoke).await
    }

    async fn receive(&self, max: usize) -> Vec<Received> {
        let s = &self.queue.settings;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&s.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ReceiveMessage with the function's role: {e:?}"));
        out.messages()
            .iter()
            .map(|m| {
                let attrs: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                let count = attrs
                    .get("ApproximateReceiveCount")
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                // The record as Lambda builds it (events/sqs-org-events-batch.json).
                let record = json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attrs,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": s.queue_arn,
                    "awsRegion": crate::REGION,
                });
                Received {
                    id: m.message_id().unwrap_or_default().to_owned(),
                    receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    count,
                    record,
                }
            })
            .collect()
    }

    /// The partial batch response of a successful invocation, when the mapping reports batch
    /// item failures (Lambda developer guide, "Implementing partial batch responses"): the
    /// `itemIdentifier`s of `batchItemFailures`. An identifier that is empty or not a record
    /// of the batch makes Lambda fail the whole batch: `Err`.
    fn failed_items<T: serde::Serialize>(
        &self,
        response: &T,
        piece: &[Received],
    ) -> Result<Vec<String>, String> {
        if !self
            .queue
            .settings
            .function_response_types
            .iter()
            .any(|t| t == "ReportBatchItemFailures")
        {
            return Ok(Vec::new());
        }
        let v = serde_json::to_value(response).unwrap_or(Value::Null);
        let Some(items) = v.get("batchItemFailures").and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .map(|i| {
                let id = i["itemIdentifier"].as_str().unwrap_or_default();
                if id.is_empty() || !piece.iter().any(|m| m.id == id) {
                    Err(format!(
                        "invalid partial batch response: itemIdentifier {i} is not a record of \
                         the batch (Lambda fails the whole batch)"
                    ))
                } else {
                    Ok(id.to_owned())
                }
            })
            .collect()
    }

    /// One poller: gathers a batch, invokes, deletes or leaves its messages; again.
    async fn poll<F, Fut, T>(&self, shared: &Shared, invoke: &F) -> Vec<Delivery<T>>
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = Result<T, String>>,
        T: serde::Serialize,
    {
        let s = &self.queue.settings;
        let window = s.batching_window.mul_f64(self.options.time_scale);
        let mut out = Vec::new();
        loop {
            // The first messages of a batch, or the end.
            let first = {
                let _gate = shared.gate.lock().await;
                let got = self.receive(s.batch_size).await;
                if got.is_empty() {
                    if shared.busy.load(Ordering::SeqCst) == 0 && shared.done.load(Ordering::SeqCst)
                    {
                        match self.queue.depth().await {
                            (0, 0) => return out,
                            (0, _) => {
                                // Only messages in flight, and no poller holds them: their
                                // visibility timeout passes.
                                self.queue.elapse().await;
                                shared.timeouts.fetch_add(1, Ordering::SeqCst);
                            }
                            _ => {}
                        }
                    }
                    None
                } else {
                    shared.busy.fetch_add(1, Ordering::SeqCst);
                    Some(got)
                }
            };
            let Some(mut batch) = first else {
                tokio::time::sleep(POLL).await;
                continue;
            };
            // The batching window: until BatchSize messages or the window's end.
            let ends = tokio::time::Instant::now() + window;
            while batch.len() < s.batch_size && tokio::time::Instant::now() < ends {
                let more = {
                    let _gate = shared.gate.lock().await;
                    self.receive(s.batch_size - batch.len()).await
                };
                if more.is_empty() {
                    tokio::time::sleep(
                        POLL.min(ends.saturating_duration_since(tokio::time::Instant::now())),
                    )
                    .await;
                }
                batch.extend(more);
            }
            if self.options.reverse {
                batch.reverse();
            }
            let limit = self.options.batch_limit.unwrap_or(s.batch_size).max(1);
            let mut pieces = Vec::new();
            while !batch.is_empty() {
                let rest = batch.split_off(limit.min(batch.len()));
                pieces.push(std::mem::replace(&mut batch, rest));
            }
            for piece in pieces {
                let seq = shared.seq.fetch_add(1, Ordering::SeqCst);
                let event = json!({
                    "Records": piece.iter().map(|m| m.record.clone()).collect::<Vec<_>>()
                });
                let mut result = invoke(event).await;
                let failed_items = match &result {
                    Ok(r) => self.failed_items(r, &piece),
                    Err(_) => Ok(Vec::new()),
                };
                let failed_items = match failed_items {
                    Ok(ids) => ids,
                    Err(why) => {
                        // Lambda: an invalid partial batch response fails the whole batch.
                        result = Err(why);
                        Vec::new()
                    }
                };
                if result.is_ok() {
                    // Deleted on success, but for the copy whose delete is lost and the
                    // records the function answered as failed.
                    for m in &piece {
                        if self.options.every_message_twice && m.count == 1 {
                            continue;
                        }
                        if failed_items.contains(&m.id) {
                            continue;
                        }
                        self.sqs
                            .delete_message()
                            .queue_url(&s.queue_url)
                            .receipt_handle(&m.receipt)
                            .send()
                            .await
                            .unwrap_or_else(|e| {
                                panic!("DeleteMessage with the function's role: {e:?}")
                            });
                    }
                }
                out.push(Delivery {
                    seq,
                    failed_items,
                    message_ids: piece.iter().map(|m| m.id.clone()).collect(),
                    receive_counts: piece.iter().map(|m| m.count).collect(),
                    bodies: piece
                        .iter()
                        .map(|m| serde_json::from_str(&m.body).unwrap_or(json!(m.body)))
                        .collect(),
                    result,
                });
            }
            shared.busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
