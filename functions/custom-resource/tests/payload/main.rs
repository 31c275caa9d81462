//! Lambda's asynchronous payload limit (issue 20, section 4). A wait that outlasts an
//! invocation continues in an asynchronous self-invocation whose payload Lambda refuses over
//! 262,144 bytes (`custom_resource::payload`). These tests drive the handler in process, on an
//! organization of 10,000 and 100,000 accounts (`test-support`'s in-process organization and
//! StackSet), through the test bed's Lambda (`e2e::lambda::LambdaStub`), which refuses an
//! oversize payload as Lambda does: every continuation is sent by the real re-invoker (the
//! SDK's `Invoke`) and taken from the stub's queue for the next invocation.
//!
//! Run: `cargo test -p custom-resource --test payload -- --nocapture` (prints the sizes).

#[path = "../common/mod.rs"]
mod common;

mod continuations;
mod fixture_org;
mod refusals;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{live_id, props, request, FixedIdentity};
use custom_resource::aws::{HttpResponder, LambdaReinvoker};
use custom_resource::handler::{
    Handler, Invocation, Responder, Settings, Summary, CONTINUATION_KEY,
};
use custom_resource::payload::{ASYNC_PAYLOAD_LIMIT, BUDGET};
use e2e::lambda::{LambdaStub, ResponseSink, FUNCTION_ARN};
use e2e::{REGION, STACK_SET};
use fixture_org::{account_id, organization};
use serde_json::{json, Value};
use shared::core::{Account, AccountId, AccountState, ChangeDetail, OrgNode};
use shared::feed::MemoryFeed;
use shared::ports::{
    AwsError, AwsResult, Clock, OpKind, Operation, OperationResult, StackSetInfo, StackSetReader,
    StackSetWriter, Targets,
};
use test_support::{MemOrg, MemStackSet, Tree};

const ROOT: &str = "r-pay1";
const MANAGEMENT: &str = "111111111111";

/// Time that passes only when the handler waits: a wait of 15 minutes costs no real time, so
/// every invocation runs to Lambda's deadline in milliseconds.
struct VirtualClock {
    base: Instant,
    elapsed: Mutex<Duration>,
}

impl VirtualClock {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            elapsed: Mutex::default(),
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.base + *self.elapsed.lock().unwrap()
    }
    async fn sleep(&self, d: Duration) {
        *self.elapsed.lock().unwrap() += d;
        tokio::task::yield_now().await;
    }
}

/// The in-process StackSet, whose operations stay RUNNING while `hold` is on: every operation
/// started while it is on is held until `release`, so each invocation that starts one ends at
/// its deadline and carries the wait over.
struct Held {
    inner: MemStackSet,
    hold: AtomicBool,
    held: Mutex<BTreeSet<String>>,
    /// `ListStackSetOperationResults` pages read (100 results a page).
    result_pages: Arc<AtomicU32>,
    /// `ListStackSetOperationResults` answers a throttling error.
    results_fail: AtomicBool,
}

impl Held {
    fn holding(&self, on: bool) {
        self.hold.store(on, Ordering::SeqCst);
    }
    fn release(&self) {
        self.held.lock().unwrap().clear();
    }
    fn mask(&self, mut op: Operation) -> Operation {
        if self.held.lock().unwrap().contains(&op.id) {
            op.status = "RUNNING".into();
            op.ended = None;
        }
        op
    }
}

impl StackSetReader for Held {
    fn set_call_as(&self, c: shared::core::CallAs) {
        self.inner.set_call_as(c)
    }
    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        self.inner.describe(name).await
    }
    async fn instances(&self, name: &str) -> AwsResult<Vec<shared::core::StackInstance>> {
        self.inner.instances(name).await
    }
    async fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> AwsResult<Vec<shared::core::StackInstance>> {
        self.inner.instances_of(name, accounts).await
    }
    async fn operation(&self, name: &str, id: &str) -> AwsResult<Operation> {
        Ok(self.mask(self.inner.operation(name, id).await?))
    }
    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        Ok(self
            .inner
            .recent_operations(name, max)
            .await?
            .into_iter()
            .map(|o| self.mask(o))
            .collect())
    }
    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        if self.results_fail.load(Ordering::SeqCst) {
            return Err(AwsError::Throttled("Rate exceeded".into()));
        }
        let results = self.inner.operation_results(name, id).await?;
        let pages = results.len().div_ceil(100).max(1) as u32;
        self.result_pages.fetch_add(pages, Ordering::SeqCst);
        Ok(results)
    }
}

impl StackSetWriter for Held {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        if !self.held.lock().unwrap().is_empty() {
            return Err(AwsError::OperationInProgress);
        }
        let id = self
            .inner
            .start(name, kind, targets, regions, operation_id)
            .await?;
        if self.hold.load(Ordering::SeqCst) {
            self.held.lock().unwrap().insert(id.clone());
        }
        Ok(id)
    }
}

type Function =
    Handler<MemOrg, Held, FixedIdentity, VirtualClock, Answering, LambdaReinvoker, Arc<MemoryFeed>>;

/// The ResponseURL's PUT, noting how many `ListStackSetOperationResults` pages had been read
/// when CloudFormation got its answer.
struct Answering {
    inner: HttpResponder,
    result_pages: Arc<AtomicU32>,
    pages_at_answer: Arc<Mutex<Vec<u32>>>,
}

