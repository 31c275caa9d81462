//! Accounts that already hold Port's OIDC provider (an earlier single-account install), with
//! `CreateOIDCProvider=true`: the engine retries them with the per-account override
//! `CreateOIDCProvider=false`, so every mix converges without the user choosing.

mod common;

use common::{live_id, props, request, rig, rollback_delete};
use e2e::{TestBed, STACK_SET};
use serde_json::{json, Value};

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];

/// The accounts that already had the provider before the integration was deployed.
const HAD_ONE: &[&str] = &["prod-eu-1", "prod-us-1"];

fn ids(f: &e2e::Fixture, names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| f.account(n)).collect();
    v.sort();
    v
}

fn reuse_override() -> Value {
    json!([{"ParameterKey": "CreateOIDCProvider", "ParameterValue": "false"}])
}

/// `(account, status, parameter overrides)` of every instance.
async fn instances(bed: &TestBed) -> Vec<(String, String, Value)> {
    bed.instances(STACK_SET)
        .await
        .into_iter()
        .map(|i| {
            (
                i["account"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
                i["parameter_overrides"].clone(),
            )
        })
        .collect()
}

/// Every instance CURRENT; exactly the accounts in `reusing` carry the override.
async fn assert_converged(bed: &TestBed, f: &e2e::Fixture, want: &[&str], reusing: &[&str]) {
    let reusing = ids(f, reusing);
    let got = instances(bed).await;
    assert_eq!(
        got.iter().map(|(a, _, _)| a.clone()).collect::<Vec<_>>(),
        ids(f, want)
    );
    for (a, status, overrides) in got {
        assert_eq!(status, "CURRENT", "{a}");
        if reusing.contains(&a) {
            assert_eq!(overrides, reuse_override(), "{a}");
        } else {
            assert_eq!(overrides, json!([]), "{a}");
        }
    }
}

/// `(account, created by the StackSet's stack)` every provider should be in: the pre-existing
/// ones untouched, one created by the stack in every other enrolled account.
fn providers(f: &e2e::Fixture, enrolled: &[&str]) -> Vec<(String, bool)> {
    let had = ids(f, HAD_ONE);
    let mut v: Vec<(String, bool)> = had.iter().map(|a| (a.clone(), false)).collect();
    for a in ids(f, enrolled) {
        if !had.contains(&a) {
            v.push((a, true));
        }
    }
    v.sort();
    v
}

async fn setup() -> (common::Rig<shared::adapters::SdkIdentity>, e2e::Fixture) {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_port_stack_set(STACK_SET, true).await;
    for a in HAD_ONE {
        r.bed.has_oidc_provider(&f.account(a)).await;
    }
    r.bed.control("requests/clear", json!({})).await;
    (r, f)
}

#[tokio::test]
async fn create_with_create_oidc_provider_true_converges_in_a_mixed_organization() {
    let (r, f) = setup().await;
    let req = request(
        &r.sink,
        "create",
        "mixed",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    r.invoke(req.clone()).await;
    // SUCCESS, no rollback: every account has its role.
    assert_eq!(r.last_answer(), r.success(&req, &ids(&f, PROD), &f.0));
    assert_converged(&r.bed, &f, PROD, HAD_ONE).await;
    assert_eq!(r.bed.oidc_providers().await, providers(&f, PROD));
    // One extra operation for the batch of such accounts, not one per account, and it
    // overrides exactly those accounts' CreateOIDCProvider.
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances", "UpdateStackInstances"]
    );
    let update = &r.bed.params_of("UpdateStackInstances").await[0];
    assert_eq!(
        update["ParameterOverrides.member.1.ParameterKey"],
        "CreateOIDCProvider"
    );
    assert_eq!(
        update["ParameterOverrides.member.1.ParameterValue"],
        "false"
    );
    assert!(
        update
            .get("ParameterOverrides.member.2.ParameterKey")
            .is_none(),
        "{update}"
    );
    let mut listed: Vec<String> = (1..=3)
        .filter_map(|n| {
            update[format!("DeploymentTargets.Accounts.member.{n}")]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    listed.sort();
    assert_eq!(listed, ids(&f, HAD_ONE), "{update}");
    let id = update["OperationId"].as_str().unwrap();
    assert!(id.starts_with("orgscope-user-reuse-oidc-"), "{id}");
}

#[tokio::test]
async fn later_updates_of_the_scope_and_of_the_template_do_not_fail_the_reusing_accounts_again() {
    let (r, f) = setup().await;
    let prod = f.ou("Root/Prod");
    r.invoke(request(&r.sink, "create", "c", props(&prod, "ALL", "")))
        .await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    // The scope grows: only the new accounts are created; nothing is retried.
    r.bed.control("requests/clear", json!({})).await;
    let mut up = request(
        &r.sink,
        "update",
        "u",
        props(&f.ou("Root/Staging"), "ALL", ""),
    );
    up["ResourceProperties"]["TargetOUIds"] = json!(format!("{prod},{}", f.ou("Root/Staging")));
    up["OldResourceProperties"] = props(&prod, "ALL", "");
    up["PhysicalResourceId"] = json!(live_id());
    r.invoke(up).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances"]
    );
    let mut enrolled: Vec<&str> = PROD.to_vec();
    enrolled.extend(["staging-1", "staging-2"]);
    assert_converged(&r.bed, &f, &enrolled, HAD_ONE).await;
    // The template changes (CloudFormation updates the StackSet resource): every instance is
    // updated, the reusing ones keep their override and succeed.
    let conf = r.bed.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&conf);
    let template = std::fs::read_to_string(e2e::repo_root().join("templates/member-role.yaml"))
        .unwrap()
        .replace("Port's read-only role", "Port's read-only role (v2)");
    let op = cfn
        .update_stack_set()
        .stack_set_name(STACK_SET)
        .template_body(template)
        .set_parameters(
            cfn.describe_stack_set()
                .stack_set_name(STACK_SET)
                .send()
                .await
                .unwrap()
                .stack_set()
                .unwrap()
                .parameters
                .clone(),
        )
        .send()
        .await
        .expect("UpdateStackSet")
        .operation_id
        .unwrap();
    let results = loop {
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
            break cfn
                .list_stack_set_operation_results()
                .stack_set_name(STACK_SET)
                .operation_id(&op)
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(results.summaries().len(), enrolled.len());
    for s in results.summaries() {
        assert_eq!(s.status().map(|x| x.as_str()), Some("SUCCEEDED"), "{s:?}");
    }
    assert_converged(&r.bed, &f, &enrolled, HAD_ONE).await;
    assert_eq!(r.bed.oidc_providers().await, providers(&f, &enrolled));
}

#[tokio::test]
async fn delete_removes_every_instance_and_leaves_the_providers_the_stacks_did_not_create() {
    let (r, f) = setup().await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c", p.clone())).await;
    let created = r.last_answer();
    assert_eq!(created["Status"], "SUCCESS");
    r.invoke(rollback_delete(&r.sink, "d", p, &created)).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    assert!(r.bed.instances(STACK_SET).await.is_empty());
    // The stacks deleted the providers they created; the ones that were there before stay.
    assert_eq!(r.bed.oidc_providers().await, providers(&f, &[]));
}

/// The reuse is tried once per account per run: an account still failing after it is reported
/// (FAILED, with the advice naming it), and no further operation is started for it.
#[tokio::test]
async fn an_account_still_failing_after_the_reuse_is_reported_and_not_retried_again_in_the_run() {
    let (r, f) = setup().await;
    let stuck = f.account("prod-eu-1");
    r.bed
        .fail_account(
            &stuck,
            "ResourceLogicalId:PortOIDCProvider, ResourceType:AWS::IAM::OIDCProvider, \
             ResourceStatusReason:Resource handler returned message: \"Provider with url \
             https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4 \
             already exists. (Service: Iam, Status Code: 409, Request ID: 1)\" (RequestToken: 2, \
             HandlerErrorCode: AlreadyExists).",
            10,
        )
        .await;
    r.invoke(request(
        &r.sink,
        "create",
        "stuck",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ))
    .await;
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.starts_with("1 of 6 in-scope account(s)"), "{reason}");
    assert!(
        reason.contains(&format!("account {stuck}: an OIDC provider")),
        "{reason}"
    );
    assert!(reason.contains("remained after that retry"), "{reason}");
    // prod-us-1 (the other account that had one) was repaired by the same single operation.
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances", "UpdateStackInstances"]
    );
    let us = f.account("prod-us-1");
    let i = instances(&r.bed).await;
    assert!(
        i.iter().any(|(a, s, _)| *a == us && s == "CURRENT"),
        "{i:?}"
    );
}
