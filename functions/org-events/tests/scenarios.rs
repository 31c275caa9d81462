//! The scenarios: duplicates, disorder, lost events, drift, failures, throttling,
//! configuration errors. Stack instances in the emulator are the verdict.

mod common;

use common::{env_for, mutating, strs, World};
use e2e::{REGION, STACK_SET};
use org_events::handler::Disposition;
use org_events::Config;
use serde_json::json;

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];

#[tokio::test]
async fn the_same_event_delivered_twice_acts_once() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    w.clear_requests().await;
    let ev = w.mv("sandbox-orphan", "Root", "Root/Prod/US").await;
    let first = w.invoke(&ev).await;
    let second = w.invoke(&ev).await;
    assert_eq!(first.outcome, Disposition::Reconciled, "{first:?}");
    assert!(
        matches!(
            second.outcome,
            Disposition::NoChange | Disposition::AlreadyCovered
        ),
        "{second:?}"
    );
    assert_eq!(mutating(&w.calls().await), ["CreateStackInstances"]);
    assert!(w.enrolled().await.contains(&w.f.account("sandbox-orphan")));
}

#[tokio::test]
async fn a_retried_invocation_reuses_its_operation_ids() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let ev = w.mv("sandbox-orphan", "Root", "Root/Prod").await;
    // Lambda retries an async invocation with the same request ID.
    let inv = org_events::Invocation {
        request_id: "retried-request".into(),
        deadline: std::time::Instant::now() + std::time::Duration::from_secs(60),
    };
    let a = w.handler.handle(&ev, &inv).await.unwrap();
    w.bed
        .control(
            "delete-instance",
            json!({"stack_set_name": STACK_SET, "account_id": w.f.account("sandbox-orphan"), "region": REGION}),
        )
        .await;
    let b = w.handler.handle(&ev, &inv).await.unwrap();
    assert_eq!(a.operation_ids.len(), 1, "{a:?}");
    assert_eq!(a.operation_ids, b.operation_ids, "{b:?}");
}

#[tokio::test]
async fn events_out_of_order_converge_on_the_current_tree() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    // sandbox-orphan: in, then out again. prod-web: out, then back in (elsewhere).
    let in_ = w.mv("sandbox-orphan", "Root", "Root/Prod").await;
    let out = w.mv("sandbox-orphan", "Root/Prod", "Root/Staging").await;
    let web_out = w.mv("prod-web", "Root/Prod", "Root/Staging").await;
    let web_in = w.mv("prod-web", "Root/Staging", "Root/Prod/EU").await;
    w.clear_requests().await;
    for ev in [&web_in, &out, &web_out, &in_] {
        w.invoke(ev).await;
    }
    assert_eq!(w.enrolled().await, w.ids(PROD));
    assert!(
        mutating(&w.calls().await).is_empty(),
        "nothing differs from the start"
    );
}

#[tokio::test]
async fn a_lost_event_is_repaired_by_the_scheduled_run() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    // Neither move sends an event.
    w.mv("sandbox-orphan", "Root", "Root/Prod/EU/Payments")
        .await;
    w.mv("prod-web", "Root/Prod", "Root/Sandbox").await;
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_added), w.ids(&["sandbox-orphan"]), "{s:?}");
    assert_eq!(strs(&s.accounts_removed), w.ids(&["prod-web"]), "{s:?}");
    let mut want: Vec<&str> = PROD.iter().copied().filter(|a| *a != "prod-web").collect();
    want.push("sandbox-orphan");
    assert_eq!(w.enrolled().await, w.ids(&want));
}

/// The schedule reconciles first and only then starts drift detection, without waiting for
/// it: the run after the detection that finds the drift repairs it.
#[tokio::test]
async fn a_drifted_instance_is_repaired_by_the_scheduled_run_after_the_detection_finds_it() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let s = w.schedule().await;
    assert_eq!(s.operation_ids.len(), 1, "{s:?}");
    assert!(s.drift_detection.is_some(), "{s:?}");
    // Let that first detection finish (reading the instances lets the test bed finish it).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    w.enrolled().await;
    let acct = w.f.account("prod-eu-1");
    w.bed
        .control(
            "drift",
            json!({"stack_set_name": STACK_SET, "account_id": acct, "region": REGION}),
        )
        .await;
    // Nothing known yet: reconcile changes nothing, then a detection starts (not awaited).
    w.clear_requests().await;
    let s = w.schedule().await;
    assert!(s.accounts_repaired.is_empty(), "{s:?}");
    assert_eq!(mutating(&w.calls().await), ["DetectStackSetDrift"]);
    // The next run repairs from that detection's results, then starts the next detection.
    w.clear_requests().await;
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_repaired), vec![acct.clone()], "{s:?}");
    assert_eq!(
        mutating(&w.calls().await),
        ["UpdateStackInstances", "DetectStackSetDrift"]
    );
    let inst = w.instance(&acct).await.unwrap();
    assert_eq!(inst["out_of_band_drift"], false, "{inst}");
    // That detection finds it in sync, and nothing more is done.
    let s = w.schedule().await;
    assert!(s.accounts_repaired.is_empty(), "{s:?}");
    let inst = w.instance(&acct).await.unwrap();
    assert_eq!(inst["drift_status"], "IN_SYNC", "{inst}");
    assert_eq!(inst["status"], "CURRENT", "{inst}");
}

