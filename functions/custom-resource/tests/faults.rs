//! Faults: per-account failures, concurrent operations, throttling, the Lambda deadline, a
//! panic. CloudFormation always gets exactly one answer.

mod common;

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use common::{
    delete_stack_set, function_config, handler_with, inv, live_id, props, request, rig,
    rollback_delete, Capture,
};
use custom_resource::handler::Reinvoker;
use e2e::{Fixture, STACK_SET};
use serde_json::{json, Value};
use shared::adapters::CfnStackSets;
use test_support::{Interloper, PanickingOrg, PanicsAfterStart};

fn ids(f: &Fixture, names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| f.account(n)).collect();
    v.sort();
    v
}

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];

/// Accounts whose instance has `status`.
async fn with_status(bed: &e2e::TestBed, status: &str) -> Vec<String> {
    bed.instances(STACK_SET)
        .await
        .into_iter()
        .filter(|i| i["status"] == status)
        .map(|i| i["account"].as_str().unwrap().to_owned())
        .collect()
}

const ROLE_EXISTS: &str = "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists.";
const OIDC_EXISTS: &str = "ResourceLogicalId:PortOidcProvider, ResourceType:AWS::IAM::OIDCProvider, ResourceStatusReason:Provider with url https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4 already exists. (Service: Iam, Status Code: 409, Request ID: 1b2c).";

#[tokio::test]
async fn per_account_failures_fail_the_resource_with_advice_naming_each_account() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let (a, b) = (f.account("prod-eu-1"), f.account("prod-us-1"));
    r.bed
        .control(
            "fail-account",
            json!({"account_id": a, "reason": ROLE_EXISTS, "times": null}),
        )
        .await;
    r.bed
        .control(
            "fail-account",
            json!({"account_id": b, "reason": OIDC_EXISTS, "times": null}),
        )
        .await;
    r.invoke(request(
        &r.sink,
        "create",
        "fail",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ))
    .await;
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "FAILED");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.starts_with("2 of 6 in-scope account(s)"), "{reason}");
    assert!(
        reason.contains(&format!("account {a}: a role with the same name")),
        "{reason}"
    );
    assert!(reason.contains("cannot reuse an existing role"), "{reason}");
    assert!(
        reason.contains(&format!("account {b}: an OIDC provider")),
        "{reason}"
    );
    assert!(reason.contains("CreateOIDCProvider=false"), "{reason}");
    // The engine tried to reuse the provider; this StackSet has no such parameter, and AWS's
    // refusal reaches the user instead of failing the whole run.
    assert!(reason.contains("was refused by AWS"), "{reason}");
    // The other four accounts got their role: one failure does not stop the others.
    let mut others = ids(&f, PROD);
    others.retain(|x| *x != a && *x != b);
    assert_eq!(with_status(&r.bed, "CURRENT").await, others);
    let mut failed = vec![a.clone(), b.clone()];
    failed.sort();
    assert_eq!(with_status(&r.bed, "OUTDATED").await, failed);
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, ids(&f, PROD));
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
}

#[tokio::test]
async fn an_operation_in_progress_is_waited_out_not_failed_on() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.configure(json!({"operation_seconds": 1.5})).await;
    let other = aws_sdk_cloudformation::Client::new(&r.bed.sdk_config().await);
    let conf = function_config(&r.bed).await;
    // Someone else (the events function, say) holds the StackSet when the Create arrives ...
    other
        .detect_stack_set_drift()
        .stack_set_name(STACK_SET)
        .operation_id("someone-else-first")
        .send()
        .await
        .unwrap();
    // ... and takes it again just before each of the function's first two calls.
    let h = handler_with(
        &conf,
        Interloper {
            inner: CfnStackSets::new(&conf),
            other,
            left: AtomicU32::new(2),
        },
        Capture::default(),
    );
    let summary = h
        .handle(
            request(
                &r.sink,
                "create",
                "busy",
                props(&f.ou("Root/Prod/EU"), "ALL", ""),
            ),
            inv(Duration::from_secs(120)),
        )
        .await;
    assert_eq!(summary.answered.as_deref(), Some("SUCCESS"), "{summary:?}");
    assert_eq!(r.sink.bodies().len(), 1);
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        ids(&f, &["prod-eu-1", "prod-eu-payments", "prod-eu-pci"])
    );
    let calls: Vec<Value> = r
        .bed
        .requests()
        .await
        .into_iter()
        .filter(|x| x["action"] == "CreateStackInstances")
        .map(|x| x["status"].clone())
        .collect();
    println!("CreateStackInstances answered {calls:?}");
    assert_eq!(
        calls,
        [json!(409), json!(409), json!(200)],
        "two OperationInProgressException answers, waited out, then the operation"
    );
}

