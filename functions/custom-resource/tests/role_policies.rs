//! Port's role's policies and boundary (issue 24, section 1) through the handler against the
//! local test bed: a bad value is refused by `Custom::PortPreflight` before any AWS call, and
//! a change of `PortRolePolicyArns` on a deployed stack is CloudFormation's one
//! `UpdateStackSet` (template.yaml passes the parameter to the StackSet resource) followed by
//! the custom resource's Update, which reads every instance back and names each account that
//! did not take the change, with its advice.

mod common;

use std::time::{Duration, Instant};

use common::{fast_settings, function_config, props, request, rig, Capture};
use custom_resource::aws::HttpResponder;
use custom_resource::handler::{Handler, Invocation};
use custom_resource::preflight_only::{PHYSICAL_ID, RESOURCE_TYPE};
use e2e::lambda::ResponseSink;
use e2e::{TestBed, STACK_SET};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, EventBridgeFeed, SdkIdentity, SdkOrganizations};
use shared::core::{ChangeDetail, ChangeKind};
use shared::ports::TokioClock;

/// An Update of `Custom::PortPreflight` from `old` to `new` values of the two properties.
fn preflight_update(sink: &e2e::lambda::ResponseSink, id: &str, policies: &str) -> Value {
    let mut v = request(
        sink,
        "update",
        id,
        json!({
            "StackSetName": STACK_SET,
            "ServiceTimeout": "300",
            "ManagementAccountId": "",
            "PortRolePolicyArns": policies,
            "PortRolePermissionsBoundaryArn": "",
        }),
    );
    v["ResourceType"] = json!(RESOURCE_TYPE);
    v["LogicalResourceId"] = json!("PortPreflight");
    v["PhysicalResourceId"] = json!(PHYSICAL_ID);
    v["OldResourceProperties"] = json!({
        "StackSetName": STACK_SET,
        "ServiceTimeout": "300",
        "ManagementAccountId": "",
        "PortRolePolicyArns": "ReadOnlyAccess",
        "PortRolePermissionsBoundaryArn": "",
    });
    v
}

#[tokio::test]
async fn a_bad_policy_is_refused_by_the_preflight_naming_it_before_any_aws_call() {
    let r = rig().await;
    r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    for (n, (bad, named)) in [
        (
            "ViewOnlyAccess,AdministratorAccess",
            "`AdministratorAccess`",
        ),
        (
            "arn:aws:iam::12345:policy/PortRead",
            "`arn:aws:iam::12345:policy/PortRead`",
        ),
        (
            "arn:aws-cn:iam::aws:policy/ReadOnlyAccess",
            "partition aws-cn",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let before = r.bed.requests().await.len();
        r.invoke(preflight_update(&r.sink, &format!("bad-{n}"), bad))
            .await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "FAILED", "{a}");
        let reason = a["Reason"].as_str().unwrap();
        assert!(
            reason.starts_with("Preflight failed, nothing was changed:"),
            "{reason}"
        );
        assert!(reason.contains(named), "{bad}: {reason}");
        // Refused before any request reached AWS: nothing read, nothing changed.
        assert_eq!(r.bed.requests().await.len(), before, "{bad}");
    }
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
    // A good value passes on to the organization checks and succeeds.
    r.invoke(preflight_update(
        &r.sink,
        "good",
        "ViewOnlyAccess,SecurityAudit,arn:aws:iam::123456789012:policy/PortRead",
    ))
    .await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
}

