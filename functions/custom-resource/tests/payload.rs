//! Lambda's asynchronous payload limit (issue 20, section 4). A wait that outlasts an
//! invocation continues in an asynchronous self-invocation whose payload Lambda refuses over
//! 262,144 bytes (`custom_resource::payload`). These tests drive the handler in process, on an
//! organization of 10,000 and 100,000 accounts (`test-support`'s in-process organization and
//! StackSet), through the test bed's Lambda (`e2e::lambda::LambdaStub`), which refuses an
//! oversize payload as Lambda does: every continuation is sent by the real re-invoker (the
//! SDK's `Invoke`) and taken from the stub's queue for the next invocation.
//!
//! Run: `cargo test -p custom-resource --test payload -- --nocapture` (prints the sizes).

mod common;

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

/// The `n`-th account's ID: spread over 12 digits, as real IDs are.
fn account_id(n: usize) -> AccountId {
    let n = 200_000_000_000u64 + n as u64 * 7_919;
    AccountId::parse(&format!("{n:012}")).unwrap()
}

/// An organization of `ous` OUs under the root, `per_ou` accounts each (12-digit IDs), and the
/// management account in the root. Returns it and the OU IDs.
fn organization(ous: usize, per_ou: usize) -> (Tree, Vec<String>) {
    let mut t = Tree {
        organization_id: "o-payload123".into(),
        root: ROOT.into(),
        management: MANAGEMENT.into(),
        ..Default::default()
    };
    let node = |id: &str, name: &str, parent: Option<&str>| OrgNode {
        id: id.into(),
        name: name.into(),
        parent: parent.map(str::to_owned),
    };
    t.nodes.insert(ROOT.into(), node(ROOT, "Root", None));
    t.accounts.insert(
        ROOT.into(),
        vec![Account {
            id: AccountId::parse(MANAGEMENT).unwrap(),
            name: "management".into(),
            state: AccountState::Active,
            parent: ROOT.into(),
            tags: None,
        }],
    );
    let mut ids = Vec::new();
    for o in 0..ous {
        let ou = format!("ou-pay1-{o:08}");
        t.nodes
            .insert(ou.clone(), node(&ou, &format!("unit-{o}"), Some(ROOT)));
        t.children.entry(ROOT.into()).or_default().push(ou.clone());
        t.children.insert(ou.clone(), vec![]);
        let accounts = (0..per_ou)
            .map(|i| Account {
                id: account_id(o * per_ou + i),
                name: format!("acct-{o}-{i}"),
                state: AccountState::Active,
                parent: ou.clone(),
                tags: None,
            })
            .collect();
        t.accounts.insert(ou.clone(), accounts);
        ids.push(ou);
    }
    t.children.entry(ROOT.into()).or_default();
    (t, ids)
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

/// Accounts a continuation carries, by operation kind, and its number of operations.
fn carried(payload: &Value) -> (BTreeMap<String, usize>, usize) {
    let c = cont(payload);
    assert!(
        c.get("Unlisted").is_none(),
        "every account travels: {}",
        c["Unlisted"]
    );
    let ops: Vec<&Value> = c["Started"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&c["Operation"]))
        .filter(|o| !o.is_null())
        .collect();
    let mut by_kind = BTreeMap::new();
    for o in &ops {
        *by_kind
            .entry(o["kind"].as_str().unwrap().to_owned())
            .or_default() += o["accounts"].as_array().map_or(0, Vec::len);
    }
    (by_kind, ops.len())
}

