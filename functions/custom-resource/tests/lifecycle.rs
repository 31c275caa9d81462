//! Create, Update and Delete of the custom resource against the local test bed: the exact
//! JSON CloudFormation receives, and the stack instances that result.

mod common;

use common::{
    delete_stack_set, live_id, props, request, rig, rig_with, rollback_delete, FixedIdentity,
};
use e2e::{OuReading, STACK_SET};
use serde_json::{json, Value};
use shared::core::AccountId;

fn names(f: &e2e::Fixture, n: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = n.iter().map(|x| f.account(x)).collect();
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

#[tokio::test]
async fn create_all_deploys_to_every_account_in_nested_ous_and_answers_success() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let req = request(
        &r.sink,
        "create",
        "req-all",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    r.invoke(req.clone()).await;
    let want = names(&f, PROD);
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
    for i in r.bed.instances(STACK_SET).await {
        assert_eq!(i["status"], "CURRENT", "{i}");
    }
}

#[tokio::test]
async fn create_intersection_deploys_only_to_listed_accounts_under_the_ous() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let listed = format!("{},{}", f.account("prod-eu-pci"), f.account("staging-1"));
    let req = request(
        &r.sink,
        "create",
        "req-int",
        props(&f.ou("Root/Prod"), "INTERSECTION", &listed),
    );
    r.invoke(req.clone()).await;
    let want = vec![f.account("prod-eu-pci")];
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
}

#[tokio::test]
async fn create_difference_over_the_root_skips_management_suspended_and_listed_accounts() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let req = request(
        &r.sink,
        "create",
        "req-diff",
        props(&f.root(), "DIFFERENCE", &f.account("prod-eu-pci")),
    );
    r.invoke(req.clone()).await;
    let got = r.bed.instance_accounts(STACK_SET).await;
    let mut want = names(
        &f,
        &[
            "sandbox-orphan",
            "shared-services",
            "prod-web",
            "prod-data",
            "prod-eu-1",
            "prod-eu-payments",
            "prod-us-1",
            "staging-1",
            "staging-2",
        ],
    );
    want.sort();
    assert_eq!(got, want);
    assert!(
        !got.contains(&f.management()),
        "never the management account"
    );
    assert!(!got.contains(&f.account("staging-suspended")));
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
}

/// Run under both readings of a listed OU (`e2e::OuReading`).
#[tokio::test]
async fn update_grows_shrinks_and_changes_mode_with_one_operation_per_kind() {
    for reading in OuReading::BOTH {
        update_grows_shrinks_and_changes_mode_with_one_operation_per_kind_under(reading).await;
    }
}

async fn update_grows_shrinks_and_changes_mode_with_one_operation_per_kind_under(
    reading: OuReading,
) {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.set_ou_reading(reading).await;
    let eu = f.ou("Root/Prod/EU");
    r.invoke(request(&r.sink, "create", "c1", props(&eu, "ALL", "")))
        .await;
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        names(&f, &["prod-eu-1", "prod-eu-payments", "prod-eu-pci"])
    );

    // Grow: EU -> Prod.
    r.bed.control("requests/clear", json!({})).await;
    let mut up = request(
        &r.sink,
        "update",
        "u1",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    up["OldResourceProperties"] = props(&eu, "ALL", "");
    r.invoke(up.clone()).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, names(&f, PROD));
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances"]
    );

    // Change mode and shrink: Prod DIFFERENCE minus two accounts.
    r.bed.control("requests/clear", json!({})).await;
    let excluded = format!("{},{}", f.account("prod-web"), f.account("prod-us-1"));
    let mut up2 = request(
        &r.sink,
        "update",
        "u2",
        props(&f.ou("Root/Prod"), "DIFFERENCE", &excluded),
    );
    up2["OldResourceProperties"] = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(up2).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        names(
            &f,
            &["prod-data", "prod-eu-1", "prod-eu-payments", "prod-eu-pci"]
        )
    );
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["DeleteStackInstances"]
    );

    // Same scope again: no StackSet call at all.
    r.bed.control("requests/clear", json!({})).await;
    let mut up3 = request(
        &r.sink,
        "update",
        "u3",
        props(&f.ou("Root/Prod"), "DIFFERENCE", &excluded),
    );
    up3["OldResourceProperties"] = up3["ResourceProperties"].clone();
    r.invoke(up3).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
}

