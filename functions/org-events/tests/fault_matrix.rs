//! The fault matrix (issue 7) for org-events: the faults `scenarios.rs` and `burst.rs` do not
//! already cover. Each test asserts that the final stack instances equal the scope exactly.
//! FAULTS.md lists every fault with what was injected, what the function did, and the test.
//!
//! Run: `cargo test -p org-events --test fault_matrix`

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{env_for, event, mutating, strs, World};
use e2e::lambda::LambdaStub;
use e2e::proxy::TcpProxy;
use e2e::{Deployment, Function, TestBed, REGION, STACK_SET};
use org_events::handler::Disposition;
use org_events::{Config, Handler, Invocation};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::ports::TokioClock;
use tokio::io::{AsyncBufReadExt, BufReader};

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];

/// What the SDK's retry strategy logs at DEBUG before a retry: "attempt #1 failed with
/// RetryIndicated(RetryableError { kind: ThrottlingError, .. }); retrying after 412ms".
/// Organizations calls of one warm scheduled run over the sample organization with Root/Prod
/// as the target, less MoveAccount and DescribeAccount (see `org_requests`), by the design of
/// the scope read (`shared::read`): DescribeOrganizationalUnit (the target exists), then
/// ListAccountsForParent and ListOrganizationalUnitsForParent once for each of the 5 OUs of
/// Prod's subtree (Prod, EU, EU/Payments, EU/Payments/PCI, US; one page each): 1 + 5 + 5.
/// DescribeOrganization (the management account) is asked by the instance's first run only:
/// the warm instance remembers it (`shared::ou_parents`).
const BASELINE: usize = 11;
const SDK_RETRY: &str = "; retrying after ";

fn drain(r: impl tokio::io::AsyncRead + Unpin + Send + 'static, log: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let mut g = log.lock().unwrap();
            g.push_str(&l);
            g.push('\n');
        }
    });
}