fn kinds(v: &[(&str, usize)]) -> BTreeMap<String, usize> {
    v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// The largest of the continuations sent, and what the last one carries.
fn largest(sent: &[(usize, Value)]) -> usize {
    sent.iter().map(|(b, _)| *b).max().unwrap()
}

fn kb(bytes: usize) -> String {
    format!(
        "{bytes} bytes ({:.0}% of {ASYNC_PAYLOAD_LIMIT})",
        bytes as f64 * 100.0 / ASYNC_PAYLOAD_LIMIT as f64
    )
}

#[tokio::test]
async fn ten_thousand_accounts_travel_in_continuations_under_lambdas_limit_with_their_margin() {
    // 150 OUs of 100 accounts: the scope is 100 of them (10,000 accounts); the Update moves it
    // 50 OUs on (5,000 accounts in, 5,000 out).
    let bed = Bed::start(150, 100).await;
    let mut figures = BTreeMap::new();

    // Each operation lists at most 50 OUs: the Create of 100 OUs is two operations, the
    // Update's delete (the root and 50 OUs) two, the Delete (the root and 100 OUs) three. Each
    // continuation carries every operation the request started so far, with its accounts.
    let create = request(&bed.sink, "create", "req-10k-create", bed.scope(0..100));
    let Run {
        sent,
        answer,
        last_pages,
        ..
    } = bed.run(create.clone()).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "10000");
    assert_eq!(bed.enrolled(), bed.accounts(0..100));
    let (last, ops) = carried(&sent.last().unwrap().1);
    assert_eq!(last, kinds(&[("create", 10_000)]));
    assert_eq!((sent.len(), ops), (2, 2));
    figures.insert("Create of 10,000", (largest(&sent), sent.len()));
    assert_eq!(bed.last_change().counts.enrolled, 10_000);
    assert_eq!(
        last_pages, 0,
        "every account travelled: nothing was read back"
    );

    let mut update = request(&bed.sink, "update", "req-10k-update", bed.scope(50..150));
    update["PhysicalResourceId"] = live_id().into();
    update["OldResourceProperties"] = create["ResourceProperties"].clone();
    let Run {
        sent,
        answer,
        last_pages,
        ..
    } = bed.run(update).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "10000");
    assert_eq!(bed.enrolled(), bed.accounts(50..150));
    let (last, ops) = carried(&sent.last().unwrap().1);
    assert_eq!(last, kinds(&[("create", 5_000), ("delete", 5_000)]));
    assert_eq!((sent.len(), ops), (3, 3));
    figures.insert("Update +5,000 -5,000", (largest(&sent), sent.len()));
    let change = bed.last_change();
    assert_eq!(
        (change.counts.enrolled, change.counts.withdrawn),
        (5_000, 5_000)
    );
    assert_eq!(
        last_pages, 0,
        "every account travelled: nothing was read back"
    );

    let mut delete = request(&bed.sink, "delete", "req-10k-delete", bed.scope(50..150));
    delete["PhysicalResourceId"] = live_id().into();
    let Run {
        sent,
        answer,
        last_pages,
        ..
    } = bed.run(delete).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let (last, ops) = carried(&sent.last().unwrap().1);
    assert_eq!(last, kinds(&[("delete", 10_000)]));
    assert_eq!((sent.len(), ops), (3, 3));
    figures.insert("Delete of 10,000", (largest(&sent), sent.len()));
    assert_eq!(bed.last_change().counts.withdrawn, 10_000);
    assert_eq!(
        last_pages, 0,
        "every account travelled: nothing was read back"
    );
    assert!(bed.enrolled().is_empty());

    println!("budget {BUDGET} bytes: Lambda's {ASYNC_PAYLOAD_LIMIT} less a 16 KiB margin");
    for (what, (bytes, n)) in &figures {
        println!("{what}: {n} continuations, the largest {}", kb(*bytes));
        assert!(*bytes <= BUDGET, "{what}: {bytes} > {BUDGET}");
    }
    assert!(bed.stub.refused().is_empty(), "{:?}", bed.stub.refused());
}

/// What a continuation that left accounts out would have weighed with them: its operations'
/// accounts, read from the StackSet's results, put back.
async fn with_every_account(bed: &Bed, payload: &Value) -> usize {
    let mut full = payload.clone();
    let c = full[CONTINUATION_KEY].as_object_mut().unwrap();
    let unlisted: Vec<String> = serde_json::from_value(c["Unlisted"].clone()).unwrap();
    let mut started = c["Started"].as_array().unwrap().clone();
    let mut operation = c["Operation"].clone();
    for op in started.iter_mut().chain(std::iter::once(&mut operation)) {
        let Some(id) = op["id"].as_str().map(str::to_owned) else {
            continue;
        };
        if !unlisted.contains(&id) {
            continue;
        }
        let results = bed
            .function
            .stacksets
            .inner
            .operation_results(STACK_SET, &id)
            .await
            .unwrap();
        let accounts: BTreeSet<String> = results
            .into_iter()
            .map(|r| r.account.as_str().to_owned())
            .collect();
        op["accounts"] = json!(accounts);
    }
    c.insert("Started".into(), json!(started));
    c.insert("Operation".into(), operation);
    c.remove("Unlisted");
    full.to_string().len()
}

/// What the continuations of a request that could not carry every account did.
struct Degraded {
    /// The largest sent, in bytes.
    sent: usize,
    /// The largest had every account travelled, in bytes.
    full: usize,
    /// Accounts the last one still carried.
    travelled: usize,
}