#[tokio::test]
async fn retain_policy_keeps_instances_of_accounts_that_leave_the_scope() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.invoke(request(
        &r.sink,
        "create",
        "c1",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ))
    .await;
    let mut p = props(&f.ou("Root/Prod/US"), "ALL", "");
    p["OnAccountLeavesScope"] = json!("RETAIN");
    r.invoke(request(&r.sink, "update", "u1", p)).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(
        r.last_answer()["Data"]["AccountIds"],
        f.account("prod-us-1")
    );
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, names(&f, PROD));
}

/// Run under both readings of a listed OU (`e2e::OuReading`).
#[tokio::test]
async fn delete_removes_every_instance_and_answers_success() {
    for reading in OuReading::BOTH {
        delete_removes_every_instance_and_answers_success_under(reading).await;
    }
}

async fn delete_removes_every_instance_and_answers_success_under(reading: OuReading) {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.set_ou_reading(reading).await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c1", p.clone())).await;
    // One account moved out of the targets since: it must go too.
    r.bed
        .move_account(
            &f.account("prod-web"),
            &f.ou("Root/Prod"),
            &f.ou("Root/Sandbox"),
        )
        .await;
    let del = request(&r.sink, "delete", "d1", p);
    r.invoke(del.clone()).await;
    assert_eq!(
        r.last_answer(),
        json!({
            "Status": "SUCCESS",
            "PhysicalResourceId": format!("stackset-instances/{STACK_SET}"),
            "StackId": del["StackId"],
            "RequestId": "d1",
            "LogicalResourceId": "PortStackSetInstances",
            "NoEcho": false,
            "Data": {},
        })
    );
    assert!(r.bed.instance_accounts(STACK_SET).await.is_empty());
}

#[tokio::test]
async fn delete_after_a_failed_create_touches_nothing() {
    let r = rig().await;
    r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let create = request(
        &r.sink,
        "create",
        "c-bad",
        props("ou-zzzz-99999999", "ALL", ""),
    );
    r.invoke(create).await;
    let failed = r.last_answer();
    assert_eq!(failed["Status"], "FAILED");
    let physical = failed["PhysicalResourceId"].as_str().unwrap().to_owned();
    r.bed.control("requests/clear", json!({})).await;
    let mut del = request(
        &r.sink,
        "delete",
        "d-bad",
        props("ou-zzzz-99999999", "ALL", ""),
    );
    del["PhysicalResourceId"] = json!(physical);
    r.invoke(del).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert!(r.bed.requests().await.is_empty(), "no AWS call at all");
}

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

#[tokio::test]
async fn not_running_in_the_management_account_names_both_accounts() {
    let bed = e2e::TestBed::start().await;
    let r = rig_with(
        bed,
        FixedIdentity(AccountId::parse("222233334444").unwrap()),
    )
    .await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.invoke(request(
        &r.sink,
        "create",
        "wrong",
        props(&f.root(), "ALL", ""),
    ))
    .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED");
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.contains("222233334444") && reason.contains(&f.management()),
        "{reason}"
    );
    assert!(reason.contains("management account"), "{reason}");
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
}