impl Responder for Answering {
    async fn put(&self, url: &str, body: &str) -> Result<(), String> {
        let read = self.result_pages.load(Ordering::SeqCst);
        self.pages_at_answer.lock().unwrap().push(read);
        self.inner.put(url, body).await
    }
}

/// What a request did.
struct Run {
    /// The continuations the stub accepted, with their sizes as sent.
    sent: Vec<(usize, Value)>,
    /// CloudFormation's answer.
    answer: Value,
    /// `ListStackSetOperationResults` pages the invocation that answered read: before its
    /// answer, and in all.
    pages_before_answer: u32,
    last_pages: u32,
}

struct Bed {
    ous: Vec<String>,
    per_ou: usize,
    sink: ResponseSink,
    stub: LambdaStub,
    feed: Arc<MemoryFeed>,
    function: Function,
}

impl Bed {
    async fn start(ous: usize, per_ou: usize) -> Self {
        let (tree, ous) = organization(ous, per_ou);
        let org = MemOrg::new(tree, Duration::ZERO);
        let stacksets = Held {
            inner: MemStackSet::new(STACK_SET, org.clone(), Duration::ZERO),
            hold: AtomicBool::new(false),
            held: Mutex::default(),
            result_pages: Arc::default(),
            results_fail: AtomicBool::new(false),
        };
        let sink = ResponseSink::start().await;
        let stub = LambdaStub::start(Duration::from_secs(900)).await;
        let conf = e2e::sdk_config_for(&format!("http://{}", stub.addr), REGION).await;
        let feed = Arc::new(MemoryFeed::default());
        let mut inner = HttpResponder::new();
        inner.base_delay = Duration::from_millis(50);
        let responder = Answering {
            inner,
            result_pages: stacksets.result_pages.clone(),
            pages_at_answer: Arc::default(),
        };
        // Lambda's own settings: a 30 s margin before the deadline, the engine's real polls.
        let settings = Settings::new(REGION);
        let function = Handler {
            org,
            stacksets,
            identity: FixedIdentity(AccountId::parse(MANAGEMENT).unwrap()),
            clock: VirtualClock::new(),
            responder,
            reinvoker: LambdaReinvoker {
                client: aws_sdk_lambda::Client::new(&conf),
                function_arn: FUNCTION_ARN.into(),
            },
            feed: feed.clone(),
            settings,
        };
        Self {
            ous,
            per_ou,
            sink,
            stub,
            feed,
            function,
        }
    }

    /// The accounts of these OUs (by index).
    fn accounts(&self, ous: std::ops::Range<usize>) -> BTreeSet<AccountId> {
        (ous.start * self.per_ou..ous.end * self.per_ou)
            .map(account_id)
            .collect()
    }

    /// The accounts with a stack instance now.
    fn enrolled(&self) -> BTreeSet<AccountId> {
        self.function.stacksets.inner.enrolled()
    }

    /// The scope of these OUs (by index), every account in them.
    fn scope(&self, ous: std::ops::Range<usize>) -> Value {
        props(&self.ous[ous].join(","), "ALL", "")
    }

    /// One invocation with Lambda's 15 minutes (virtual).
    async fn invoke(&self, payload: Value) -> Summary {
        let deadline = self.function.clock.now() + Duration::from_secs(900);
        self.function
            .handle(
                payload,
                Invocation {
                    request_id: "lambda-request".into(),
                    deadline,
                },
            )
            .await
    }

    /// Runs a request to its answer with every operation held for one invocation: each
    /// invocation that starts an operation carries the wait over through the stub.
    async fn run(&self, req: Value) -> Run {
        let answers = self.sink.bodies().len();
        let queued = self.stub.history().len();
        self.function.stacksets.holding(true);
        self.result_pages();
        let mut s = self.invoke(req).await;
        let mut hops = 0;
        while s.reinvoked {
            let history = self.stub.history();
            let next = history.last().expect("the continuation was queued").clone();
            assert!(next.self_invoked);
            self.function.stacksets.release();
            self.result_pages();
            s = self.invoke(next.payload).await;
            hops += 1;
            assert!(hops < 20, "converges");
        }
        let last_pages = self.result_pages();
        self.function.stacksets.holding(false);
        assert_eq!(
            self.sink.bodies().len(),
            answers + 1,
            "exactly one answer: {s:?}"
        );
        Run {
            sent: self.stub.history()[queued..]
                .iter()
                .map(|i| (i.bytes, i.payload.clone()))
                .collect(),
            answer: self.sink.bodies().last().cloned().unwrap(),
            pages_before_answer: *self
                .function
                .responder
                .pages_at_answer
                .lock()
                .unwrap()
                .last()
                .unwrap(),
            last_pages,
        }
    }

    /// `ListStackSetOperationResults` pages read since the last call.
    fn result_pages(&self) -> u32 {
        self.function
            .stacksets
            .result_pages
            .swap(0, Ordering::SeqCst)
    }

    /// The change event of the last request.
    fn last_change(&self) -> ChangeDetail {
        let events = self.feed.events();
        serde_json::from_str(&events.last().expect("a change event").detail).unwrap()
    }
}

fn cont(payload: &Value) -> &Value {
    &payload[CONTINUATION_KEY]
}