async fn degraded(bed: &Bed, sent: &[(usize, Value)]) -> Degraded {
    let mut d = Degraded {
        sent: 0,
        full: 0,
        travelled: 0,
    };
    for (bytes, p) in sent {
        assert!(*bytes <= BUDGET, "{bytes} > {BUDGET}");
        d.sent = d.sent.max(*bytes);
        let c = cont(p);
        let unlisted = c["Unlisted"].as_array().expect("accounts were left out");
        assert!(!unlisted.is_empty());
        d.travelled = 0;
        for op in c["Started"]
            .as_array()
            .unwrap()
            .iter()
            .chain(std::iter::once(&c["Operation"]))
        {
            let accounts = op["accounts"].as_array().unwrap().len();
            if unlisted.contains(&op["id"]) {
                assert_eq!(accounts, 0, "{}", op["id"]);
            }
            d.travelled += accounts;
        }
        d.full = d.full.max(with_every_account(bed, p).await);
    }
    d
}

#[tokio::test]
async fn a_hundred_thousand_accounts_do_not_fit_so_they_are_read_back_and_every_request_is_answered(
) {
    // AWS's quota of stack instances per StackSet is 100,000. 150 OUs of 1,000 accounts: the
    // scope is 100 of them; the Update moves it 50 OUs on (50,000 in, 50,000 out).
    let bed = Bed::start(150, 1_000).await;
    let mut figures = BTreeMap::new();
    let mut pages = BTreeMap::new();

    let create = request(&bed.sink, "create", "req-100k-create", bed.scope(0..100));
    let Run {
        sent,
        answer,
        pages_before_answer,
        last_pages,
    } = bed.run(create.clone()).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "100000");
    assert_eq!(answer["Data"]["AccountIdsTruncated"], "true");
    assert_eq!(bed.enrolled(), bed.accounts(0..100));
    figures.insert("Create of 100,000", degraded(&bed, &sent).await);
    pages.insert("Create of 100,000", last_pages);
    assert_eq!(
        pages_before_answer, 0,
        "read back after CloudFormation's answer"
    );
    // The change event counts every account: the invocation that answered read the accounts
    // of the operations that travelled without them back from their results.
    assert_eq!(bed.last_change().counts.enrolled, 100_000);

    let mut update = request(&bed.sink, "update", "req-100k-update", bed.scope(50..150));
    update["PhysicalResourceId"] = live_id().into();
    update["OldResourceProperties"] = create["ResourceProperties"].clone();
    let Run {
        sent,
        answer,
        pages_before_answer,
        last_pages,
    } = bed.run(update).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "100000");
    assert_eq!(bed.enrolled(), bed.accounts(50..150));
    figures.insert("Update +50,000 -50,000", degraded(&bed, &sent).await);
    pages.insert("Update +50,000 -50,000", last_pages);
    assert_eq!(
        pages_before_answer, 0,
        "read back after CloudFormation's answer"
    );
    let change = bed.last_change();
    assert_eq!(
        (change.counts.enrolled, change.counts.withdrawn),
        (50_000, 50_000)
    );

    let mut delete = request(&bed.sink, "delete", "req-100k-delete", bed.scope(50..150));
    delete["PhysicalResourceId"] = live_id().into();
    let Run {
        sent,
        answer,
        pages_before_answer,
        last_pages,
    } = bed.run(delete).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    figures.insert("Delete of 100,000", degraded(&bed, &sent).await);
    pages.insert("Delete of 100,000", last_pages);
    assert_eq!(
        pages_before_answer, 0,
        "read back after CloudFormation's answer"
    );
    assert_eq!(bed.last_change().counts.withdrawn, 100_000);
    assert!(bed.enrolled().is_empty());

    for (what, d) in &figures {
        println!(
            "{what}: the largest continuation would have been {}; sent {}; the invocation \
             that answered read {} ListStackSetOperationResults pages ({} accounts travelled)",
            kb(d.full),
            kb(d.sent),
            pages[what],
            d.travelled
        );
        assert!(d.full > ASYNC_PAYLOAD_LIMIT, "{what}: {}", d.full);
        // Each request changed 100,000 accounts: those that did not travel were read back,
        // 100 results a page (every operation covers whole OUs of 1,000 accounts).
        assert_eq!(pages[what] as usize * 100 + d.travelled, 100_000, "{what}");
    }
    assert_eq!(
        bed.stub.refused(),
        Vec::<usize>::new(),
        "nothing oversize was sent"
    );
}

