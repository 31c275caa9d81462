//! One source of truth for the scope: org-events reads it from its own deployment stack's
//! parameters (the custom resource's properties) at every invocation, stands aside while the
//! stack is being created, updated or deleted, and checks the stack again right before every
//! StackSet change. End to end against the emulator: a real CloudFormation stack (moto) whose
//! status the test holds where CloudFormation would be while the custom resource works, and the
//! custom resource's reconcile run through the same engine.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{event, function_config_as, mutating, World};
use e2e::{Deployment, Function, REGION, STACK_SET};
use org_events::handler::Disposition;
use org_events::{Config, Handler, HandlerError, Invocation, Summary};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, CfnStacks, SdkOrganizations};
use shared::core::{LeavePolicy, PlanPolicy, RawList, Scope};
use shared::engine::{Engine, EngineConfig, Outcome, Request};
use shared::ports::TokioClock;

type StackHandler = Handler<SdkOrganizations, CfnStackSets, TokioClock, CfnStacks>;

const STACK_TEMPLATE: &str = r#"{
  "Parameters": {
    "TargetOUIds": {"Type": "String"},
    "AccountScope": {"Type": "String"},
    "TargetAccountIds": {"Type": "String", "Default": ""},
    "OnAccountLeavesScope": {"Type": "String", "Default": "DELETE"},
    "StackSetName": {"Type": "String"}
  },
  "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
}"#;

/// The sample organization, the StackSet, a deployment stack holding the scope, and an
/// org-events handler configured the way the template configures it (STACK_ID, no scope).
struct StackWorld {
    w: World,
    cfn: aws_sdk_cloudformation::Client,
    stack_id: String,
    handler: StackHandler,
    seq: std::sync::atomic::AtomicU64,
}

fn params(ous: &str, mode: &str, accounts: &str) -> Vec<aws_sdk_cloudformation::types::Parameter> {
    [
        ("TargetOUIds", ous),
        ("AccountScope", mode),
        ("TargetAccountIds", accounts),
        ("OnAccountLeavesScope", "DELETE"),
        ("StackSetName", STACK_SET),
    ]
    .iter()
    .map(|(k, v)| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(*k)
            .parameter_value(*v)
            .build()
    })
    .collect()
}

