use super::*;

const ROLE_EXISTS: &str = "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists.";

#[tokio::test]
async fn a_create_that_failed_for_one_account_rolls_back_clean() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    // The commonest first-day failure: one account already has a role of that name.
    let bad = f.account("prod-eu-1");
    r.bed
        .control(
            "fail-account",
            json!({"account_id": bad, "reason": ROLE_EXISTS, "times": 1}),
        )
        .await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c-fails", p.clone()))
        .await;
    let failed = r.last_answer();
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    assert!(
        failed["Reason"].as_str().unwrap().contains(&bad),
        "{failed}"
    );
    // The Create changed the StackSet, so it answers the live ID ...
    assert_eq!(failed["PhysicalResourceId"], json!(live_id()), "{failed}");
    let mut others = names(&f, PROD);
    others.retain(|a| *a != bad);
    let current: Vec<String> = r
        .bed
        .instances(STACK_SET)
        .await
        .into_iter()
        .filter(|i| i["status"] == "CURRENT")
        .map(|i| i["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(current, others, "the other five accounts got the role");
    // ... and CloudFormation's rollback Delete, sent with that ID, removes what it made.
    r.invoke(rollback_delete(&r.sink, "d-rollback", p, &failed))
        .await;
    let deleted = r.last_answer();
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(deleted["PhysicalResourceId"], json!(live_id()));
    assert!(
        r.bed.instances(STACK_SET).await.is_empty(),
        "{:?}",
        r.bed.instances(STACK_SET).await
    );
    // The rollback of the template's StackSet resource then succeeds: it is empty.
    delete_stack_set(&r.bed).await.expect("DeleteStackSet");
    assert_eq!(r.sink.bodies().len(), 2, "one answer per request");
}

#[tokio::test]
async fn changing_the_stack_set_name_is_refused_before_any_aws_call() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.create_stack_set("Port-Integration-v4", true).await;
    let old = props(&f.ou("Root/Prod/US"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c1", old.clone()))
        .await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    r.bed.control("requests/clear", json!({})).await;
    let mut new = old.clone();
    new["StackSetName"] = json!("Port-Integration-v4");
    let mut up = request(&r.sink, "update", "u-rename", new);
    up["OldResourceProperties"] = old;
    up["PhysicalResourceId"] = json!(live_id());
    r.invoke(up).await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    assert_eq!(
        a["PhysicalResourceId"],
        json!(live_id()),
        "the old ID: CloudFormation rolls back to it"
    );
    let reason = a["Reason"].as_str().unwrap();
    for want in [
        "StackSetName cannot change",
        "`Port-Integration-v3`",
        "`Port-Integration-v4`",
        "Keep StackSetName `Port-Integration-v3`",
        "delete this stack and create it again",
    ] {
        assert!(reason.contains(want), "lacks {want:?}: {reason}");
    }
    assert!(r.bed.requests().await.is_empty(), "no AWS call at all");
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        vec![f.account("prod-us-1")]
    );
    assert!(r
        .bed
        .instance_accounts("Port-Integration-v4")
        .await
        .is_empty());
}

#[tokio::test]
async fn delete_when_the_stack_set_is_already_gone_answers_success() {
    let r = rig().await;
    r.bed.sample().await;
    let del = request(&r.sink, "delete", "d1", props("r-abcd", "ALL", ""));
    r.invoke(del).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
}

#[tokio::test]
async fn a_duplicate_create_starts_no_second_operation() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let req = request(
        &r.sink,
        "create",
        "same-id",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    r.invoke(req.clone()).await;
    r.invoke(req.clone()).await;
    let bodies = r.sink.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1], "the same answer twice");
    let ops = r.bed.mutating_stackset_calls().await;
    assert_eq!(ops, ["CreateStackInstances"], "{ops:?}");
}

