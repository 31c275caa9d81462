//! A stack Create or Update whose scope includes an account under a quarantine SCP (issue 20,
//! section 5: landing zones deny the StackSets execution role in a new account until its
//! setup finishes; the test bed's `quarantine` plays it in AWS's words). What CloudFormation is
//! told, and what is left for the scheduled run.

mod common;

use common::{live_id, props, request, rig, rollback_delete};
use e2e::STACK_SET;
use serde_json::json;

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];

const WAITS: &str = "a service control policy or the account's setup denies the StackSets \
                     execution role; it will be retried at the next scheduled run";

fn sorted(f: &e2e::Fixture, names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| f.account(n)).collect();
    v.sort();
    v
}

/// The quarantined account alone does not fail the Create: failing it would roll the whole
/// stack back (and the rollback's Delete would fail on that same account), for an account the
/// scheduled run enrolls by itself once the deny lifts. The answer is SUCCESS with the live ID;
/// EnrolledAccountIds (`AccountIds`, `AccountCount`) hold the five accounts that have the role
/// now, not the waiting one; the Reason names it with the advice. An Update while it still
/// waits answers the same (no rollback, so no UPDATE_ROLLBACK_FAILED); the Update after the
/// deny lifted enrolls it.
#[tokio::test]
async fn a_create_with_a_quarantined_account_succeeds_for_the_others_and_says_the_account_waits() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let waiting = f.account("prod-eu-1");
    r.bed
        .control("quarantine", json!({"account_id": waiting}))
        .await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c-quarantine", p.clone()))
        .await;
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    let mut others = sorted(&f, PROD);
    others.retain(|a| *a != waiting);
    assert_eq!(answer["Data"]["AccountIds"], others.join(","), "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "5", "{answer}");
    let reason = answer["Reason"].as_str().expect("a Reason says who waits");
    assert!(
        reason.starts_with("1 of 6 in-scope account(s) are not ready for Port's role yet: "),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("account {waiting}: {WAITS}")),
        "{reason}"
    );
    assert!(
        reason.contains("with an explicit deny in a service control policy"),
        "AWS's words: {reason}"
    );
    // The StackSet: five CURRENT, the waiting account's instance FAILED (for the schedule).
    for i in r.bed.instances(STACK_SET).await {
        let want = if i["account"] == waiting.as_str() {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        assert_eq!(i["detailed_status"], want, "{i}");
    }

    // An Update while it still waits: SUCCESS again, the same five.
    let mut up = request(&r.sink, "update", "u-still", p.clone());
    up["OldResourceProperties"] = p.clone();
    up["PhysicalResourceId"] = json!(live_id());
    r.invoke(up).await;
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountIds"], others.join(","), "{answer}");

    // The deny lifts: the next Update (a change the user makes) enrolls it.
    r.bed
        .control("lift-quarantine", json!({"account_id": waiting}))
        .await;
    let mut up = request(&r.sink, "update", "u-lifted", p.clone());
    up["OldResourceProperties"] = p;
    up["PhysicalResourceId"] = json!(live_id());
    r.invoke(up).await;
    let answer = r.last_answer();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert!(answer.get("Reason").is_none(), "{answer}");
    assert_eq!(answer["Data"]["AccountIds"], sorted(&f, PROD).join(","));
    assert_eq!(r.sink.bodies().len(), 3, "one answer per request");
}

/// A real failure beside a waiting account still fails the Create, as any failed account does
/// (README, Troubleshooting): the Reason names the real failure with its advice, and the
/// waiting account apart, as one that alone would not fail the stack. CloudFormation then
/// rolls back; its Delete fails while the quarantine still denies the execution role in that
/// account (DeleteStack is denied too), and succeeds once it lifts.
#[tokio::test]
async fn a_real_failure_beside_a_quarantined_account_still_fails_the_create_naming_both_apart() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let waiting = f.account("prod-eu-1");
    let broken = f.account("prod-web");
    r.bed
        .control("quarantine", json!({"account_id": waiting}))
        .await;
    r.bed
        .control(
            "fail-account",
            json!({"account_id": broken, "times": 1, "reason":
                "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
                 ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists."}),
        )
        .await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c-mixed", p.clone()))
        .await;
    let failed = r.last_answer();
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "1 of 6 in-scope account(s) did not get Port's role: account {broken}: a role with \
             the same name already exists there."
        )),
        "{reason}"
    );
    assert!(
        reason.ends_with(&format!(
            ". Besides, 1 account(s) wait for their StackSets execution role, which a service \
             control policy or the account's setup denies ({waiting}); these alone would not \
             fail the stack"
        )),
        "{reason}"
    );
    // The rollback Delete: denied in the quarantined account, named; then, lifted, clean.
    r.invoke(rollback_delete(&r.sink, "d-denied", p.clone(), &failed))
        .await;
    let denied = r.last_answer();
    assert_eq!(denied["Status"], "FAILED", "{denied}");
    assert!(
        denied["Reason"].as_str().unwrap().contains(&waiting),
        "{denied}"
    );
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        vec![waiting.clone()],
        "only the quarantined account's instance is left"
    );
    r.bed
        .control("lift-quarantine", json!({"account_id": waiting}))
        .await;
    r.invoke(rollback_delete(&r.sink, "d-lifted", p, &failed))
        .await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert!(r.bed.instances(STACK_SET).await.is_empty());
    assert_eq!(r.sink.bodies().len(), 3, "one answer per request");
}