/// CloudFormation's `UpdateStackSet` for the StackSet resource whose parameters changed, with
/// the template's `OperationPreferences` (the functions' `PREFERENCES`). Returns its
/// operation ID once it ended.
async fn cloudformation_updates_the_stack_set(bed: &e2e::TestBed, policies: &str) -> String {
    use aws_sdk_cloudformation::types::Parameter;
    let conf = bed.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&conf);
    let mut params: Vec<Parameter> = cfn
        .describe_stack_set()
        .stack_set_name(STACK_SET)
        .send()
        .await
        .unwrap()
        .stack_set()
        .unwrap()
        .parameters()
        .iter()
        .filter(|p| p.parameter_key() != Some("PortRolePolicyArns"))
        .cloned()
        .collect();
    params.push(
        Parameter::builder()
            .parameter_key("PortRolePolicyArns")
            .parameter_value(policies)
            .build(),
    );
    let template = std::fs::read_to_string(e2e::repo_root().join("templates/member-role.yaml"))
        .expect("templates/member-role.yaml");
    let op = cfn
        .update_stack_set()
        .stack_set_name(STACK_SET)
        .template_body(template)
        .set_parameters(Some(params))
        .operation_preferences(shared::adapters::cloudformation::preferences())
        .send()
        .await
        .expect("UpdateStackSet")
        .operation_id
        .unwrap();
    loop {
        let o = cfn
            .describe_stack_set_operation()
            .stack_set_name(STACK_SET)
            .operation_id(&op)
            .send()
            .await
            .unwrap();
        if o.stack_set_operation()
            .and_then(|o| o.status())
            .map(|s| s.as_str())
            != Some("RUNNING")
        {
            return op;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_policy_change_is_one_stack_set_update_and_an_account_without_the_policy_is_named_with_advice(
) {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_port_stack_set(STACK_SET, true).await;
    let old = {
        let mut p = props(&f.ou("Root/Prod"), "ALL", "");
        p["PortRolePolicyArns"] = json!("ReadOnlyAccess");
        p["PortRolePermissionsBoundaryArn"] = json!("");
        p
    };
    r.invoke(request(&r.sink, "create", "c", old.clone())).await;
    let created = r.last_answer();
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let before = r.bed.mutating_stackset_calls().await;

    // One account lacks the customer managed policy: IAM's NoSuchEntity, as CloudFormation
    // puts it in the member stack's StatusReason.
    let bad = f.account("prod-eu-1");
    let policy = format!("arn:aws:iam::{bad}:policy/PortRead");
    let reason = format!(
        "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
         ResourceStatusReason:Resource handler returned message: \"Policy {policy} does not \
         exist or is not attachable. (Service: Iam, Status Code: 404, Request ID: 1f2e)\" \
         (RequestToken: 9a8b, HandlerErrorCode: NotFound)"
    );
    r.bed.fail_account(&bad, &reason, 2).await;
    let new_value = "SecurityAudit,arn:aws:iam::123456789012:policy/PortRead";
    cloudformation_updates_the_stack_set(&r.bed, new_value).await;

    // Then the custom resource's Update, with the new value (after PortStackSet: DependsOn).
    let mut req = request(&r.sink, "update", "u", {
        let mut p = old.clone();
        p["PortRolePolicyArns"] = json!(new_value);
        p
    });
    req["OldResourceProperties"] = old;
    req["PhysicalResourceId"] = created["PhysicalResourceId"].clone();
    r.invoke(req).await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    let text = a["Reason"].as_str().unwrap();
    assert!(text.contains(&bad), "{text}");
    assert!(text.contains(&policy), "{text}");
    assert!(
        text.contains(&format!("create it in account {bad}")),
        "{text}"
    );

    // Exactly one UpdateStackSet (CloudFormation's): the custom resource started none, and
    // only retried the account that failed.
    assert_eq!(r.bed.count_of("UpdateStackSet").await, 1);
    let after = r.bed.mutating_stackset_calls().await;
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        after[before.len()..],
        ["UpdateStackSet", "UpdateStackInstances"]
    );
    let outdated: Vec<String> = r
        .bed
        .instances(STACK_SET)
        .await
        .into_iter()
        .filter(|i| i["status"] != "CURRENT")
        .map(|i| i["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outdated, [bad]);
}

/// The change events the emulator received.
async fn details(bed: &TestBed) -> Vec<ChangeDetail> {
    bed.put_events()
        .await
        .into_iter()
        .flatten()
        .map(|e| {
            serde_json::from_str(e["Detail"].as_str().expect("Detail")).expect("a ChangeDetail")
        })
        .collect()
}

#[tokio::test]
async fn a_policy_change_is_reported_in_the_change_feed_as_updated_and_failed_accounts() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_port_stack_set(STACK_SET, true).await;
    let conf = function_config(&bed).await;
    let mut responder = HttpResponder::new();
    responder.base_delay = Duration::from_millis(50);
    let h = Handler {
        org: SdkOrganizations::new(&conf),
        stacksets: CfnStackSets::new(&conf),
        identity: SdkIdentity::new(&conf),
        clock: TokioClock,
        responder,
        reinvoker: Capture::default(),
        feed: EventBridgeFeed::new(&conf),
        settings: fast_settings(),
    };
    let invoke = |req: Value| {
        h.handle(
            req,
            Invocation {
                request_id: "lambda-request".into(),
                deadline: Instant::now() + Duration::from_secs(120),
            },
        )
    };
    let sink = ResponseSink::start().await;
    let old = {
        let mut p = props(&f.ou("Root/Prod"), "ALL", "");
        p["PortRolePolicyArns"] = json!("ReadOnlyAccess");
        p["PortRolePermissionsBoundaryArn"] = json!("");
        p
    };
    let created = invoke(request(&sink, "create", "c", old.clone())).await;
    assert_eq!(created.answered.as_deref(), Some("SUCCESS"), "{created:?}");
    bed.control("requests/clear", json!({})).await;

    let bad = f.account("prod-eu-1");
    bed.fail_account(
        &bad,
        &format!("ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, ResourceStatusReason:Resource handler returned message: \"Policy arn:aws:iam::{bad}:policy/PortRead does not exist or is not attachable. (Service: Iam, Status Code: 404)\""),
        2,
    )
    .await;
    let new_value =
        "ViewOnlyAccess,AWSCloudFormationReadOnlyAccess,arn:aws:iam::123456789012:policy/PortRead";
    cloudformation_updates_the_stack_set(&bed, new_value).await;
    let mut req = request(&sink, "update", "u", {
        let mut p = old.clone();
        p["PortRolePolicyArns"] = json!(new_value);
        p
    });
    req["OldResourceProperties"] = old;
    req["PhysicalResourceId"] = json!(common::live_id());
    let s = invoke(req).await;
    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");

    let all = details(&bed).await;
    assert_eq!(all.len(), 1, "one event for the request: {all:?}");
    let d = &all[0];
    assert_eq!(d.trigger, "Update");
    assert_eq!(
        (d.counts.updated, d.counts.failed, d.counts.total()),
        (5, 1, 6),
        "{d:?}"
    );
    let failed: Vec<&str> = d
        .accounts
        .iter()
        .filter(|a| a.change == ChangeKind::Failed)
        .map(|a| a.account_id.as_str())
        .collect();
    assert_eq!(failed, [bad.as_str()]);
    assert!(
        d.accounts[0].reason.contains("create it in account"),
        "{}",
        d.accounts[0].reason
    );
    let updated = d
        .accounts
        .iter()
        .find(|a| a.change == ChangeKind::Updated)
        .unwrap();
    assert!(
        updated.reason.contains("PortRolePolicyArns"),
        "{}",
        updated.reason
    );
    assert_eq!(d.summary, "6 account(s) changed: 1 failed, 5 updated");
}
