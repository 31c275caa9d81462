//! Faults: per-account failures, concurrent operations, throttling, the Lambda deadline, a
//! panic. CloudFormation always gets exactly one answer.

mod common;

use std::time::Duration;

use common::{props, request, rig};
use e2e::STACK_SET;
use serde_json::json;

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
    // The other four accounts got their role: one failure does not stop the others.
    let current: Vec<String> = r
        .bed
        .instances(STACK_SET)
        .await
        .into_iter()
        .filter(|i| i["status"] == "CURRENT")
        .map(|i| i["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(current.len(), 4);
}

#[tokio::test]
async fn an_operation_in_progress_is_waited_out_not_failed_on() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.configure(json!({"operation_seconds": 1.5})).await;
    // Someone else (the events function, say) holds the StackSet for three operations' time.
    let conf = r.bed.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&conf);
    let other = tokio::spawn(async move {
        for i in 0..3 {
            loop {
                match cfn
                    .detect_stack_set_drift()
                    .stack_set_name(STACK_SET)
                    .operation_id(format!("someone-else-{i}"))
                    .send()
                    .await
                {
                    Ok(_) => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            tokio::time::sleep(Duration::from_millis(1400)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    r.invoke(request(
        &r.sink,
        "create",
        "busy",
        props(&f.ou("Root/Prod/EU"), "ALL", ""),
    ))
    .await;
    other.await.unwrap();
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    assert_eq!(r.sink.bodies().len(), 1);
    assert_eq!(r.bed.instance_accounts(STACK_SET).await.len(), 3);
    let refused = r
        .bed
        .requests()
        .await
        .into_iter()
        .filter(|x| x["action"] == "CreateStackInstances" && x["status"] == 409)
        .count();
    println!("CreateStackInstances answered OperationInProgressException {refused} time(s)");
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
    assert_eq!(r.bed.instance_accounts(STACK_SET).await.len(), 9);
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
    r.bed.configure(json!({"operation_seconds": 30.0})).await;
    r.handler.settings.budget = Duration::from_millis(1200);
    r.invoke(request(
        &r.sink,
        "create",
        "budget",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ))
    .await;
    assert_eq!(r.sink.bodies().len(), 1);
    let reason = r.last_answer()["Reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("still RUNNING") && reason.contains("Operations"),
        "{reason}"
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

/// An Organizations client that panics: stands for any bug in the function.
struct PanickingOrg;

impl shared::ports::OrganizationsApi for PanickingOrg {
    async fn describe_organization(&self) -> shared::ports::AwsResult<shared::ports::OrgInfo> {
        panic!("simulated bug")
    }
    async fn list_ous_page(
        &self,
        _: &str,
        _: Option<String>,
    ) -> shared::ports::AwsResult<shared::ports::Page<shared::core::OrgNode>> {
        unreachable!()
    }
    async fn list_accounts_page(
        &self,
        _: &str,
        _: Option<String>,
    ) -> shared::ports::AwsResult<shared::ports::Page<shared::core::Account>> {
        unreachable!()
    }
    async fn list_all_accounts_page(
        &self,
        _: Option<String>,
    ) -> shared::ports::AwsResult<shared::ports::Page<shared::core::Account>> {
        panic!("simulated bug")
    }
    async fn parent_of(&self, _: &str) -> shared::ports::AwsResult<shared::ports::ParentRef> {
        unreachable!()
    }
    async fn ou_name(&self, _: &str) -> shared::ports::AwsResult<String> {
        unreachable!()
    }
    async fn describe_account(
        &self,
        _: &shared::core::AccountId,
    ) -> shared::ports::AwsResult<(String, shared::core::AccountState)> {
        unreachable!()
    }
    async fn service_access_enabled(&self, _: &str) -> shared::ports::AwsResult<bool> {
        unreachable!()
    }
    async fn roots(&self) -> shared::ports::AwsResult<Vec<shared::core::OrgNode>> {
        unreachable!()
    }
}

#[tokio::test]
async fn a_panic_inside_the_function_is_answered_as_failed() {
    let r = rig().await;
    r.bed.sample().await;
    let conf = r.bed.sdk_config().await;
    let h = custom_resource::handler::Handler {
        org: PanickingOrg,
        stacksets: shared::adapters::CfnStackSets::new(&conf),
        identity: shared::adapters::SdkIdentity::new(&conf),
        clock: shared::ports::TokioClock,
        responder: custom_resource::aws::HttpResponder::new(),
        reinvoker: common::Capture::default(),
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