#[tokio::test]
async fn throttling_through_the_real_binary_is_retried_visibly_and_converges_exactly() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.3})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let stub = LambdaStub::start(Duration::from_secs(300)).await;
    // The binary runs as the principal template.yaml makes the function.
    let mut env: Vec<(String, String)> = bed
        .function_env(Function::OrgEvents, &Deployment::management())
        .await
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.extend(env_for(&f, &["Root/Prod"], "ALL", &[], &[]));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    env.push(("AWS_LAMBDA_LOG_LEVEL".into(), "DEBUG".into()));
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_org-events"));
    cmd.env("AWS_LAMBDA_RUNTIME_API", stub.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-events-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn org-events");
    let log = Arc::new(Mutex::new(String::new()));
    drain(child.stdout.take().unwrap(), log.clone());
    drain(child.stderr.take().unwrap(), log.clone());
    let retries = |log: &Arc<Mutex<String>>| log.lock().unwrap().matches(SDK_RETRY).count();
    // Organizations requests of one scheduled run's read of the scope: (answered,
    // throttled). The test's own MoveAccount calls are not the function's, and the engine's
    // DescribeAccount of an account that just left the scope depends on the run, not on
    // throttling.
    let org_requests = |reqs: &[Value]| {
        let org: Vec<&Value> = reqs
            .iter()
            .filter(|r| {
                r["service"] == "organizations"
                    && r["action"] != "MoveAccount"
                    && r["action"] != "DescribeAccount"
            })
            .collect();
        let throttled = org.iter().filter(|r| r["throttled"] == true).count();
        (org.len() - throttled, throttled)
    };

    // The baseline: scheduled runs without throttling (the first enrolls Prod). The second is
    // the one counted: like the throttled runs below it runs on a warm instance, which
    // remembers the OUs' parents (`shared::ou_parents`) and asks no `ListParents` for them.
    for _ in 0..2 {
        bed.control("requests/clear", json!({})).await;
        let id = stub.invoke(event("scheduled.json", &[]));
        assert!(matches!(
            stub.result(&id, Duration::from_secs(120)).await,
            Some(Ok(_))
        ));
    }
    let reqs = bed.requests().await;
    let (baseline, none) = org_requests(&reqs);
    assert_eq!(none, 0);
    let mut by_action: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reqs {
        if r["service"] == "organizations" {
            *by_action
                .entry(r["action"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    // The design, not a measurement: BASELINE's comment says which calls these are.
    assert_eq!(baseline, BASELINE, "unthrottled run's calls: {by_action:?}");
    assert_eq!(bed.instance_accounts(STACK_SET).await, {
        let mut v: Vec<String> = PROD.iter().map(|n| f.account(n)).collect();
        v.sort();
        v
    });

    bed.configure(json!({"throttle": {"organizations": 0.3, "cloudformation": 0.3}, "seed": 5}))
        .await;
    let conf = bed.sdk_config().await;
    let orgs = aws_sdk_organizations::Client::new(&conf);
    let ids = |names: &[&str]| {
        let mut v: Vec<String> = names.iter().map(|n| f.account(n)).collect();
        v.sort();
        v
    };
    // Scheduled runs, with sandbox-orphan moved in and out of Prod between them, until the
    // SDK's retry shows in the DEBUG log (at least three runs, at most ten). Each run must end
    // with exactly the scoped accounts, and read exactly what the unthrottled run read:
    // throttling adds the SDK's retried attempts and nothing else (no page read twice, no
    // call redone above the SDK).
    let mut runs = 0;
    let mut inside = false;
    let (mut answered_total, mut throttled_total, mut all_throttled) = (0, 0, 0);
    while runs < 3 || (retries(&log) == 0 && runs < 10) {
        bed.control("requests/clear", json!({})).await;
        if runs > 0 {
            let (from, to) = if inside {
                (f.ou("Root/Prod/EU"), f.root())
            } else {
                (f.root(), f.ou("Root/Prod/EU"))
            };
            // The test's own call may be throttled too: retry it.
            let mut tries = 0;
            while let Err(e) = orgs
                .move_account()
                .account_id(f.account("sandbox-orphan"))
                .source_parent_id(&from)
                .destination_parent_id(&to)
                .send()
                .await
            {
                tries += 1;
                assert!(tries < 20, "MoveAccount: {e:?}");
            }
            inside = !inside;
        }
        let id = stub.invoke(event("scheduled.json", &[]));
        let result = stub.result(&id, Duration::from_secs(120)).await;
        let summary = match result {
            Some(Ok(v)) => v,
            other => panic!("run {runs}: {other:?}"),
        };
        assert!(
            summary["failures"].as_array().is_some_and(Vec::is_empty),
            "{summary}"
        );
        let mut want = ids(PROD);
        if inside {
            want.push(f.account("sandbox-orphan"));
            want.sort();
        }
        assert_eq!(bed.instance_accounts(STACK_SET).await, want, "run {runs}");
        let reqs = bed.requests().await;
        all_throttled += reqs.iter().filter(|r| r["throttled"] == true).count();
        let (answered, throttled) = org_requests(&reqs);
        assert_eq!(
            answered, baseline,
            "run {runs}: Organizations requests answered under throttling"
        );
        answered_total += answered;
        throttled_total += throttled;
        runs += 1;
    }
    bed.configure(json!({"throttle": {"organizations": 0.0, "cloudformation": 0.0}}))
        .await;
    let throttled = all_throttled;
    child.kill().await.ok();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = log.lock().unwrap().clone();
    let n = log.matches(SDK_RETRY).count();
    println!(
        "{runs} scheduled runs, {throttled} throttled AWS requests, {n} SDK retries logged; \
         Organizations per run: {baseline} calls unthrottled, {answered_total} answered + \
         {throttled_total} throttled over {runs} throttled runs ({:.2} attempts per call)",
        (answered_total + throttled_total) as f64 / answered_total as f64
    );
    assert!(throttled >= 10, "{throttled}");
    // At a 30 % throttling rate any retry scheme needs 1 / 0.7 = 1.43 attempts per call on
    // average; the SDK's retries must not add more than chance does.
    assert!(
        (answered_total + throttled_total) as f64 <= answered_total as f64 * 1.43 * 1.3,
        "{answered_total} answered, {throttled_total} throttled"
    );
    let line = log
        .lines()
        .find(|l| l.contains(SDK_RETRY))
        .expect("an SDK retry in the DEBUG log");
    let v: Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(v["level"], "DEBUG", "{line}");
    assert!(line.contains("ThrottlingError"), "{line}");
}

#[tokio::test]
async fn an_instance_deleted_out_of_band_is_restored_by_the_schedule() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    assert_eq!(w.enrolled().await, w.ids(PROD));
    let gone = w.f.account("prod-eu-pci");
    w.bed
        .control(
            "delete-instance",
            json!({"stack_set_name": STACK_SET, "account_id": gone, "region": REGION}),
        )
        .await;
    assert!(!w.enrolled().await.contains(&gone));
    w.clear_requests().await;
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_added), vec![gone.clone()], "{s:?}");
    assert!(s.accounts_removed.is_empty(), "{s:?}");
    assert_eq!(w.enrolled().await, w.ids(PROD));
    assert_eq!(w.instance(&gone).await.unwrap()["status"], "CURRENT");
    // One operation creates the missing instance; drift detection is the schedule's routine.
    let m = mutating(&w.calls().await);
    assert_eq!(
        m.iter().filter(|a| *a == "CreateStackInstances").count(),
        1,
        "{m:?}"
    );
    assert!(!m.contains(&"DeleteStackInstances".to_owned()), "{m:?}");
}

/// The deleted instance is recreated by the next scheduled run; the drift is repaired by the
/// run after the detection that finds it (the schedule reconciles first and never waits for
/// detection).
#[tokio::test]
async fn drift_and_a_deleted_instance_together_are_repaired_by_the_next_scheduled_runs() {
    let w = World::new(&["Root/Prod"], "DIFFERENCE", &["prod-web"], &[], 0.2).await;
    w.schedule().await;
    let want: Vec<&str> = PROD.iter().copied().filter(|a| *a != "prod-web").collect();
    // Reading the instances after the operation time lets the first detection finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.enrolled().await, w.ids(&want));
    let (drifted, gone) = (w.f.account("prod-eu-1"), w.f.account("prod-us-1"));
    w.bed
        .control(
            "drift",
            json!({"stack_set_name": STACK_SET, "account_id": drifted, "region": REGION}),
        )
        .await;
    w.bed
        .control(
            "delete-instance",
            json!({"stack_set_name": STACK_SET, "account_id": gone, "region": REGION}),
        )
        .await;
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_added), vec![gone.clone()], "{s:?}");
    assert!(s.accounts_repaired.is_empty(), "not detected yet: {s:?}");
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_repaired), vec![drifted.clone()], "{s:?}");
    assert_eq!(w.enrolled().await, w.ids(&want), "exactly the scope");
    for i in w.bed.instances(STACK_SET).await {
        assert_eq!(i["status"], "CURRENT", "{i}");
        assert_eq!(i["out_of_band_drift"], false, "{i}");
    }
    // The next run finds everything in sync and changes nothing but the drift check.
    w.clear_requests().await;
    let s = w.schedule().await;
    assert!(
        s.accounts_repaired.is_empty() && s.accounts_added.is_empty(),
        "{s:?}"
    );
    assert_eq!(mutating(&w.calls().await), ["DetectStackSetDrift"]);
}