async fn failed_reason(
    ous: &str,
    mode: &str,
    accounts: &str,
    setup: impl AsyncFnOnce(&e2e::TestBed),
) -> String {
    let r = rig().await;
    r.bed.sample().await;
    setup(&r.bed).await;
    r.invoke(request(&r.sink, "create", "pf", props(ous, mode, accounts)))
        .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    assert!(
        a["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("orgscope-create-failed/"),
        "{a}"
    );
    assert!(
        r.bed.mutating_stackset_calls().await.is_empty(),
        "no change"
    );
    a["Reason"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn trusted_access_off_fails_with_the_exact_fix() {
    let r = rig().await;
    r.bed
        .control("fixture/sample", json!({"trusted_access": false}))
        .await;
    r.invoke(request(&r.sink, "create", "ta", props("r-abcd", "ALL", "")))
        .await;
    let reason = r.last_answer()["Reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("aws cloudformation activate-organizations-access"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_unknown_ou_says_what_an_ou_id_looks_like_and_where_to_find_it() {
    let reason = failed_reason("ou-zzzz-99999999", "ALL", "", async |b| {
        b.create_stack_set(STACK_SET, true).await
    })
    .await;
    assert!(
        reason.contains("ou-zzzz-99999999 does not exist"),
        "{reason}"
    );
    assert!(reason.contains("ou-abcd-12345678"), "{reason}");
}

#[tokio::test]
async fn a_listed_account_outside_the_organization_is_named() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.invoke(request(
        &r.sink,
        "create",
        "typo",
        props(&f.root(), "DIFFERENCE", "000000000042"),
    ))
    .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED");
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.contains("000000000042") && reason.contains("not in this organization"),
        "{reason}"
    );
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
}

#[tokio::test]
async fn a_missing_stack_set_and_a_self_managed_one_are_explained() {
    let reason = failed_reason("r-abcd", "ALL", "", async |_| {}).await;
    assert!(
        reason.contains("does not exist") && reason.contains(STACK_SET),
        "{reason}"
    );
    let reason = failed_reason("r-abcd", "ALL", "", async |b| {
        b.create_stack_set(STACK_SET, false).await
    })
    .await;
    assert!(reason.contains("self-managed"), "{reason}");
}

#[tokio::test]
async fn bad_properties_fail_before_any_aws_call() {
    let r = rig().await;
    r.invoke(request(
        &r.sink,
        "create",
        "bad",
        props("ou-ABCD-12345678", "ALL", ""),
    ))
    .await;
    let a: Value = r.last_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"].as_str().unwrap().contains("lowercase"));
    assert!(r.bed.requests().await.is_empty());
}

/// AWS Organizations API reference, every List call: "These operations can occasionally
/// return an empty set of results even when there are more results available. The NextToken
/// response parameter value is null only when there are no more results to display." A
/// root-scope Create reads the whole organization with ListRoots and ListAccounts; under short
/// pages (the emulator's `organizations_pages`, seed 0: ListRoots answers two empty pages with
/// a NextToken before the root, ListAccounts an empty page in mid-list) it still deploys to
/// exactly every member account. A reader that stopped at the first empty ListRoots page
/// would answer that the root does not exist; one that stopped at an empty ListAccounts page
/// would leave accounts out.
#[tokio::test]
async fn a_root_scope_create_reads_every_page_of_short_and_empty_organizations_pages() {
    let r = rig().await;
    let gen = e2e::Fixture(
        r.bed
            .control(
                "fixture/generate",
                json!({"accounts": 90, "ous": 8, "max_depth": 2, "suspended_every": 0, "seed": 3}),
            )
            .await,
    );
    r.bed
        .configure(json!({"organizations_pages": "short", "seed": 0}))
        .await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.control("requests/clear", json!({})).await;
    let req = request(
        &r.sink,
        "create",
        "req-short",
        props(&gen.root(), "ALL", ""),
    );
    r.invoke(req.clone()).await;
    let mut want: Vec<String> = gen.0["accounts"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    want.sort();
    assert_eq!(want.len(), 90);
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
    assert_eq!(r.last_answer(), r.success(&req, &want, &gen.0));
    // The switch did what this test relies on: each reader met an empty page with a NextToken.
    let empty: Vec<String> = r
        .bed
        .requests()
        .await
        .iter()
        .filter(|q| q["page"]["items"] == 0 && q["page"]["next_token"] == true)
        .map(|q| q["action"].as_str().unwrap().to_owned())
        .collect();
    for action in ["ListRoots", "ListAccounts"] {
        assert!(empty.iter().any(|a| a == action), "{action}: {empty:?}");
    }
}
