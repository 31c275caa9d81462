//! `Custom::PortPreflight` through the handler against the local test bed: the checks that
//! must pass before the stack creates its StackSet, failing with `orgscope doctor`'s words
//! and touching no StackSet.

mod common;

use common::{request, rig, rig_with, FixedIdentity};
use custom_resource::preflight_only::{PHYSICAL_ID, RESOURCE_TYPE};
use e2e::STACK_SET;
use serde_json::{json, Value};
use shared::adapters::SdkOrganizations;
use shared::core::AccountId;
use shared::doctor::{before_stack_set, failure_text};
use shared::ports::OrganizationsApi;
use shared::preflight::ModeReading;

/// A request for the preflight resource, as the template sends it.
/// (Create: the events/cfn-preflight-create.json sample; Update and Delete: the other samples
/// turned into the preflight's.)
fn preflight_request(sink: &e2e::lambda::ResponseSink, kind: &str, id: &str) -> Value {
    let props = json!({ "StackSetName": STACK_SET, "ServiceTimeout": "300" });
    if kind == "create" {
        let v = request(sink, "preflight-create", id, props);
        assert_eq!(
            v["ResourceType"], RESOURCE_TYPE,
            "the sample is the template's"
        );
        assert_eq!(v["LogicalResourceId"], "PortPreflight");
        return v;
    }
    let mut v = request(sink, kind, id, props);
    v["ResourceType"] = json!(RESOURCE_TYPE);
    v["LogicalResourceId"] = json!("PortPreflight");
    v["PhysicalResourceId"] = json!(PHYSICAL_ID);
    v
}

/// Every CloudFormation (StackSets) call the test bed saw.
async fn stackset_calls(bed: &e2e::TestBed) -> Vec<String> {
    bed.requests()
        .await
        .into_iter()
        .filter(|r| r["service"] == "cloudformation")
        .filter_map(|r| r["action"].as_str().map(str::to_owned))
        .collect()
}

/// What `orgscope doctor`'s checks (shared::doctor) say for these facts, as one text.
async fn doctor_text(bed: &e2e::TestBed, caller: &str, trusted: bool) -> String {
    let org = SdkOrganizations::new(&bed.sdk_config().await);
    let mode = ModeReading {
        caller: Ok(AccountId::parse(caller).unwrap()),
        organization: org.describe_organization().await,
        registration: shared::preflight::registration(&org).await,
    };
    failure_text(&before_stack_set(
        &mode,
        &shared::core::Declared::InManagementAccount,
        &Ok(trusted),
    ))
    .expect("a FAIL check")
}

#[tokio::test]
async fn a_preflight_from_a_member_account_fails_with_the_doctors_words_and_calls_no_stack_set_api()
{
    let bed = e2e::TestBed::start().await;
    let f = bed.sample().await;
    let member = f.account("prod-web");
    let r = rig_with(bed, FixedIdentity(AccountId::parse(&member).unwrap())).await;
    r.invoke(preflight_request(&r.sink, "create", "member"))
        .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    assert_eq!(a["LogicalResourceId"], "PortPreflight");
    let reason = a["Reason"].as_str().unwrap();
    let doctor = doctor_text(&r.bed, &member, true).await;
    assert_eq!(
        reason,
        format!(
            "Preflight failed, nothing was created: {doctor} (orgscope doctor runs the same \
             checks and more.)"
        )
    );
    // The doctor's own words (cli/tests/doctor.rs asserts the same fix for `orgscope doctor`):
    // the two ways out, the register command with the caller's own ID.
    assert!(
        reason.contains(&format!(
            "Deployment mode: account {member} is neither the organization's management account"
        )),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "Fix: deploy this stack in the management account {}; or, from the management \
             account, register this account: `aws organizations register-delegated-administrator \
             --service-principal member.org.stacksets.cloudformation.amazonaws.com --account-id \
             {member}`",
            f.management()
        )),
        "{reason}"
    );
    assert!(
        !reason.contains("Trusted access"),
        "only the failing check: {reason}"
    );
    assert_eq!(stackset_calls(&r.bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_preflight_with_trusted_access_off_fails_with_the_doctors_fix_and_calls_no_stack_set_api()
{
    let r = rig().await;
    let f = e2e::Fixture(
        r.bed
            .control("fixture/sample", json!({"trusted_access": false}))
            .await,
    );
    r.invoke(preflight_request(&r.sink, "create", "ta")).await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    assert!(
        a["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("orgscope-create-failed/"),
        "{a}"
    );
    let reason = a["Reason"].as_str().unwrap();
    let doctor = doctor_text(&r.bed, &f.management(), false).await;
    assert!(reason.contains(&doctor), "{reason}\n---\n{doctor}");
    assert!(
        reason.contains(
            "Trusted access: trusted access for CloudFormation StackSets is not enabled in AWS \
             Organizations: service-managed StackSets cannot deploy"
        ),
        "{reason}"
    );
    assert!(
        reason.contains("Fix: aws cloudformation activate-organizations-access"),
        "{reason}"
    );
    assert!(!reason.contains("Deployment mode"), "{reason}");
    assert_eq!(stackset_calls(&r.bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_preflight_in_the_management_account_succeeds_before_any_stack_set_exists() {
    let r = rig().await;
    r.bed.sample().await;
    r.invoke(preflight_request(&r.sink, "create", "ok")).await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "SUCCESS", "{a}");
    assert_eq!(a["PhysicalResourceId"], PHYSICAL_ID);
    // No attributes to read with Fn::GetAtt (the body carries an empty `Data`).
    assert!(
        a.get("Data")
            .and_then(|d| d.as_object())
            .is_none_or(|d| d.is_empty()),
        "{a}"
    );
    assert_eq!(stackset_calls(&r.bed).await, Vec::<String>::new());
    // An Update checks again and keeps the ID (no replacement).
    r.invoke(preflight_request(&r.sink, "update", "ok-again"))
        .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "SUCCESS", "{a}");
    assert_eq!(a["PhysicalResourceId"], PHYSICAL_ID);
}

#[tokio::test]
async fn a_preflight_delete_succeeds_without_any_aws_call() {
    let r = rig().await;
    r.bed
        .control("fixture/sample", json!({"trusted_access": false}))
        .await;
    let before = r.bed.requests().await.len();
    r.invoke(preflight_request(&r.sink, "delete", "gone")).await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "SUCCESS", "{a}");
    assert_eq!(a["PhysicalResourceId"], PHYSICAL_ID);
    assert_eq!(r.bed.requests().await.len(), before, "no AWS call");
}