/// A handler whose SDK clients reach the emulator through `proxy`.
async fn via_proxy(
    proxy: &TcpProxy,
    env: &std::collections::BTreeMap<String, String>,
) -> Handler<SdkOrganizations, CfnStackSets, TokioClock> {
    let conf = e2e::sdk_config_for(&proxy.url(), REGION).await;
    let config = Config::from_env(|k| env.get(k).cloned(), REGION).expect("config");
    let mut h = Handler::new(
        SdkOrganizations::new(&conf),
        CfnStackSets::new(&conf),
        TokioClock,
        config,
    );
    h.engine.poll_initial = Duration::from_millis(100);
    h.engine.poll_max = Duration::from_millis(500);
    h
}

async fn wait_for_action(bed: &TestBed, action: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    while !bed.requests().await.iter().any(|r| r["action"] == action) {
        assert!(Instant::now() < end, "{action} never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn inv(id: &str) -> Invocation {
    Invocation {
        request_id: id.into(),
        deadline: Instant::now() + Duration::from_secs(120),
    }
}

#[tokio::test]
async fn an_endpoint_outage_mid_reconcile_is_ridden_out_or_converged_by_the_next_run() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 2.0})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let proxy = TcpProxy::start(&bed.endpoint).await;
    let env = env_for(&f, &["Root/Prod"], "ALL", &[], &[]);
    let h = via_proxy(&proxy, &env).await;
    let ids = |names: &[&str]| {
        let mut v: Vec<String> = names.iter().map(|n| f.account(n)).collect();
        v.sort();
        v
    };

    // 1. A 4 s outage just after CreateStackInstances: the polls are refused or reset, the
    //    adapters retry, and the same run converges.
    let (ev, i1) = (event("scheduled.json", &[]), inv("run-1"));
    let (s, ()) = tokio::join!(h.handle(&ev, &i1), async {
        wait_for_action(&bed, "CreateStackInstances").await;
        proxy.stop();
        tokio::time::sleep(Duration::from_secs(4)).await;
        proxy.resume().await;
    });
    let s = s.expect("the run rode the outage out");
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(bed.instance_accounts(STACK_SET).await, ids(PROD));
    let resets = proxy.reset_count();
    // The outage hit the run: it tried to connect while the endpoint was down.
    let refused = proxy.refused();
    assert!(
        refused > 0,
        "no connection was refused during the first outage"
    );

    // 2. sandbox-orphan moves in; the next run's CreateStackInstances is followed by an
    //    outage that lasts until Lambda stops the invocation (simulated: dropped 3 s later).
    bed.move_account(
        &f.account("sandbox-orphan"),
        &f.root(),
        &f.ou("Root/Prod/US"),
    )
    .await;
    bed.control("requests/clear", json!({})).await;
    let (ev, i2) = (event("scheduled.json", &[]), inv("run-2"));
    // The 3 s count from the outage, not from the start: a loaded machine may take longer
    // than that to reach CreateStackInstances.
    let killed = tokio::select! {
        s = h.handle(&ev, &i2) => Some(s),
        () = async {
            wait_for_action(&bed, "CreateStackInstances").await;
            proxy.stop();
            tokio::time::sleep(Duration::from_secs(3)).await;
        } => None,
    };
    assert!(
        killed.is_none(),
        "the run was stopped mid-outage: {killed:?}"
    );
    assert!(
        proxy.refused() > refused,
        "no connection was refused during the second outage"
    );
    // 3. The endpoint comes back; the next scheduled run converges, and starts no second
    //    create: the first one's instance is there (or its operation is waited out).
    proxy.resume().await;
    let s = h
        .handle(&event("scheduled.json", &[]), &inv("run-3"))
        .await
        .expect("the next run converges");
    assert!(s.failures.is_empty(), "{s:?}");
    let mut want = ids(PROD);
    want.push(f.account("sandbox-orphan"));
    want.sort();
    assert_eq!(bed.instance_accounts(STACK_SET).await, want);
    for i in bed.instances(STACK_SET).await {
        assert_eq!(i["status"], "CURRENT", "{i}");
    }
    let creates = bed
        .mutating_stackset_calls()
        .await
        .into_iter()
        .filter(|a| a == "CreateStackInstances")
        .count();
    assert_eq!(creates, 1, "no account was enrolled twice");
    println!(
        "connections accepted {}, reset {} (first outage {resets}), refused while down {} \
         (first outage {refused})",
        proxy.accepted(),
        proxy.reset_count(),
        proxy.refused()
    );
}
