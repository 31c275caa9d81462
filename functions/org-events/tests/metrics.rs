//! The metrics line each invocation prints (CloudWatch Embedded Metric Format): valid EMF,
//! figures that match what happened, and call counts that match what AWS (the emulator) saw.

mod common;

use std::time::{Duration, Instant};

use common::{function_config, World};
use org_events::{Handler, Invocation, Summary};
use serde_json::json;
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::counted::{CallCounts, Counted};
use shared::metrics::{
    check_emf, names, Emitted, EVENT_KIND_DIMENSION, INTEGRATION_DIMENSION, NAMESPACE,
};
use shared::ports::TokioClock;

type CountedHandler = Handler<Counted<SdkOrganizations>, Counted<CfnStackSets>, TokioClock>;

/// The World's handler, as main wires it: clients counted, the stack's identifier.
async fn counted(w: &World) -> CountedHandler {
    let conf = function_config(&w.bed).await;
    let calls = CallCounts::new();
    let mut h = Handler::new(
        Counted::new(SdkOrganizations::new(&conf), calls.clone()),
        Counted::new(CfnStackSets::new(&conf), calls.clone()),
        TokioClock,
        w.handler.config.clone(),
    );
    h.engine = w.handler.engine.clone();
    h.calls = Some(calls);
    h.integration_id = "team-a".into();
    h
}

async fn invoke(h: &CountedHandler, event: &serde_json::Value, id: &str) -> Summary {
    let inv = Invocation {
        request_id: id.into(),
        deadline: Instant::now() + Duration::from_secs(120),
    };
    h.handle(event, &inv).await.expect("invocation")
}

fn value(ms: &[Emitted], name: &str) -> Option<f64> {
    ms.iter().find(|m| m.name == name).map(|m| m.value)
}

#[tokio::test]
async fn a_scheduled_reconcile_prints_valid_emf_matching_the_summary_and_the_calls_aws_saw() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let failing = w.f.account("prod-web");
    w.bed
        .control(
            "fail-account",
            json!({"account_id": failing, "times": null, "reason":
                "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
                 ResourceStatusReason:PortIntegrationRole-test already exists."}),
        )
        .await;
    let h = counted(&w).await;
    w.clear_requests().await;
    let s = invoke(&h, &common::event("scheduled.json", &[]), "req-metrics-1").await;
    let seen = w.calls().await;

    let ms = check_emf(&s.metrics_line).unwrap_or_else(|e| panic!("{e}: {}", s.metrics_line));
    assert!(ms.iter().all(|m| m.namespace == NAMESPACE));
    assert!(ms.iter().all(|m| m
        .dimensions
        .contains(&(INTEGRATION_DIMENSION.into(), "team-a".into()))));
    // Six accounts under Prod, one of which fails; the sample's Prod has none skipped.
    assert_eq!(value(&ms, names::ACCOUNTS_IN_SCOPE), Some(6.0));
    assert_eq!(value(&ms, names::ACCOUNTS_FAILED), Some(1.0));
    assert_eq!(value(&ms, names::ACCOUNTS_ENROLLED), Some(5.0));
    assert_eq!(value(&ms, names::ACCOUNTS_SKIPPED), Some(0.0));
    assert_eq!(value(&ms, names::RECONCILE_SUCCEEDED), Some(0.0));
    assert_eq!(
        value(&ms, names::OPERATIONS_STARTED),
        Some(s.operations.len() as f64)
    );
    assert_eq!(value(&ms, names::OPERATIONS_STARTED), Some(1.0), "{s:?}");
    // It ran to its end: the scheduled-run alarm is satisfied; the failed account has its own.
    assert_eq!(value(&ms, names::SCHEDULED_RECONCILE_SUCCEEDED), Some(1.0));
    assert_eq!(
        value(&ms, names::RECONCILE_DURATION),
        Some(s.duration_ms as f64)
    );
    let orgs = seen
        .iter()
        .filter(|(svc, _)| svc == "organizations")
        .count();
    let cfn = seen
        .iter()
        .filter(|(svc, _)| svc == "cloudformation")
        .count();
    assert_eq!(
        value(&ms, names::ORGANIZATIONS_CALLS),
        Some(orgs as f64),
        "{seen:?}"
    );
    assert_eq!(
        value(&ms, names::CLOUDFORMATION_CALLS),
        Some(cfn as f64),
        "{seen:?}"
    );
    let received = ms
        .iter()
        .find(|m| m.name == names::EVENTS_RECEIVED)
        .unwrap();
    assert!(received
        .dimensions
        .contains(&(EVENT_KIND_DIMENSION.into(), "schedule".into())));
    assert_eq!(value(&ms, names::EVENTS_TOUCHING_SCOPE), Some(1.0));
}

#[tokio::test]
async fn an_event_that_cannot_touch_the_scope_is_counted_by_kind_without_reconcile_figures() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let h = counted(&w).await;
    let ev = w.mv("staging-1", "Root/Staging", "Root/Sandbox").await;
    w.clear_requests().await;
    let s = invoke(&h, &ev, "req-metrics-2").await;
    let seen = w.calls().await;
    let ms = check_emf(&s.metrics_line).unwrap_or_else(|e| panic!("{e}: {}", s.metrics_line));
    let received = ms
        .iter()
        .find(|m| m.name == names::EVENTS_RECEIVED)
        .unwrap();
    assert_eq!(received.value, 1.0);
    assert!(received
        .dimensions
        .contains(&(EVENT_KIND_DIMENSION.into(), "account_moved".into())));
    assert_eq!(value(&ms, names::EVENTS_TOUCHING_SCOPE), Some(0.0), "{s:?}");
    assert_eq!(value(&ms, names::ACCOUNTS_IN_SCOPE), None);
    assert_eq!(value(&ms, names::SCHEDULED_RECONCILE_SUCCEEDED), None);
    assert_eq!(
        value(&ms, names::ORGANIZATIONS_CALLS).unwrap()
            + value(&ms, names::CLOUDFORMATION_CALLS).unwrap(),
        seen.len() as f64,
        "{seen:?}"
    );
}

#[tokio::test]
async fn an_event_that_enrolls_an_account_counts_as_touching_the_scope() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let h = counted(&w).await;
    let ev = w.mv("sandbox-orphan", "Root", "Root/Prod/US").await;
    let s = invoke(&h, &ev, "req-metrics-3").await;
    let ms = check_emf(&s.metrics_line).unwrap();
    assert_eq!(value(&ms, names::EVENTS_TOUCHING_SCOPE), Some(1.0), "{s:?}");
    // The event's pass read its account only: it says nothing of the scope's size.
    assert_eq!(value(&ms, names::ACCOUNTS_IN_SCOPE), None);
    assert_eq!(value(&ms, names::ACCOUNTS_ENROLLED), None);
    assert_eq!(value(&ms, names::ACCOUNTS_FAILED), None);
    assert_eq!(value(&ms, names::OPERATIONS_STARTED), Some(1.0));
    assert_eq!(value(&ms, names::RECONCILE_SUCCEEDED), Some(1.0));
    // The next scheduled run does, for all seven.
    let s = invoke(&h, &common::event("scheduled.json", &[]), "req-metrics-4").await;
    let ms = check_emf(&s.metrics_line).unwrap();
    assert_eq!(value(&ms, names::ACCOUNTS_IN_SCOPE), Some(7.0));
    assert_eq!(value(&ms, names::ACCOUNTS_ENROLLED), Some(7.0));
}