#[tokio::test]
async fn thirty_percent_throttling_still_gives_the_exact_result() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed
        .configure(json!({"throttle": {"organizations": 0.3, "cloudformation": 0.3}, "seed": 11}))
        .await;
    let req = request(
        &r.sink,
        "create",
        "thr",
        props(&f.root(), "DIFFERENCE", &f.account("staging-2")),
    );
    r.invoke(req).await;
    r.bed
        .configure(json!({"throttle": {"organizations": 0.0, "cloudformation": 0.0}}))
        .await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    let want = ids(
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
    );
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
    assert_eq!(r.last_answer()["Data"]["AccountIds"], json!(want.join(",")));
    let throttled = r
        .bed
        .requests()
        .await
        .into_iter()
        .filter(|x| x["throttled"] == true)
        .count();
    // A root scope is read by ListAccounts (3 Organizations calls for the sample), so there
    // are fewer requests to throttle than a tree walk made.
    assert!(throttled > 0, "throttling was injected ({throttled})");
}

#[tokio::test]
async fn the_lambda_deadline_carries_the_wait_over_and_the_request_is_answered_once() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.configure(json!({"operation_seconds": 3.0})).await;
    let req = request(
        &r.sink,
        "create",
        "slow",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    // 1.5 s of Lambda time (0.5 s margin): the operation outlasts the invocation.
    let first = r
        .invoke_with_deadline(req, Duration::from_millis(1500))
        .await;
    assert!(first.reinvoked, "{first:?}");
    assert!(r.sink.bodies().is_empty(), "no guess was answered");
    let mut hops = 0;
    while r.sink.bodies().is_empty() {
        let conts = r.reinvoked.take();
        assert_eq!(conts.len(), 1, "exactly one continuation per invocation");
        let cont = conts.into_iter().next().unwrap();
        r.invoke_with_deadline(cont, Duration::from_millis(1500))
            .await;
        hops += 1;
        assert!(hops < 10, "converges");
    }
    assert_eq!(r.sink.bodies().len(), 1, "answered exactly once");
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(r.bed.instance_accounts(STACK_SET).await.len(), 6);
    let creates = r.bed.mutating_stackset_calls().await;
    assert_eq!(
        creates,
        ["CreateStackInstances"],
        "the wait resumed; nothing was restarted"
    );
}

#[tokio::test]
async fn the_time_budget_running_out_answers_failed_with_the_operation_to_check() {
    let mut r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.configure(json!({"operation_seconds": 3.0})).await;
    r.handler.settings.budget = Duration::from_millis(1200);
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "budget", p.clone()))
        .await;
    assert_eq!(r.sink.bodies().len(), 1);
    let answer = r.last_answer();
    let reason = answer["Reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("still RUNNING") && reason.contains("Operations"),
        "{reason}"
    );
    assert!(reason.contains("create the stack again"), "{reason}");
    // The operation was started: the live ID, so that the rollback removes its instances.
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    r.handler.settings.budget = Duration::from_secs(60);
    r.invoke(rollback_delete(&r.sink, "budget-rollback", p, &answer))
        .await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    assert!(r.bed.instances(STACK_SET).await.is_empty());
    delete_stack_set(&r.bed).await.expect("DeleteStackSet");
}

/// A re-invoker that always fails (a missing `lambda:InvokeFunction` permission, say).
struct NoReinvoke;

impl Reinvoker for NoReinvoke {
    async fn reinvoke(&self, _: &Value) -> Result<(), String> {
        Err("AccessDeniedException: not authorized to perform lambda:InvokeFunction".into())
    }
}