#[tokio::test]
async fn a_failed_instance_is_retried_then_given_up_with_advice() {
    let w = World::new(
        &["Root/Prod"],
        "ALL",
        &[],
        &[("MAX_RETRY_ATTEMPTS", "2")],
        0.2,
    )
    .await;
    let acct = w.f.account("prod-web");
    w.bed
        .control(
            "fail-account",
            json!({"account_id": acct, "times": null, "reason":
                "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
                 ResourceStatusReason:PortIntegrationRole-test already exists."}),
        )
        .await;
    // 1st attempt: the create fails; the reason is translated.
    let s = w.schedule().await;
    let f = s
        .failures
        .iter()
        .find(|f| f.account.as_str() == acct)
        .expect("failure reported");
    assert!(f.advice.contains("cannot reuse an existing role"), "{f:?}");
    // 2nd attempt: retried.
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_retried), vec![acct.clone()], "{s:?}");
    // The bound is reached: given up, with advice, and not touched again.
    w.clear_requests().await;
    let s = w.schedule().await;
    assert!(s.accounts_retried.is_empty(), "{s:?}");
    let g = s
        .given_up
        .iter()
        .find(|g| g.account.as_str() == acct)
        .expect("given up");
    assert!(g.advice.contains("CustomRoleName"), "{g:?}");
    assert!(
        !mutating(&w.calls().await).contains(&"UpdateStackInstances".to_owned()),
        "no further attempt"
    );
    let inst = w.instance(&acct).await.unwrap();
    assert_eq!(inst["detailed_status"], "FAILED", "{inst}");
    // The others are enrolled.
    let others: Vec<&str> = PROD.iter().copied().filter(|a| *a != "prod-web").collect();
    for a in w.ids(&others) {
        assert_eq!(w.instance(&a).await.unwrap()["status"], "CURRENT");
    }
}

#[tokio::test]
async fn throttled_organizations_and_cloudformation_still_converge() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.bed
        .configure(json!({"throttle": {"organizations": 0.3, "cloudformation": 0.3}, "seed": 7}))
        .await;
    w.schedule().await;
    assert_eq!(w.enrolled().await, w.ids(PROD));
    let ev = w
        .mv("sandbox-orphan", "Root", "Root/Prod/EU/Payments/PCI")
        .await;
    w.invoke(&ev).await;
    let ev = w.mv("prod-us-1", "Root/Prod/US", "Root/Staging").await;
    w.invoke(&ev).await;
    let throttled = w
        .bed
        .requests()
        .await
        .iter()
        .filter(|r| r["throttled"] == true)
        .count();
    assert!(throttled > 0, "the test bed throttled nothing");
    let mut want: Vec<&str> = PROD.iter().copied().filter(|a| *a != "prod-us-1").collect();
    want.push("sandbox-orphan");
    assert_eq!(w.enrolled().await, w.ids(&want));
}

#[tokio::test]
async fn intersection_only_enrolls_listed_accounts_that_move_in() {
    let w = World::new(
        &["Root/Prod"],
        "INTERSECTION",
        &["prod-web", "staging-1"],
        &[],
        0.2,
    )
    .await;
    w.schedule().await;
    assert_eq!(w.enrolled().await, w.ids(&["prod-web"]));
    w.clear_requests().await;
    // Not listed: rejected by the cheap check with no Organizations call.
    let ev = w.mv("staging-2", "Root/Staging", "Root/Prod").await;
    let s = w.invoke(&ev).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{s:?}");
    // Listed: enrolled.
    let ev = w.mv("staging-1", "Root/Staging", "Root/Prod/EU").await;
    w.invoke(&ev).await;
    assert_eq!(w.enrolled().await, w.ids(&["prod-web", "staging-1"]));
}

#[tokio::test]
async fn retain_policy_keeps_the_instance_of_an_account_that_leaves() {
    let w = World::new(
        &["Root/Prod"],
        "ALL",
        &[],
        &[("ON_ACCOUNT_LEAVES_SCOPE", "RETAIN")],
        0.2,
    )
    .await;
    w.schedule().await;
    let ev = w.mv("prod-web", "Root/Prod", "Root/Sandbox").await;
    w.clear_requests().await;
    w.invoke(&ev).await;
    assert!(mutating(&w.calls().await).is_empty());
    assert_eq!(w.enrolled().await, w.ids(PROD));
}

#[tokio::test]
async fn invalid_configuration_gives_the_scope_engine_messages() {
    let bed = e2e::TestBed::start().await;
    let f = bed.sample().await;
    let cases: &[(&str, &str, &str)] = &[
        (
            "TARGET_OU_IDS",
            "Prod",
            "TargetOUIds: `Prod` is not an OU or root ID",
        ),
        ("TARGET_OU_IDS", "", "TargetOUIds is empty"),
        ("ACCOUNT_SCOPE", "INTERSECTION", "nothing would be deployed"),
        ("TARGET_ACCOUNT_IDS", "1.23457E+11", "scientific notation"),
        ("ON_ACCOUNT_LEAVES_SCOPE", "KEEP", "not DELETE or RETAIN"),
    ];
    for (k, v, want) in cases {
        let mut env = env_for(&f, &["Root/Prod"], "ALL", &[], &[]);
        env.insert((*k).to_owned(), (*v).to_owned());
        let e = Config::from_env(|x| env.get(x).cloned(), REGION).unwrap_err();
        assert!(e.to_string().contains(want), "{k}={v}: {e}");
    }
}

#[tokio::test]
async fn the_binary_fails_start_up_on_invalid_configuration() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_org-events"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TARGET_OU_IDS", "ou-abcd-12345678 ou-efgh-87654321")
        .env("ACCOUNT_SCOPE", "ALL")
        .env("STACK_SET_NAME", STACK_SET)
        .output()
        .await
        .expect("run org-events");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("separate OU IDs with commas, not spaces or semicolons"),
        "{err}"
    );
}