impl StackWorld {
    async fn new(ous: &str, mode: &str, accounts: &str, settle: &str) -> Self {
        let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.5).await;
        let conf = w.bed.sdk_config().await;
        let cfn = aws_sdk_cloudformation::Client::new(&conf);
        let ous = w.ous(ous);
        let stack_id = cfn
            .create_stack()
            .stack_name("port-orgscope")
            .template_body(STACK_TEMPLATE)
            .set_parameters(Some(params(&ous, mode, accounts)))
            .send()
            .await
            .expect("CreateStack")
            .stack_id()
            .expect("stack id")
            .to_owned();
        // Exactly what template.yaml gives the function: no scope in the environment.
        let env = [
            ("STACK_ID", stack_id.as_str()),
            ("STACK_SET_REGIONS", REGION),
            ("SETTLE_SECONDS", settle),
            ("STACK_POLL_SECONDS", "0.2"),
        ];
        let config = Config::from_env(
            |k| {
                env.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            },
            REGION,
        )
        .expect("valid config");
        assert!(
            config.scope.targets.is_empty(),
            "no scope from the environment"
        );
        let fconf =
            function_config_as(&w.bed, &Deployment::management().with_stack(&stack_id)).await;
        let handler = stack_handler(&fconf, config).await;
        Self {
            w,
            cfn,
            stack_id,
            handler,
            seq: Default::default(),
        }
    }

    async fn invoke(&self, ev: &Value) -> Result<Summary, HandlerError> {
        invoke_on(&self.handler, &self.seq, ev).await
    }

    /// Holds the stack in `status`, as CloudFormation shows it while it works.
    async fn set_status(&self, status: &str) {
        self.w
            .bed
            .control(
                "stack-status",
                json!({"stack_id": self.stack_id, "status": status}),
            )
            .await;
    }

    /// A stack update to the new scope (the stack's parameters change at once, as
    /// DescribeStacks shows them from the start of an update), left UPDATE_IN_PROGRESS.
    async fn begin_update(&self, ous: &str, mode: &str, accounts: &str) {
        let ous = self.w.ous(ous);
        self.cfn
            .update_stack()
            .stack_name(&self.stack_id)
            .template_body(STACK_TEMPLATE)
            .set_parameters(Some(params(&ous, mode, accounts)))
            .send()
            .await
            .expect("UpdateStack");
        self.set_status("UPDATE_IN_PROGRESS").await;
    }

    /// What the custom resource does on Create/Update: reconcile to the scope, same engine.
    async fn custom_resource_applies(&self, ous: &str, mode: &str, accounts: &str) {
        let scope = Scope::parse(
            &RawList::Text(self.w.ous(ous)),
            mode,
            &RawList::Text(accounts.into()),
        )
        .unwrap();
        let conf = custom_resource_config(&self.w.bed).await;
        let (org, ss) = (SdkOrganizations::new(&conf), CfnStackSets::new(&conf));
        let engine = Engine {
            org: &org,
            stacksets: &ss,
            clock: &TokioClock,
            config: fast_engine(),
        };
        let regions = BTreeSet::from([REGION.to_owned()]);
        let req = Request {
            scope: &scope,
            stack_set: STACK_SET,
            regions: &regions,
            policy: PlanPolicy {
                on_leave: LeavePolicy::Delete,
                max_retry_attempts: 0,
                repair_drift: false,
            },
            seed: "custom-resource-update",
            deadline: Instant::now() + Duration::from_secs(60),
            done_kinds: &[],
            // A stack Create/Update is the user's change (as the custom resource passes it).
            user_change: true,
        };
        match engine
            .reconcile(&req)
            .await
            .expect("custom resource reconcile")
        {
            Outcome::Done(r) => assert!(r.failures.is_empty(), "{:?}", r.failures),
            Outcome::Pending { operation, .. } => panic!("still running: {operation:?}"),
        }
    }

    /// What the custom resource does on Delete: remove every instance.
    async fn custom_resource_removes_all(&self) {
        let conf = custom_resource_config(&self.w.bed).await;
        let (org, ss) = (SdkOrganizations::new(&conf), CfnStackSets::new(&conf));
        let engine = Engine {
            org: &org,
            stacksets: &ss,
            clock: &TokioClock,
            config: fast_engine(),
        };
        let out = engine
            .remove_all(
                STACK_SET,
                &[self.w.f.root()],
                "custom-resource-delete",
                Instant::now() + Duration::from_secs(60),
            )
            .await
            .expect("remove all");
        assert!(matches!(out, Outcome::Done(_)));
    }
}