#[tokio::test]
async fn a_failed_reinvocation_after_the_create_started_answers_the_live_id() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.configure(json!({"operation_seconds": 3.0})).await;
    let conf = function_config(&r.bed).await;
    let h = handler_with(&conf, CfnStackSets::new(&conf), NoReinvoke);
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    let s = h
        .handle(
            request(&r.sink, "create", "noreinvoke", p.clone()),
            inv(Duration::from_millis(1500)),
        )
        .await;
    assert!(!s.reinvoked, "{s:?}");
    assert_eq!(r.sink.bodies().len(), 1);
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "FAILED");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.contains("Could not continue waiting") && reason.contains("lambda:InvokeFunction"),
        "{reason}"
    );
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    r.invoke(rollback_delete(&r.sink, "noreinvoke-rollback", p, &answer))
        .await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    assert!(r.bed.instances(STACK_SET).await.is_empty());
}

#[tokio::test]
async fn a_continuation_that_gives_up_answers_the_live_id_its_first_invocation_earned() {
    let mut r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.configure(json!({"operation_seconds": 3.0})).await;
    let first = r
        .invoke_with_deadline(
            request(
                &r.sink,
                "create",
                "carried-give-up",
                props(&f.ou("Root/Prod"), "ALL", ""),
            ),
            Duration::from_millis(1500),
        )
        .await;
    assert!(first.reinvoked, "{first:?}");
    let conts = r.reinvoked.take();
    assert_eq!(conts.len(), 1);
    let cont = conts.into_iter().next().unwrap();
    assert_eq!(
        cont["OrgscopeContinuation"]["Mutated"],
        json!(true),
        "{cont}"
    );
    // The next invocation has no time left: it starts nothing itself and gives up.
    r.handler.settings.budget = Duration::from_millis(1);
    let second = r
        .invoke_with_deadline(cont, Duration::from_millis(1500))
        .await;
    assert_eq!(second.answered.as_deref(), Some("FAILED"), "{second:?}");
    assert_eq!(r.sink.bodies().len(), 1);
    let answer = r.last_answer();
    assert!(
        answer["Reason"].as_str().unwrap().contains("Gave up"),
        "{answer}"
    );
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances"],
        "only the first invocation changed the StackSet"
    );
}

#[tokio::test]
async fn a_panic_after_the_create_started_answers_the_live_id() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let conf = function_config(&r.bed).await;
    let h = handler_with(
        &conf,
        PanicsAfterStart(CfnStackSets::new(&conf)),
        Capture::default(),
    );
    let s = h
        .handle(
            request(
                &r.sink,
                "create",
                "late-boom",
                props(&f.ou("Root/Prod/US"), "ALL", ""),
            ),
            inv(Duration::from_secs(60)),
        )
        .await;
    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");
    let a = r.last_answer();
    assert!(
        a["Reason"]
            .as_str()
            .unwrap()
            .contains("simulated bug after"),
        "{a}"
    );
    assert_eq!(a["PhysicalResourceId"], json!(live_id()), "{a}");
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances"]
    );
}

#[tokio::test]
async fn a_request_that_cannot_be_read_is_still_answered() {
    let r = rig().await;
    let url = r.sink.url("junk");
    r.invoke(json!({"RequestType": "Explode", "ResponseURL": url, "RequestId": "junk", "StackId": "s", "LogicalResourceId": "L"}))
        .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"]
        .as_str()
        .unwrap()
        .contains("Malformed custom resource request"));
}

#[tokio::test]
async fn a_panic_before_any_change_is_answered_as_failed_with_the_touch_nothing_id() {
    let r = rig().await;
    r.bed.sample().await;
    let conf = function_config(&r.bed).await;
    let h = custom_resource::handler::Handler {
        org: PanickingOrg,
        stacksets: shared::adapters::CfnStackSets::new(&conf),
        identity: shared::adapters::SdkIdentity::new(&conf),
        clock: shared::ports::TokioClock,
        responder: custom_resource::aws::HttpResponder::new(),
        reinvoker: common::Capture::default(),
        feed: shared::feed::NoFeed,
        settings: custom_resource::handler::Settings::new(e2e::REGION),
    };
    let req = request(&r.sink, "create", "boom", props("r-abcd", "ALL", ""));
    let summary = h
        .handle(
            req,
            custom_resource::handler::Invocation {
                request_id: "x".into(),
                deadline: std::time::Instant::now() + Duration::from_secs(60),
            },
        )
        .await;
    assert_eq!(summary.answered.as_deref(), Some("FAILED"));
    let a = r.last_answer();
    assert!(
        a["Reason"].as_str().unwrap().contains("simulated bug"),
        "{a}"
    );
    assert!(a["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .starts_with("orgscope-create-failed/"));
}