#[tokio::test]
async fn a_continuation_lambda_refuses_is_answered_failed_with_lambdas_reason() {
    // A function that did not keep its continuations under the limit (no budget): 20,000
    // accounts in one operation (2 OUs) are a 300 KB continuation, which Lambda refuses.
    let mut bed = Bed::start(2, 10_000).await;
    bed.function.settings.continuation_budget = usize::MAX;
    bed.function.stacksets.holding(true);
    let s = bed
        .invoke(request(&bed.sink, "create", "req-refused", bed.scope(0..2)))
        .await;

    assert!(!s.reinvoked, "{s:?}");
    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");
    let refused = bed.stub.refused();
    assert_eq!(refused.len(), 1, "refused once, not retried: {refused:?}");
    assert!(refused[0] > ASYNC_PAYLOAD_LIMIT, "{refused:?}");
    assert!(bed.stub.history().is_empty(), "nothing was queued");
    let bodies = bed.sink.bodies();
    assert_eq!(bodies.len(), 1, "exactly one answer");
    let answer = &bodies[0];
    assert_eq!(answer["Status"], "FAILED");
    // The create had started: the rollback Delete must find what it made.
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    for says in [
        "Could not continue waiting for the StackSet",
        "Lambda's Invoke answered HTTP 413 RequestEntityTooLargeException",
        &format!(
            "{} byte payload is too large for the Event invocation type (limit 262144 bytes)",
            refused[0]
        ),
        "continues in AWS",
    ] {
        assert!(reason.contains(says), "{says:?} not in {reason}");
    }
    println!(
        "refused: {} bytes; CloudFormation read: {reason}",
        refused[0]
    );
}

#[tokio::test]
async fn a_request_too_large_to_carry_over_is_not_sent_and_answered_failed() {
    // Properties the function ignores (a template's own) make the request itself larger than
    // the budget: no continuation can fit, even with no accounts.
    let bed = Bed::start(2, 10).await;
    let mut p = bed.scope(0..2);
    p["Padding"] = json!("x".repeat(BUDGET));
    bed.function.stacksets.holding(true);
    let s = bed
        .invoke(request(&bed.sink, "create", "req-too-large", p))
        .await;

    assert!(!s.reinvoked, "{s:?}");
    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");
    assert!(bed.stub.history().is_empty(), "nothing was sent");
    assert!(bed.stub.refused().is_empty(), "nothing was sent");
    let bodies = bed.sink.bodies();
    assert_eq!(bodies.len(), 1, "exactly one answer");
    let answer = &bodies[0];
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    for says in [
        "Could not continue waiting for the StackSet",
        &format!("over the {BUDGET} bytes this function sends"),
        "(Lambda refuses more than 262144 bytes)",
        "Nothing was sent",
        "Shorten the custom resource's properties",
    ] {
        assert!(reason.contains(says), "{says:?} not in {reason}");
    }
    println!("CloudFormation read: {reason}");
}

#[tokio::test]
async fn accounts_that_cannot_be_read_back_are_left_out_of_the_change_event_not_the_answer() {
    // 20,000 accounts in one operation (2 OUs): too many to travel, so they are read back; the
    // results cannot be read when the request is answered.
    let bed = Bed::start(2, 10_000).await;
    bed.function.stacksets.holding(true);
    let first = bed
        .invoke(request(
            &bed.sink,
            "create",
            "req-no-read-back",
            bed.scope(0..2),
        ))
        .await;
    assert!(first.reinvoked, "{first:?}");
    let history = bed.stub.history();
    let next = &history.last().unwrap().payload;
    assert_eq!(carried_unlisted(next), 1, "{}", cont(next)["Unlisted"]);
    bed.function.stacksets.release();
    bed.function.stacksets.holding(false);
    bed.function
        .stacksets
        .results_fail
        .store(true, Ordering::SeqCst);

    let last = bed.invoke(next.clone()).await;

    assert_eq!(last.answered.as_deref(), Some("SUCCESS"), "{last:?}");
    assert_eq!(bed.sink.bodies().len(), 1, "exactly one answer");
    assert_eq!(bed.sink.bodies()[0]["Data"]["AccountCount"], "20000");
    assert_eq!(bed.enrolled(), bed.accounts(0..2));
    // The operation's accounts are unknown to the invocation that answered, and nothing else
    // changed in it: no change event.
    assert_eq!(last.change_event, None, "{last:?}");
    assert!(bed.feed.events().is_empty());
}

fn carried_unlisted(payload: &Value) -> usize {
    cont(payload)["Unlisted"].as_array().map_or(0, Vec::len)
}
