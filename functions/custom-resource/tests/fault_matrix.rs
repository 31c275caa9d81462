//! The fault matrix (issue 7) for the custom resource: the faults `faults.rs` and
//! `lifecycle.rs` do not already cover. Each test asserts the final stack instances equal the
//! scope exactly, and that CloudFormation got exactly one answer. FAULTS.md lists every fault
//! with what was injected, what the function did, and the test that shows it.
//!
//! Run: `cargo test -p custom-resource --test fault_matrix`

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{props, request, Capture};
use custom_resource::aws::HttpResponder;
use custom_resource::handler::{Handler, Invocation, Settings};
use e2e::lambda::{LambdaStub, ResponseSink};
use e2e::proxy::TcpProxy;
use e2e::{Deployment, Fixture, Function, TestBed, REGION, STACK_SET};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::engine::EngineConfig;
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

fn ids(f: &Fixture, names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| f.account(n)).collect();
    v.sort();
    v
}

/// The real `custom-resource` binary under a local Lambda (runtime + Invoke API), its
/// stdout/stderr drained concurrently (DEBUG logs would fill the pipes and block it) into a
/// log that can be read at any time.
struct Running {
    child: tokio::process::Child,
    log: Arc<Mutex<String>>,
}

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

impl Running {
    /// The binary, running as the principal template.yaml makes the function.
    async fn start(stub: &LambdaStub, bed: &TestBed, extra: &[(&'static str, &str)]) -> Self {
        Self::start_as(stub, bed, &Deployment::management(), extra).await
    }

    /// The binary as `deployment`'s principal; the test bed's Lambda authorizes its Invoke
    /// requests against that principal's policies, as Lambda does.
    async fn start_as(
        stub: &LambdaStub,
        bed: &TestBed,
        deployment: &Deployment,
        extra: &[(&'static str, &str)],
    ) -> Self {
        stub.authorize_with(&bed.endpoint);
        let mut env = bed.function_env(Function::CustomResource, deployment).await;
        env.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".into()));
        for (k, v) in extra {
            env.push((k, (*v).to_owned()));
        }
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_custom-resource"));
        cmd.env("AWS_LAMBDA_RUNTIME_API", stub.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_ENDPOINT_URL_LAMBDA", format!("http://{}", stub.addr))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn custom-resource");
        let log = Arc::new(Mutex::new(String::new()));
        drain(child.stdout.take().unwrap(), log.clone());
        drain(child.stderr.take().unwrap(), log.clone());
        Self { child, log }
    }

    /// The log so far.
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Stops the function; its whole log.
    async fn logs(mut self) -> String {
        self.child.kill().await.ok();
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.log()
    }
}

/// What the SDK's retry strategy logs at DEBUG before a retry: "attempt #1 failed with
/// RetryIndicated(RetryableError { kind: ThrottlingError, .. }); retrying after 412ms".
const SDK_RETRY: &str = "; retrying after ";

#[tokio::test]
async fn throttling_through_the_real_binary_is_retried_visibly_and_the_result_is_exact() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.configure(json!({"operation_seconds": 0.3})).await;
    let sink = ResponseSink::start().await;
    let stub = LambdaStub::start(Duration::from_secs(300)).await;
    let func = Running::start(&stub, &bed, &[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")]).await;
    bed.configure(json!({"throttle": {"organizations": 0.3, "cloudformation": 0.3}, "seed": 3}))
        .await;
    // Create, then Updates that move the scope round, until the SDK's retry shows in the
    // DEBUG log (at least three steps, at most ten): every step must end with exactly the
    // scoped accounts.
    let scopes: [(Value, Vec<String>); 3] = [
        (
            props(&f.root(), "DIFFERENCE", &f.account("staging-2")),
            ids(
                &f,
                &[
                    "sandbox-orphan",
                    "shared-services",
                    "prod-web",
                    "prod-data",
                    "prod-eu-1",
                    "prod-eu-payments",
                    "prod-eu-pci",
                    "prod-us-1",
                    "staging-1",
                ],
            ),
        ),
        (props(&f.ou("Root/Prod"), "ALL", ""), ids(&f, PROD)),
        (
            props(
                &f.ou("Root/Prod/EU"),
                "INTERSECTION",
                &format!("{},{}", f.account("prod-eu-pci"), f.account("prod-web")),
            ),
            ids(&f, &["prod-eu-pci"]),
        ),
    ];
    let mut steps = 0;
    while steps < 3 || (func.log().matches(SDK_RETRY).count() == 0 && steps < 10) {
        let (p, want) = &scopes[steps % scopes.len()];
        let kind = if steps == 0 { "create" } else { "update" };
        let id = stub.invoke(request(
            &sink,
            kind,
            &format!("throttled-{steps}"),
            p.clone(),
        ));
        let result = stub.result(&id, Duration::from_secs(120)).await;
        assert!(matches!(result, Some(Ok(_))), "{result:?}");
        let answer = sink
            .wait_for(steps + 1, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer["Status"], "SUCCESS", "{answer}");
        assert_eq!(answer["Data"]["AccountIds"], json!(want.join(",")));
        assert_eq!(
            bed.instance_accounts(STACK_SET).await,
            *want,
            "step {steps}"
        );
        steps += 1;
    }
    bed.configure(json!({"throttle": {"organizations": 0.0, "cloudformation": 0.0}}))
        .await;
    assert_eq!(sink.bodies().len(), steps, "one answer per request");
    let throttled = bed
        .requests()
        .await
        .iter()
        .filter(|r| r["throttled"] == true)
        .count();
    let logs = func.logs().await;
    let retries = logs.matches(SDK_RETRY).count();
    println!("{steps} requests, {throttled} throttled AWS requests, {retries} SDK retries logged");
    assert!(throttled >= 10, "{throttled}");
    assert!(retries >= 1, "no SDK retry in the DEBUG log");
    // Each retry line says which call (the SDK's operation span), which attempt, and why.
    let line = logs.lines().find(|l| l.contains(SDK_RETRY)).unwrap();
    let v: Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(v["level"], "DEBUG", "{line}");
    assert!(line.contains("ThrottlingError"), "{line}");
    assert!(line.contains("rpc.method"), "{line}");
    assert!(!logs.contains("SECRETSIGNATURE"));
}

#[tokio::test]
async fn the_deadline_during_a_running_operation_is_carried_over_by_the_real_binary() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    // 35 s per invocation minus the function's 30 s margin: 5 s of work per invocation,
    // against an operation that runs for 8 s.
    bed.configure(json!({"operation_seconds": 8.0})).await;
    let sink = ResponseSink::start().await;
    let stub = LambdaStub::start(Duration::from_secs(35)).await;
    let func = Running::start(&stub, &bed, &[("AWS_LAMBDA_LOG_LEVEL", "INFO")]).await;
    let started = Instant::now();
    stub.invoke(request(
        &sink,
        "create",
        "carried",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ));
    let answer = sink
        .wait_for(1, Duration::from_secs(60))
        .await
        .expect("answered");
    let took = started.elapsed();
    assert!(
        stub.drain(Duration::from_secs(20)).await,
        "every invocation ended"
    );
    // Nothing more arrives: exactly one answer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.bodies().len(), 1, "{:?}", sink.bodies());
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountIds"], json!(ids(&f, PROD).join(",")));
    assert_eq!(bed.instance_accounts(STACK_SET).await, ids(&f, PROD));
    let history = stub.history();
    let hops = history.iter().filter(|i| i.self_invoked).count();
    assert!(hops >= 1, "the wait was carried over by a self-invocation");
    for inv in history.iter().filter(|i| i.self_invoked) {
        assert!(
            inv.payload.get("OrgscopeContinuation").is_some(),
            "{}",
            inv.payload
        );
    }
    assert_eq!(
        bed.mutating_stackset_calls().await,
        ["CreateStackInstances"],
        "the wait resumed; nothing was started twice"
    );
    let logs = func.logs().await;
    assert!(logs.contains("carrying the wait over"), "{logs}");
    println!(
        "answered after {:.1} s, {} invocation(s), {hops} self-invocation(s)",
        took.as_secs_f64(),
        history.len()
    );
}

/// Lambda authorizes the self-invocation like any call: without `lambda:InvokeFunction` on
/// its own ARN (the template's `CustomResourceSelfInvokePolicy`), the continuation is refused
/// with AccessDenied and CloudFormation hears it, naming the action, instead of waiting an hour.
#[tokio::test]
async fn a_self_invocation_iam_refuses_is_answered_failed_naming_the_action() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.configure(json!({"operation_seconds": 8.0})).await;
    let sink = ResponseSink::start().await;
    let stub = LambdaStub::start(Duration::from_secs(35)).await;
    let _func = Running::start_as(
        &stub,
        &bed,
        &Deployment::management().without("lambda:InvokeFunction"),
        &[("AWS_LAMBDA_LOG_LEVEL", "INFO")],
    )
    .await;
    stub.invoke(request(
        &sink,
        "create",
        "no-self-invoke",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ));
    let answer = sink
        .wait_for(1, Duration::from_secs(60))
        .await
        .expect("answered");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap_or_default();
    assert!(reason.contains("lambda:InvokeFunction"), "{reason}");
    let denied = stub.denied();
    assert_eq!(denied.len(), 1, "refused once, not retried: {denied:?}");
    assert!(
        stub.history().iter().all(|i| !i.self_invoked),
        "nothing was queued"
    );
}

/// The handler with real SDK clients that reach the emulator through `proxy`.
async fn via_proxy(
    proxy: &TcpProxy,
) -> Handler<SdkOrganizations, CfnStackSets, SdkIdentity, TokioClock, HttpResponder, Capture> {
    let conf = e2e::sdk_config_for(&proxy.url(), REGION).await;
    let mut settings = Settings::new(REGION);
    settings.margin = Duration::from_millis(500);
    settings.engine = EngineConfig {
        poll_initial: Duration::from_millis(100),
        poll_max: Duration::from_millis(500),
        ..EngineConfig::default()
    };
    let mut responder = HttpResponder::new();
    responder.base_delay = Duration::from_millis(50);
    Handler {
        org: SdkOrganizations::new(&conf),
        stacksets: CfnStackSets::new(&conf),
        identity: SdkIdentity::new(&conf),
        clock: TokioClock,
        responder,
        reinvoker: Capture::default(),
        feed: shared::feed::NoFeed,
        settings,
    }
}

/// Waits until the emulator has seen `action` (read straight from the emulator, not through
/// the proxy).
async fn wait_for_action(bed: &TestBed, action: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    while !bed.requests().await.iter().any(|r| r["action"] == action) {
        assert!(Instant::now() < end, "{action} never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One outage: waits until the emulator saw `action`, then takes the endpoint down for
/// `down`, then brings it back. Returns when the endpoint is back.
async fn outage_after(bed: &TestBed, proxy: &TcpProxy, action: &str, down: Duration) {
    wait_for_action(bed, action).await;
    proxy.stop();
    tokio::time::sleep(down).await;
    proxy.resume().await;
}

fn inv(left: Duration) -> Invocation {
    Invocation {
        request_id: "lambda-request".into(),
        deadline: Instant::now() + left,
    }
}

#[tokio::test]
async fn an_endpoint_outage_during_the_wait_is_ridden_out_and_answered_once() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.configure(json!({"operation_seconds": 2.0})).await;
    let proxy = TcpProxy::start(&bed.endpoint).await;
    let sink = ResponseSink::start().await;
    let h = via_proxy(&proxy).await;
    let req = request(
        &sink,
        "create",
        "outage",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    // The endpoint goes away just after CreateStackInstances, for 4 s: every poll of the
    // operation in that time is refused or reset.
    let (summary, ()) = tokio::join!(
        h.handle(req, inv(Duration::from_secs(120))),
        outage_after(&bed, &proxy, "CreateStackInstances", Duration::from_secs(4))
    );
    assert!(proxy.accepted() > 0);
    // The outage hit the wait: the function tried to connect while the endpoint was down.
    assert!(
        proxy.refused() > 0,
        "no connection was refused during the outage"
    );
    assert_eq!(summary.answered.as_deref(), Some("SUCCESS"), "{summary:?}");
    assert_eq!(sink.bodies().len(), 1);
    assert_eq!(bed.instance_accounts(STACK_SET).await, ids(&f, PROD));
    // One operation. The outage can cut the connection before CreateStackInstances' answer
    // arrives, and the SDK then sends the same request again: with the same OperationId,
    // which AWS documents as the idempotency token ("performs the stack set operation only
    // once, even if you retry the request"), so it is never a second operation.
    let creates: Vec<Value> = bed
        .requests()
        .await
        .into_iter()
        .filter(|r| r["service"] == "cloudformation" && r["throttled"] != true)
        .filter(|r| r["action"] == "CreateStackInstances")
        .collect();
    let op_ids: std::collections::BTreeSet<Option<&str>> = creates
        .iter()
        .map(|r| r["params"]["OperationId"].as_str())
        .collect();
    assert!(!creates.is_empty());
    assert_eq!(op_ids.len(), 1, "{creates:?}");
    assert!(op_ids.iter().all(Option::is_some), "{creates:?}");
    assert!(
        bed.mutating_stackset_calls()
            .await
            .iter()
            .all(|a| a == "CreateStackInstances"),
        "only the create: {:?}",
        bed.mutating_stackset_calls().await
    );
}

#[tokio::test]
async fn an_invocation_killed_during_an_outage_is_finished_by_the_next_delivery() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.configure(json!({"operation_seconds": 2.0})).await;
    let proxy = TcpProxy::start(&bed.endpoint).await;
    let sink = ResponseSink::start().await;
    let h = via_proxy(&proxy).await;
    let req = request(
        &sink,
        "create",
        "killed",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    // The endpoint goes away just after CreateStackInstances and stays away until Lambda
    // stops the invocation (simulated: the invocation is dropped 3 s after the outage began,
    // mid-retry; counted from the outage, since a loaded machine may take longer than that to
    // reach CreateStackInstances).
    let first = tokio::select! {
        s = h.handle(req.clone(), inv(Duration::from_secs(120))) => Some(s),
        () = async {
            wait_for_action(&bed, "CreateStackInstances").await;
            proxy.stop();
            tokio::time::sleep(Duration::from_secs(3)).await;
        } => None,
    };
    assert!(
        first.is_none(),
        "the first invocation was stopped mid-outage: {first:?}"
    );
    assert!(
        proxy.refused() > 0,
        "no connection was refused during the outage"
    );
    assert!(sink.bodies().is_empty(), "nothing was answered by it");
    // The endpoint comes back; Lambda delivers the same (asynchronous) event again.
    proxy.resume().await;
    let second = h.handle(req, inv(Duration::from_secs(120))).await;
    assert_eq!(second.answered.as_deref(), Some("SUCCESS"), "{second:?}");
    assert_eq!(sink.bodies().len(), 1, "answered exactly once");
    assert_eq!(bed.instance_accounts(STACK_SET).await, ids(&f, PROD));
    // The retry found its own operation (same request, same OperationId): no second one.
    assert_eq!(
        bed.mutating_stackset_calls().await,
        ["CreateStackInstances"]
    );
}

/// The Lambda deadline is honoured while the endpoint is down: the function answers or carries
/// the wait over before Lambda stops it. The adapters' retries (12 attempts, up to 5 s apart,
/// each with the SDK's own 3 attempts) do not watch the deadline themselves; the handler's hard
/// stop, at half the margin before Lambda's deadline, ends the work and re-invokes (or
/// answers). Without it, an outage that begins shortly before the deadline would keep the
/// invocation busy past it: Lambda would kill it, and CloudFormation would wait until its
/// timeout. Scaled down here: 5 s of Lambda time, a 0.5 s margin, a 12 s outage.
#[tokio::test]
async fn the_invocation_yields_at_its_deadline_even_while_the_endpoint_is_down() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.configure(json!({"operation_seconds": 2.0})).await;
    let proxy = TcpProxy::start(&bed.endpoint).await;
    let sink = ResponseSink::start().await;
    let h = via_proxy(&proxy).await;
    let req = request(
        &sink,
        "create",
        "late",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    let started = Instant::now();
    let (summary, ()) = tokio::join!(
        async {
            let s = h.handle(req, inv(Duration::from_secs(5))).await;
            // Whether the endpoint was still down when the invocation ended.
            (s, started.elapsed(), !proxy.is_up())
        },
        outage_after(
            &bed,
            &proxy,
            "CreateStackInstances",
            Duration::from_secs(12)
        )
    );
    let (summary, took, still_down) = summary;
    assert!(
        proxy.refused() > 0,
        "no connection was refused during the outage"
    );
    println!("{summary:?} after {:.1} s", took.as_secs_f64());
    assert!(
        summary.answered.is_some() || summary.reinvoked,
        "{summary:?}"
    );
    // The order, not the clock: the invocation ended (answered or handed over) while the
    // 12 s outage still ran, so it did not wait the outage out past its 5 s deadline.
    assert!(
        still_down,
        "the invocation waited for the endpoint to come back ({:.1} s)",
        took.as_secs_f64()
    );
}