impl World {
    /// Comma-separated OU IDs from fixture paths (`Root/Prod,Root/Staging`).
    fn ous(&self, paths: &str) -> String {
        paths
            .split(',')
            .map(|p| self.resolve_ou(p))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn fast_engine() -> EngineConfig {
    EngineConfig {
        poll_initial: Duration::from_millis(100),
        poll_max: Duration::from_millis(500),
        ..EngineConfig::default()
    }
}

/// What the custom-resource function runs as (the same engine, its own principal).
async fn custom_resource_config(bed: &e2e::TestBed) -> aws_config::SdkConfig {
    bed.function_config(Function::CustomResource, &Deployment::management())
        .await
}

async fn stack_handler(conf: &aws_config::SdkConfig, config: Config) -> StackHandler {
    let mut h = Handler::new(
        SdkOrganizations::new(conf),
        CfnStackSets::new(conf),
        TokioClock,
        config,
    )
    .with_stack(CfnStacks::new(conf));
    h.engine = fast_engine();
    h
}

async fn invoke_on(
    h: &StackHandler,
    seq: &std::sync::atomic::AtomicU64,
    ev: &Value,
) -> Result<Summary, HandlerError> {
    let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.handle(
        ev,
        &Invocation {
            request_id: format!("stack-{n:04}-0000-4000-8000-000000000000"),
            deadline: Instant::now() + Duration::from_secs(120),
        },
    )
    .await
}

fn schedule() -> Value {
    event("scheduled.json", &[])
}

#[tokio::test]
async fn the_scope_is_read_from_the_stack_parameters_not_the_environment() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let prod = sw.w.ids(&[
        "prod-web",
        "prod-data",
        "prod-eu-1",
        "prod-eu-payments",
        "prod-eu-pci",
        "prod-us-1",
    ]);
    assert_eq!(sw.w.enrolled().await, prod);

    // A finished stack update (the custom resource applied Staging): the next run follows it.
    sw.begin_update("Root/Staging", "ALL", "").await;
    sw.custom_resource_applies("Root/Staging", "ALL", "").await;
    sw.set_status("UPDATE_COMPLETE").await;
    let mv = sw.w.mv("prod-web", "Root/Prod", "Root/Staging").await;
    let s = sw.invoke(&mv).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(
        sw.w.enrolled().await,
        sw.w.ids(&["staging-1", "staging-2", "prod-web"])
    );
}

/// org-events' check of the stack right before a StackSet change: the second DescribeStacks of
/// a run (the first reads the scope when the run starts). The emulator holds it until the test
/// has acted (`POST /_fidelity/hold`), so the interleaving is forced, not slept for.
const GATE: u32 = 2;

/// Mutating StackSet calls with their request-log seq, and the window the held call waited in:
/// (seq it arrived, last seq logged before it went on).
async fn around_hold(sw: &StackWorld, hold: u64) -> (Vec<(u64, String)>, (u64, u64)) {
    let held = sw.w.bed.held_entry(hold).await;
    assert_eq!(held["action"], "DescribeStacks", "{held}");
    assert!(held.get("hold_timed_out").is_none(), "{held}");
    let window = (
        held["seq"].as_u64().unwrap(),
        held["released_after_seq"].as_u64().unwrap(),
    );
    let log = sw.w.bed.requests().await;
    let calls: Vec<(String, String)> = log
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let kinds = mutating(&calls);
    let seqs = log
        .iter()
        .filter(|r| {
            r["service"] == "cloudformation" && kinds.iter().any(|k| r["action"] == k.as_str())
        })
        .map(|r| {
            (
                r["seq"].as_u64().unwrap(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (seqs, window)
}

/// The seq of the first logged `action` call.
async fn seq_of(sw: &StackWorld, action: &str) -> u64 {
    sw.w.bed
        .requests()
        .await
        .iter()
        .find(|r| r["action"] == action)
        .and_then(|r| r["seq"].as_u64())
        .unwrap_or_else(|| panic!("no {action} logged"))
}

/// The race the issue names: org-events read the organization and planned with the old scope
/// (here: enrol an account moved into Prod), then the stack update started and the custom
/// resource applied the new scope (Staging only) before org-events reached its StackSet call.
#[tokio::test]
async fn a_run_that_planned_before_a_scope_change_does_not_undo_it() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    let mv = sw.w.mv("staging-1", "Root/Staging", "Root/Prod").await;
    sw.w.clear_requests().await;
    let hold =
        sw.w.bed
            .hold("cloudformation", "DescribeStacks", GATE)
            .await;

    let run = invoke_on(&sw.handler, &sw.seq, &mv);
    let update = async {
        // org-events has read and planned (create staging-1) and checks the stack before its
        // StackSet call: while that check waits, the stack update runs, and finishes.
        sw.w.bed.wait_held(hold).await;
        sw.begin_update("Root/Staging", "ALL", "").await;
        sw.custom_resource_applies("Root/Staging", "ALL", "").await;
        sw.set_status("UPDATE_COMPLETE").await;
        sw.w.bed.release(hold).await;
    };
    let (s, ()) = tokio::join!(run, update);
    let s = s.unwrap();
    // The new scope holds: Staging's accounts (staging-1 now lives in Prod), nothing of Prod.
    assert_eq!(sw.w.enrolled().await, sw.w.ids(&["staging-2"]), "{s:?}");
    assert!(
        s.accounts_added.is_empty() && s.accounts_removed.is_empty(),
        "{s:?}"
    );
    // The order: the stack update and the custom resource's StackSet calls came while
    // org-events' check waited; org-events' own StackSet calls: none.
    let (ops, (held, released)) = around_hold(&sw, hold).await;
    let update = seq_of(&sw, "UpdateStack").await;
    assert!(
        held < update && update <= released,
        "{held} {update} {released}"
    );
    assert_eq!(
        ops.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>(),
        ["CreateStackInstances", "DeleteStackInstances"],
        "{s:?}"
    );
    assert!(
        ops.iter().all(|(q, _)| held < *q && *q <= released),
        "{ops:?} outside {held}..={released}"
    );
}

/// The same race, slower custom resource: org-events reaches its StackSet call while the
/// stack is UPDATE_IN_PROGRESS; it waits for the stack, then plans with the new scope.
#[tokio::test]
async fn a_run_that_starts_during_a_scope_change_waits_and_then_acts_on_the_new_scope() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    sw.begin_update("Root/Staging", "ALL", "").await;
    let mv = sw.w.mv("prod-web", "Root/Prod", "Root/Staging").await;
    sw.w.clear_requests().await;
    // The first DescribeStacks answers UPDATE_IN_PROGRESS; the second is org-events polling
    // the stack: it waits until the custom resource has applied the new scope.
    let hold = sw.w.bed.hold("cloudformation", "DescribeStacks", 2).await;

    let run = invoke_on(&sw.handler, &sw.seq, &mv);
    let update = async {
        sw.w.bed.wait_held(hold).await;
        sw.custom_resource_applies("Root/Staging", "ALL", "").await;
        sw.set_status("UPDATE_COMPLETE").await;
        sw.w.bed.release(hold).await;
    };
    let (s, ()) = tokio::join!(run, update);
    let s = s.unwrap();
    // Not one account of the old scope (Prod) came back; prod-web, now in Staging, is in.
    assert_eq!(
        sw.w.enrolled().await,
        sw.w.ids(&["staging-1", "staging-2", "prod-web"]),
        "{s:?}"
    );
    // The order: org-events read nothing of the organization before the stack settled (it
    // was waiting on the stack), and every StackSet change came while its poll waited.
    let (ops, (held, released)) = around_hold(&sw, hold).await;
    assert!(!ops.is_empty(), "the custom resource applied the new scope");
    assert!(
        ops.iter().all(|(q, _)| held < *q && *q <= released),
        "{ops:?} outside {held}..={released}"
    );
    let org_before: Vec<Value> =
        sw.w.bed
            .requests()
            .await
            .into_iter()
            .filter(|r| r["service"] == "organizations" && r["seq"].as_u64().unwrap() < held)
            .collect();
    assert!(org_before.is_empty(), "{org_before:?}");
}

#[tokio::test]
async fn a_run_during_a_stack_delete_creates_nothing() {
    let sw = StackWorld::new("Root", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    assert!(!sw.w.enrolled().await.is_empty());

    // The stack Delete: CloudFormation deleted org-events' function and rule (they depend on
    // the custom resource), then the custom resource removed every instance. An invocation
    // that was already queued or running now sees a new account.
    sw.set_status("DELETE_IN_PROGRESS").await;
    sw.custom_resource_removes_all().await;
    let new = sw.w.create_account("late-joiner").await;
    sw.w.clear_requests().await;
    let ev = event(
        "create-account-result.json",
        &[(
            "/detail/serviceEventDetails/createAccountStatus/accountId",
            json!(new),
        )],
    );
    let s = sw.invoke(&ev).await.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(s.reason.contains("DELETE_IN_PROGRESS"), "{}", s.reason);
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(mutating(&sw.w.calls().await).is_empty());
    assert!(sw.w.enrolled().await.is_empty());

    // After the delete, the stack is still described by its ID: still nothing.
    sw.set_status("DELETE_COMPLETE").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(sw.w.enrolled().await.is_empty());
}

/// The delete race the issue names: org-events planned a Create, and the stack Delete (with
/// the custom resource's remove-all) happened before org-events reached its StackSet call.
#[tokio::test]
async fn a_run_that_planned_before_a_stack_delete_creates_nothing() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    let mv = sw.w.mv("staging-1", "Root/Staging", "Root/Prod").await;
    sw.w.clear_requests().await;
    let hold =
        sw.w.bed
            .hold("cloudformation", "DescribeStacks", GATE)
            .await;
    let run = invoke_on(&sw.handler, &sw.seq, &mv);
    let delete = async {
        sw.w.bed.wait_held(hold).await;
        sw.set_status("DELETE_IN_PROGRESS").await;
        sw.custom_resource_removes_all().await;
        sw.w.bed.release(hold).await;
    };
    let (s, ()) = tokio::join!(run, delete);
    let s = s.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(sw.w.enrolled().await.is_empty(), "{s:?}");
    // The order: the custom resource's remove-all came while org-events' check waited, and
    // org-events changed nothing after it.
    let (ops, (held, released)) = around_hold(&sw, hold).await;
    assert_eq!(
        ops.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>(),
        ["DeleteStackInstances"]
    );
    assert!(
        held < ops[0].0 && ops[0].0 <= released,
        "{ops:?} outside {held}..={released}"
    );
}

#[tokio::test]
async fn a_stack_that_does_not_exist_changes_nothing() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    let bogus = sw.stack_id.replace("port-orgscope", "port-other");
    let env = [("STACK_ID", bogus.as_str()), ("STACK_SET_REGIONS", REGION)];
    let config = Config::from_env(
        |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        },
        REGION,
    )
    .unwrap();
    let conf = function_config_as(&sw.w.bed, &Deployment::management().with_stack(&bogus)).await;
    let h = stack_handler(&conf, config).await;
    sw.w.clear_requests().await;
    let s = invoke_on(&h, &sw.seq, &schedule()).await.unwrap();
    // A stack that does not exist (as AWS answers for an unknown ID): nothing to do.
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(s.reason.contains("does not exist"), "{}", s.reason);
    assert!(mutating(&sw.w.calls().await).is_empty());
}

/// 300 listed accounts: 3,899 bytes in TargetAccountIds, within CloudFormation's 4,096-byte
/// parameter limit, beyond what Lambda's 4 KB environment could hold next to the other
/// variables. Nothing in org-events' path carries the scope through the environment.
#[tokio::test]
async fn a_scope_of_300_listed_accounts_deploys() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    let gen = sw
        .w
        .bed
        .control(
            "fixture/generate",
            json!({"accounts": 320, "ous": 20, "max_depth": 3, "suspended_every": 1000, "seed": 7}),
        )
        .await;
    let mut ids: Vec<String> = gen["accounts"]
        .as_object()
        .unwrap()
        .values()
        .filter(|a| a["state"] == "ACTIVE")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .filter(|id| *id != sw.w.f.management())
        .collect();
    ids.sort();
    ids.truncate(300);
    assert_eq!(ids.len(), 300);
    let listed = ids.join(",");
    assert!(
        listed.len() > 3_800 && listed.len() <= 4_096,
        "{}",
        listed.len()
    );