#[tokio::test]
async fn replaying_a_create_while_its_operation_runs_waits_on_that_operation() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.configure(json!({"operation_seconds": 2.0})).await;
    let req = request(
        &r.sink,
        "create",
        "dup",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    // Two deliveries of the same request at the same time.
    let (a, b) = tokio::join!(r.invoke(req.clone()), r.invoke(req.clone()));
    assert_eq!(
        a.answered.as_deref(),
        Some("SUCCESS"),
        "{:?}",
        r.sink.bodies()
    );
    assert_eq!(b.answered.as_deref(), Some("SUCCESS"));
    let creates = r
        .bed
        .requests()
        .await
        .into_iter()
        .filter(|x| x["action"] == "CreateStackInstances" && x["status"] == 200)
        .count();
    assert_eq!(creates, 1, "only one operation was started");
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, names(&f, PROD));
}

#[tokio::test]
async fn a_body_over_4096_bytes_truncates_account_ids_and_says_so() {
    let r = rig().await;
    let org = r
        .bed
        .control(
            "fixture/generate",
            json!({"accounts": 400, "ous": 20, "max_depth": 3, "suspended_every": 0, "seed": 3}),
        )
        .await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let root = org["root_id"].as_str().unwrap();
    r.invoke(request(&r.sink, "create", "big", props(root, "ALL", "")))
        .await;
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert!(r.sink.sizes()[0] < 4096, "{} bytes", r.sink.sizes()[0]);
    assert_eq!(answer["Data"]["AccountIdsTruncated"], "true");
    assert_eq!(answer["Data"]["AccountCount"], "400");
    let shown = answer["Data"]["AccountIds"]
        .as_str()
        .unwrap()
        .split(',')
        .count();
    assert!(shown > 200 && shown < 400, "{shown}");
    assert_eq!(r.bed.instance_accounts(STACK_SET).await.len(), 400);
}

/// An AWS-style per-account reason that quotes a policy: dense with escaped quotes, each of
/// which takes four bytes in the JSON body for its two characters.
const QUOTED: &str = r#"ResourceStatusReason:Resource handler returned message: "explicit deny in a service control policy: {\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DenyIam\",\"Effect\":\"Deny\",\"Action\":[\"iam:CreateRole\",\"iam:TagRole\",\"iam:PutRolePolicy\",\"iam:AttachRolePolicy\",\"iam:CreateOpenIDConnectProvider\"],\"Resource\":[\"*\"],\"Condition\":{\"StringNotLike\":{\"aws:PrincipalArn\":[\"arn:aws:iam::*:role/Admin\"]}}}]}" (Service: Iam, Status Code: 403)"#;

#[tokio::test]
async fn a_failed_answer_with_long_quoted_reasons_stays_within_4096_bytes() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let scope = names(
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
            "staging-2",
        ],
    );
    for a in &scope {
        r.bed
            .control(
                "fail-account",
                json!({"account_id": a, "reason": QUOTED, "times": null}),
            )
            .await;
    }
    r.invoke(request(
        &r.sink,
        "create",
        "quoted",
        props(&f.root(), "ALL", ""),
    ))
    .await;
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let sent = r.sink.sizes()[0];
    let reason = answer["Reason"].as_str().unwrap();
    println!(
        "FAILED body: {sent} bytes; Reason: {} characters, {} escaped quotes",
        reason.chars().count(),
        reason.matches("\\\"").count()
    );
    assert!(
        sent < 4096,
        "the body CloudFormation received is {sent} bytes"
    );
    assert!(sent > 4096 - 128, "the Reason uses the room it has: {sent}");
    assert!(reason.matches("\\\"").count() > 200, "{reason}");
    assert!(
        reason.starts_with("10 of 10 in-scope account(s)"),
        "{reason}"
    );
    assert!(
        reason.ends_with("(truncated; the function's CloudWatch log has the full text)"),
        "{reason}"
    );
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()));
}

#[tokio::test]
async fn a_put_that_fails_three_times_is_retried_until_it_succeeds() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.sink.fail_next(3);
    r.invoke(request(
        &r.sink,
        "create",
        "put",
        props(&f.ou("Root/Prod/US"), "ALL", ""),
    ))
    .await;
    assert_eq!(r.sink.attempts(), 4, "three 500s, then one success");
    assert_eq!(r.sink.bodies().len(), 1);
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
}
