//! Service control policies on new accounts (issue 20, section 5). Landing zones put a new
//! account under a quarantine SCP until their setup finishes (landing-zone-accelerator-on-aws
//! #850: it denies the StackSets execution role `stacksets-exec-*`), so the first operations
//! on the account fail inside it. The test bed plays that SCP (`quarantine`, in AWS's words);
//! the verdict is the StackSet's instances and the runs' summaries.

mod common;

use common::{event, mutating, strs, World};
use e2e::STACK_SET;
use org_events::Summary;
use serde_json::json;

/// The phrase every advice about such an account carries (`shared::core::advice`).
const WAITS: &str = "a service control policy or the account's setup denies the StackSets \
                     execution role; it will be retried at the next scheduled run";

fn account_failure<'a>(
    s: &'a Summary,
    account: &str,
) -> Option<&'a shared::engine::AccountFailure> {
    s.failures.iter().find(|f| f.account.as_str() == account)
}

fn given_up(s: &Summary) -> Vec<String> {
    let mut v: Vec<String> = s
        .given_up
        .iter()
        .map(|g| g.account.as_str().to_owned())
        .collect();
    v.sort();
    v
}

/// A new account joins under quarantine: its first operation fails with the SCP's reason;
/// scheduled runs while it lasts retry it every time and never give it up (MAX_RETRY_ATTEMPTS
/// is 3, as the template sets it; four runs pass), while an account with a real failure under
/// the same runs is given up after its 3 attempts; the deny lifts and the next scheduled run
/// enrolls the account.
#[tokio::test]
async fn a_quarantined_new_account_is_retried_without_giving_up_and_enrolled_once_the_deny_lifts() {
    let w = World::new(&["Root"], "ALL", &[], &[("MAX_RETRY_ATTEMPTS", "3")], 0.2).await;
    // The control: an account whose failure does not end by itself.
    let stuck = w.f.account("prod-web");
    w.bed
        .control(
            "fail-account",
            json!({"account_id": stuck, "times": null, "reason":
                "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
                 ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists."}),
        )
        .await;
    let s = w.schedule().await;
    assert!(account_failure(&s, &stuck).is_some(), "{s:?}");

    // The landing zone creates the account and quarantines it at once.
    let new = w.create_account("lza-workload").await;
    w.bed
        .control("quarantine", json!({"account_id": new}))
        .await;
    w.clear_requests().await;
    let s = w
        .invoke(&event(
            "create-account-result.json",
            &[(
                "/detail/serviceEventDetails/createAccountStatus/accountId",
                json!(new),
            )],
        ))
        .await;
    assert_eq!(mutating(&w.calls().await), ["CreateStackInstances"]);
    let f = account_failure(&s, &new).expect("the new account's failure is reported");
    assert!(
        f.reason.contains("assumed-role/stacksets-exec-")
            && f.reason
                .ends_with("with an explicit deny in a service control policy"),
        "AWS's reason: {f:?}"
    );
    assert!(f.advice.contains(WAITS), "{f:?}");
    assert!(f.awaits_account(), "{f:?}");
    let inst = w.instance(&new).await.expect("the instance exists");
    assert_eq!(
        (inst["status"].as_str(), inst["detailed_status"].as_str()),
        (Some("OUTDATED"), Some("FAILED")),
        "{inst}"
    );

    // Four scheduled runs under quarantine: more than MAX_RETRY_ATTEMPTS.
    for run in 1..=4 {
        w.clear_requests().await;
        let s = w.schedule().await;
        assert!(
            strs(&s.accounts_retried).contains(&new),
            "run {run}: the quarantined account is retried: {s:?}"
        );
        assert!(
            !given_up(&s).contains(&new),
            "run {run}: never given up: {s:?}"
        );
        let f = account_failure(&s, &new).expect("still failing");
        assert!(f.advice.contains(WAITS), "run {run}: {f:?}");
        // AccountsFailed counts it while it waits (and prod-web): AccountsFailedAlarm fires
        // when a quarantine outlasts two schedule intervals.
        assert_eq!(s.figures.as_ref().map(|x| x.failed), Some(2), "run {run}");
        // prod-web failed once at the first run; runs 1 and 2 are its 2nd and 3rd attempts;
        // from run 3 on it is given up, with the same runs.
        if run <= 2 {
            assert!(
                strs(&s.accounts_retried).contains(&stuck),
                "run {run}: {s:?}"
            );
        } else {
            assert_eq!(given_up(&s), vec![stuck.clone()], "run {run}: {s:?}");
            assert!(
                !strs(&s.accounts_retried).contains(&stuck),
                "run {run}: {s:?}"
            );
        }
        // One retry operation per run, for both accounts or for the quarantined one alone.
        let calls = mutating(&w.calls().await);
        assert_eq!(
            calls
                .iter()
                .filter(|c| *c == "UpdateStackInstances")
                .count(),
            1,
            "run {run}: {calls:?}"
        );
        assert_eq!(
            w.instance(&new).await.unwrap()["detailed_status"],
            "FAILED",
            "run {run}"
        );
    }

    // The landing zone's setup ends: the SCP is detached. The next scheduled run enrolls it.
    w.bed
        .control("lift-quarantine", json!({"account_id": new}))
        .await;
    w.clear_requests().await;
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_retried), vec![new.clone()], "{s:?}");
    assert!(account_failure(&s, &new).is_none(), "{s:?}");
    assert_eq!(given_up(&s), vec![stuck.clone()], "{s:?}");
    assert_eq!(s.figures.as_ref().map(|x| x.failed), Some(1));
    let inst = w.instance(&new).await.unwrap();
    assert_eq!(inst["status"], "CURRENT", "{inst}");
    assert_eq!(
        mutating(&w.calls().await)
            .iter()
            .filter(|c| *c == "UpdateStackInstances")
            .count(),
        1
    );
    // And it stays enrolled: the run after has nothing to do for it.
    let s = w.schedule().await;
    assert!(!strs(&s.accounts_retried).contains(&new), "{s:?}");
    assert!(w.enrolled().await.contains(&new));
    assert!(w
        .bed
        .instances(STACK_SET)
        .await
        .iter()
        .any(|i| i["account"] == new.as_str() && i["status"] == "CURRENT"));
}