    sw.begin_update("Root", "INTERSECTION", &listed).await;
    sw.set_status("UPDATE_COMPLETE").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(s.accounts_added.len(), 300, "{s:?}");
    assert_eq!(sw.w.enrolled().await, ids);
}

/// `SETTLE_SECONDS` above 0: an event's change waits until the engine's preview of the
/// event's accounts has stayed the same, then reconciles them; the same event again finds the
/// preview empty and changes nothing.
#[tokio::test]
async fn with_a_settle_time_a_move_is_previewed_until_steady_then_reconciled() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0.2").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let before = sw.w.enrolled().await;

    let mv = sw.w.mv("staging-1", "Root/Staging", "Root/Prod").await;
    let s = sw.invoke(&mv).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let joined: Vec<String> = s.accounts_added.iter().map(|a| a.to_string()).collect();
    assert_eq!(joined, sw.w.ids(&["staging-1"]), "{s:?}");
    let mut want = before;
    want.extend(sw.w.ids(&["staging-1"]));
    want.sort();
    assert_eq!(sw.w.enrolled().await, want);

    let s = sw.invoke(&mv).await.unwrap();
    assert_eq!(s.outcome, Disposition::NoChange, "{s:?}");
    assert!(
        s.reason.contains("already matches the scope for account"),
        "{s:?}"
    );
    assert!(s.operations.is_empty(), "{s:?}");
}
