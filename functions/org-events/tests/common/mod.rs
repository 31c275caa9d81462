//! Helpers for the end-to-end suites: the handler with real SDK clients aimed at a fresh
//! emulator, the sample events from `events/` with the fixture's IDs put in.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::esm::{Options, OrgEventsQueue, Report};
use e2e::{Deployment, Fixture, Function, TestBed, REGION, STACK_SET};
use org_events::time::{format_rfc3339, now_epoch};
use org_events::{Config, Handler, HandlerError, Invocation, Summary};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::ports::TokioClock;

pub type SdkHandler = Handler<SdkOrganizations, CfnStackSets, TokioClock>;

/// A sample event from `events/`.
pub fn sample_event(name: &str) -> Value {
    let path = e2e::repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

static EVENT_SEQ: AtomicU64 = AtomicU64::new(0);

/// The sample with a fresh id and the time of now, and `(JSON pointer, value)` overrides.
pub fn event(name: &str, set: &[(&str, Value)]) -> Value {
    let mut v = sample_event(name);
    let now = format_rfc3339(now_epoch());
    let n = EVENT_SEQ.fetch_add(1, Ordering::Relaxed);
    v["id"] = json!(format!("test-event-{n}-{}", std::process::id()));
    v["time"] = json!(now);
    if v["detail"].get("eventTime").is_some() {
        v["detail"]["eventTime"] = json!(now);
    }
    for (ptr, val) in set {
        *v.pointer_mut(ptr)
            .unwrap_or_else(|| panic!("{name} has no {ptr}")) = val.clone();
    }
    v
}

/// `events/move-account.json` for this move.
pub fn move_event(account: &str, from: &str, to: &str) -> Value {
    event(
        "move-account.json",
        &[
            ("/detail/requestParameters/accountId", json!(account)),
            ("/detail/requestParameters/sourceParentId", json!(from)),
            ("/detail/requestParameters/destinationParentId", json!(to)),
        ],
    )
}

/// The org-events function's SDK configuration, deployed in the management account: IAM
/// allows it exactly what template.yaml gives its execution role (`e2e::iam`).
pub async fn function_config(bed: &TestBed) -> aws_config::SdkConfig {
    function_config_as(bed, &Deployment::management()).await
}

pub async fn function_config_as(bed: &TestBed, deployment: &Deployment) -> aws_config::SdkConfig {
    bed.function_config(Function::OrgEvents, deployment).await
}

/// One test's world: emulator, sample organization, StackSet, handler.
pub struct World {
    pub bed: TestBed,
    pub f: Fixture,
    pub handler: SdkHandler,
    pub orgs: aws_sdk_organizations::Client,
    seq: AtomicU64,
}

/// Environment for `Config::from_env`; `targets` are fixture OU paths or `Root`.
pub fn env_for(
    f: &Fixture,
    targets: &[&str],
    mode: &str,
    accounts: &[&str],
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let ous: Vec<String> = targets.iter().map(|p| f.ou(p)).collect();
    let accts: Vec<String> = accounts.iter().map(|a| f.account(a)).collect();
    let mut m = BTreeMap::from([
        ("TARGET_OU_IDS".to_owned(), ous.join(",")),
        ("ACCOUNT_SCOPE".to_owned(), mode.to_owned()),
        ("TARGET_ACCOUNT_IDS".to_owned(), accts.join(",")),
        ("STACK_SET_NAME".to_owned(), STACK_SET.to_owned()),
        ("STACK_SET_REGIONS".to_owned(), REGION.to_owned()),
        ("SETTLE_SECONDS".to_owned(), "0".to_owned()),
    ]);
    for (k, v) in extra {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    m
}

impl World {
    /// A fresh emulator with the sample organization and the StackSet (no instances yet).
    /// Operations take `op_seconds`.
    pub async fn new(
        targets: &[&str],
        mode: &str,
        accounts: &[&str],
        extra: &[(&str, &str)],
        op_seconds: f64,
    ) -> Self {
        let bed = TestBed::start().await;
        let f = bed.sample().await;
        bed.configure(json!({"operation_seconds": op_seconds}))
            .await;
        bed.create_stack_set(STACK_SET, true).await;
        let env = env_for(&f, targets, mode, accounts, extra);
        let config = Config::from_env(|k| env.get(k).cloned(), REGION).expect("valid config");
        let conf = function_config(&bed).await;
        let admin = bed.sdk_config().await;
        let mut handler = Handler::new(
            SdkOrganizations::new(&conf),
            CfnStackSets::new(&conf),
            TokioClock,
            config,
        );
        handler.engine.poll_initial = Duration::from_millis(100);
        handler.engine.poll_max = Duration::from_millis(500);
        Self {
            // The test changes the organization as its administrators do.
            orgs: aws_sdk_organizations::Client::new(&admin),
            bed,
            f,
            handler,
            seq: AtomicU64::new(0),
        }
    }

    /// One invocation, as Lambda would make it (a fresh request ID, two minutes to run).
    pub async fn try_invoke(&self, event: &Value) -> Result<Summary, HandlerError> {
        self.handler.handle(event, &self.next_invocation()).await
    }

    /// One invocation on a cold instance: a new handler that remembers nothing.
    pub async fn try_invoke_cold(&self, event: &Value) -> Result<Summary, HandlerError> {
        let conf = function_config(&self.bed).await;
        let mut h = Handler::new(
            SdkOrganizations::new(&conf),
            CfnStackSets::new(&conf),
            TokioClock,
            self.handler.config.clone(),
        );
        h.engine = self.handler.engine.clone();
        h.handle(event, &self.next_invocation()).await
    }

    fn next_invocation(&self) -> Invocation {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        Invocation {
            request_id: format!("req-{n:04}-0000-4000-8000-000000000000"),
            deadline: Instant::now() + Duration::from_secs(120),
        }
    }

    pub async fn invoke(&self, event: &Value) -> Summary {
        match self.try_invoke(event).await {
            Ok(s) => s,
            Err(e) => panic!("invocation failed: {e}\nevent: {event}"),
        }
    }

    /// The scheduled run.
    pub async fn schedule(&self) -> Summary {
        self.invoke(&event("scheduled.json", &[])).await
    }

    /// Fixture account IDs, sorted.
    pub fn ids(&self, names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|n| self.f.account(n)).collect();
        v.sort();
        v
    }

    /// Accounts with a stack instance now, sorted.
    pub async fn enrolled(&self) -> Vec<String> {
        self.bed.instance_accounts(STACK_SET).await
    }

    /// The emulator's instance record for one account.
    pub async fn instance(&self, account: &str) -> Option<Value> {
        self.bed
            .instances(STACK_SET)
            .await
            .into_iter()
            .find(|i| i["account"] == account)
    }

    pub async fn clear_requests(&self) {
        self.bed.control("requests/clear", json!({})).await;
    }

    /// `(service, action)` of every request since the last clear.
    pub async fn calls(&self) -> Vec<(String, String)> {
        self.bed
            .requests()
            .await
            .into_iter()
            .filter(|r| r["throttled"] != true)
            .map(|r| {
                (
                    r["service"].as_str().unwrap_or_default().to_owned(),
                    r["action"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Moves an account (by fixture name or ID) between fixture OU paths (or IDs); returns
    /// the matching event.
    pub async fn mv(&self, account: &str, from: &str, to: &str) -> Value {
        let id = self.resolve_account(account);
        let (from, to) = (self.resolve_ou(from), self.resolve_ou(to));
        self.orgs
            .move_account()
            .account_id(&id)
            .source_parent_id(&from)
            .destination_parent_id(&to)
            .send()
            .await
            .expect("MoveAccount");
        move_event(&id, &from, &to)
    }

    /// Creates an account (it lands in the root); returns its ID.
    pub async fn create_account(&self, name: &str) -> String {
        let out = self
            .orgs
            .create_account()
            .account_name(name)
            .email(format!("aws+{name}@acme-corp.example"))
            .send()
            .await
            .expect("CreateAccount");
        let status = out.create_account_status().expect("status");
        if let Some(id) = status.account_id() {
            return id.to_owned();
        }
        let req = status.id().expect("request id").to_owned();
        for _ in 0..50 {
            let d = self
                .orgs
                .describe_create_account_status()
                .create_account_request_id(&req)
                .send()
                .await
                .expect("DescribeCreateAccountStatus");
            if let Some(id) = d.create_account_status().and_then(|s| s.account_id()) {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("account {name} was not created");
    }

    pub fn resolve_account(&self, a: &str) -> String {
        if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) {
            a.to_owned()
        } else {
            self.f.account(a)
        }
    }

    pub fn resolve_ou(&self, p: &str) -> String {
        if p.starts_with("ou-") || p.starts_with("r-") {
            p.to_owned()
        } else {
            self.f.ou(p)
        }
    }
}

/// The batching window in these tests: the template's 20 s played as 1 s (the events are on the
/// queue before the poller starts, so any window gathers them).
pub const QUICK: f64 = 0.05;

/// Hands what is on `queue` to the world's handler (a warm instance), as the event source
/// mapping does (`e2e::esm`), until the queue is empty.
pub async fn deliver(w: &Arc<World>, queue: &OrgEventsQueue, options: Options) -> Report<Summary> {
    let poller = queue.lambda_poller(&w.bed, options).await;
    let w = w.clone();
    poller
        .drain(move |event| {
            let w = w.clone();
            async move { w.try_invoke(&event).await.map_err(|e| e.to_string()) }
        })
        .await
}

/// Options with the quick window.
pub fn quick() -> Options {
    Options {
        time_scale: QUICK,
        ..Options::default()
    }
}

/// Mutating StackSet calls in a `(service, action)` list.
pub fn mutating(calls: &[(String, String)]) -> Vec<String> {
    calls
        .iter()
        .filter(|(s, a)| {
            s == "cloudformation"
                && matches!(
                    a.as_str(),
                    "CreateStackInstances"
                        | "UpdateStackInstances"
                        | "DeleteStackInstances"
                        | "DetectStackSetDrift"
                        | "UpdateStackSet"
                        | "DeleteStackSet"
                )
        })
        .map(|(_, a)| a.clone())
        .collect()
}

pub fn strs(v: &[shared::core::AccountId]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|a| a.as_str().to_owned()).collect();
    out.sort();
    out
}