/// Events enroll such an account too: waiting for it spends no retry budget, so an event's
/// run (which never retries real failures: those are the schedule's) retries it, once per
/// run. The landing zone moves the account into its OU while still quarantined: one retry,
/// still denied, not given up; the quarantine lifts and the next event about the account
/// enrolls it, before any scheduled run.
#[tokio::test]
async fn once_the_deny_lifts_the_next_event_about_the_account_enrolls_it() {
    let w = World::new(&["Root"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let new = w.create_account("lza-moved").await;
    w.bed
        .control("quarantine", json!({"account_id": new}))
        .await;
    let s = w
        .invoke(&event(
            "create-account-result.json",
            &[(
                "/detail/serviceEventDetails/createAccountStatus/accountId",
                json!(new),
            )],
        ))
        .await;
    assert!(
        account_failure(&s, &new).is_some_and(|f| f.awaits_account()),
        "{s:?}"
    );
    // Moved into its OU while quarantined: one retry, denied again, not given up.
    w.clear_requests().await;
    let s = w.invoke(&w.mv(&new, "Root", "Root/Prod/EU").await).await;
    assert_eq!(strs(&s.accounts_retried), vec![new.clone()], "{s:?}");
    assert!(given_up(&s).is_empty(), "{s:?}");
    assert!(
        account_failure(&s, &new).is_some_and(|f| f.advice.contains(WAITS)),
        "{s:?}"
    );
    assert_eq!(mutating(&w.calls().await), ["UpdateStackInstances"]);
    // The setup ends; the next event about the account enrolls it.
    w.bed
        .control("lift-quarantine", json!({"account_id": new}))
        .await;
    w.clear_requests().await;
    let s = w
        .invoke(&w.mv(&new, "Root/Prod/EU", "Root/Prod").await)
        .await;
    assert_eq!(strs(&s.accounts_retried), vec![new.clone()], "{s:?}");
    assert!(s.failures.is_empty(), "{s:?}");
    assert_eq!(w.instance(&new).await.unwrap()["status"], "CURRENT");
    assert_eq!(mutating(&w.calls().await), ["UpdateStackInstances"]);
}

/// The quarantine's failures are no attempts: once the deny lifts, a real failure starts the
/// retry budget from nothing. MAX_RETRY_ATTEMPTS 2; the quarantine holds for 3 operations (the
/// create and two retries), then one real failure follows: it is retried, and enrolled. Had
/// the 3 denials counted, the account would have been given up at once.
#[tokio::test]
async fn the_quarantines_failures_leave_the_retry_budget_whole() {
    let w = World::new(
        &["Root/Prod"],
        "ALL",
        &[],
        &[("MAX_RETRY_ATTEMPTS", "2")],
        0.2,
    )
    .await;
    let a = w.f.account("prod-eu-1");
    w.bed
        .control(
            "quarantine",
            json!({"account_id": a, "until_operations": 3}),
        )
        .await;
    for run in 1..=3 {
        let s = w.schedule().await;
        let f = account_failure(&s, &a).expect("denied");
        assert!(f.awaits_account(), "run {run}: {f:?}");
        assert!(given_up(&s).is_empty(), "run {run}: {s:?}");
    }
    w.bed
        .control(
            "fail-account",
            json!({"account_id": a, "times": 1, "reason":
                "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
                 ResourceStatusReason:Rate exceeded (Service: Iam, Status Code: 400)"}),
        )
        .await;
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_retried), vec![a.clone()], "{s:?}");
    let f = account_failure(&s, &a).expect("the real failure");
    assert!(!f.awaits_account(), "{f:?}");
    // Its first counted attempt: retried once more, within the bound of 2, and enrolled.
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_retried), vec![a.clone()], "{s:?}");
    assert!(given_up(&s).is_empty() && s.failures.is_empty(), "{s:?}");
    assert_eq!(w.instance(&a).await.unwrap()["status"], "CURRENT");
}
