//! The change feed, end to end: org-events puts one EventBridge event on the default bus
//! when the set of enrolled accounts changes, none when nothing changed, and a failed put
//! changes nothing else. The real EventBridge adapter talks to the emulator; the verdict is
//! the emulator's request log.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use common::{event, function_config, World};
use org_events::guard::NoStack;
use org_events::handler::Disposition;
use org_events::{Handler, Invocation, Summary};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, EventBridgeFeed, SdkOrganizations};
use shared::core::change::{DETAIL_TYPE, SOURCE};
use shared::core::{ChangeDetail, ChangeKind};
use shared::feed::Put;
use shared::metrics::{check_emf, names};
use shared::ports::TokioClock;

type FeedHandler = Handler<SdkOrganizations, CfnStackSets, TokioClock, NoStack, EventBridgeFeed>;

/// The world's handler as main wires it: the EventBridge adapter on the emulator.
async fn with_feed(w: &World) -> FeedHandler {
    let conf = function_config(&w.bed).await;
    let mut h = Handler::new(
        SdkOrganizations::new(&conf),
        CfnStackSets::new(&conf),
        TokioClock,
        w.handler.config.clone(),
    )
    .with_feed(EventBridgeFeed::new(&conf));
    h.engine = w.handler.engine.clone();
    h.integration_id = "team-feed".into();
    h
}

static SEQ: AtomicU64 = AtomicU64::new(0);

async fn run(h: &FeedHandler, ev: &Value) -> Summary {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let inv = Invocation {
        request_id: format!("feed-{n:04}-0000-4000-8000-000000000000"),
        deadline: Instant::now() + Duration::from_secs(120),
    };
    h.handle(ev, &inv)
        .await
        .unwrap_or_else(|e| panic!("invocation failed: {e}"))
}

/// The details of the change events put since the last clear, checking each entry's source
/// and detail-type.
async fn details(w: &World) -> Vec<ChangeDetail> {
    w.bed
        .put_events()
        .await
        .into_iter()
        .flatten()
        .map(|e| {
            assert_eq!(e["Source"], SOURCE, "{e}");
            assert_eq!(e["DetailType"], DETAIL_TYPE, "{e}");
            assert!(e.get("EventBusName").is_none(), "the default bus: {e}");
            serde_json::from_str(e["Detail"].as_str().expect("Detail")).expect("a ChangeDetail")
        })
        .collect()
}

fn metric(s: &Summary, name: &str) -> Option<f64> {
    check_emf(&s.metrics_line)
        .unwrap_or_else(|e| panic!("{e}: {}", s.metrics_line))
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.value)
}

fn ids(d: &ChangeDetail, kind: ChangeKind) -> Vec<String> {
    let mut v: Vec<String> = d
        .accounts
        .iter()
        .filter(|a| a.change == kind)
        .map(|a| a.account_id.as_str().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn an_account_moved_into_scope_puts_exactly_one_event_naming_it_enrolled() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let h = with_feed(&w).await;
    run(&h, &event("scheduled.json", &[])).await;
    w.clear_requests().await;

    let ev = w.mv("sandbox-orphan", "Root", "Root/Prod/US").await;
    let s = run(&h, &ev).await;

    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let all = details(&w).await;
    assert_eq!(all.len(), 1, "exactly one event: {all:?}");
    let d = &all[0];
    let orphan = w.f.account("sandbox-orphan");
    assert_eq!(ids(d, ChangeKind::Enrolled), vec![orphan.clone()]);
    assert_eq!(d.accounts.len(), 1);
    assert_eq!(
        (d.counts.enrolled, d.counts.withdrawn, d.counts.failed),
        (1, 0, 0)
    );
    assert!(
        d.accounts[0].reason.contains("Root/Prod"),
        "{}",
        d.accounts[0].reason
    );
    assert_eq!(d.trigger, "account_moved");
    assert_eq!(d.function, "org-events");
    assert_eq!(d.event_id.as_deref(), ev["id"].as_str());
    assert_eq!(d.integration_identifier, "team-feed");
    assert_eq!(d.stack_set_name, e2e::STACK_SET);
    assert_eq!(d.operation_ids, s.operation_ids);
    assert!(!d.accounts_truncated);
    assert_eq!(s.change_event, Some(Put::Accepted));
    assert_eq!(metric(&s, names::CHANGE_EVENTS_PUT), Some(1.0));
    assert_eq!(metric(&s, names::CHANGE_EVENTS_FAILED), Some(0.0));
}

#[tokio::test]
async fn a_scheduled_run_with_nothing_to_change_puts_no_event() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let h = with_feed(&w).await;
    let first = run(&h, &event("scheduled.json", &[])).await;
    assert_eq!(
        first.change_event,
        Some(Put::Accepted),
        "the first run enrolls: {first:?}"
    );
    w.clear_requests().await;

    let s = run(&h, &event("scheduled.json", &[])).await;

    assert_eq!(s.outcome, Disposition::NoChange, "{s:?}");
    assert!(w.bed.put_events().await.is_empty(), "no PutEvents at all");
    assert_eq!(s.change_event, None);
    assert_eq!(metric(&s, names::CHANGE_EVENTS_PUT), None);
    assert_eq!(metric(&s, names::CHANGE_EVENTS_FAILED), None);
}

#[tokio::test]
async fn an_account_moved_out_of_scope_is_withdrawn_with_the_reason() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let h = with_feed(&w).await;
    run(&h, &event("scheduled.json", &[])).await;
    w.clear_requests().await;

    let ev = w.mv("prod-web", "Root/Prod", "Root/Staging").await;
    let s = run(&h, &ev).await;

    let all = details(&w).await;
    assert_eq!(all.len(), 1, "{all:?} {s:?}");
    assert_eq!(
        ids(&all[0], ChangeKind::Withdrawn),
        vec![w.f.account("prod-web")]
    );
    assert!(all[0].accounts[0]
        .reason
        .contains("Port's role was deleted"));
}

#[tokio::test]
async fn an_entry_failed_in_a_200_answer_with_a_retryable_code_is_sent_again() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let h = with_feed(&w).await;
    w.bed
        .configure(json!({"events_failed_entries": {"count": 1, "code": "InternalFailure"}}))
        .await;

    let s = run(&h, &event("scheduled.json", &[])).await;

    assert_eq!(
        w.bed.put_events().await.len(),
        2,
        "the failed entry, then again"
    );
    assert_eq!(s.change_event, Some(Put::Accepted));
    assert_eq!(metric(&s, names::CHANGE_EVENTS_FAILED), Some(0.0));
}

#[tokio::test]
async fn a_put_that_keeps_failing_is_reported_and_the_reconcile_still_stands() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let h = with_feed(&w).await;
    w.bed
        .configure(json!({"events_failed_entries": {"count": 100, "code": "InternalFailure"}}))
        .await;

    let s = run(&h, &event("scheduled.json", &[])).await;

    assert_eq!(
        w.bed.put_events().await.len(),
        // The design: an entry EventBridge failed with a transient code is sent at most 3
        // times in all (shared::adapters::eventbridge, ENTRY_ATTEMPTS; the user guide's
        // "Handling failures with PutEvents" only says it "must be included in a subsequent
        // call", the bound is ours).
        3,
        "bounded resends"
    );
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(w.enrolled().await.len(), 6, "the enrollment stands");
    assert_eq!(s.change_event, Some(Put::Failed));
    assert_eq!(metric(&s, names::CHANGE_EVENTS_FAILED), Some(1.0));
    assert_eq!(metric(&s, names::CHANGE_EVENTS_PUT), Some(0.0));
}

#[tokio::test]
async fn a_non_retryable_entry_failure_is_not_sent_again() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let h = with_feed(&w).await;
    w.bed
        .configure(json!({"events_failed_entries": {"count": 1, "code": "NotAuthorizedForSourceException"}}))
        .await;

    let s = run(&h, &event("scheduled.json", &[])).await;

    assert_eq!(w.bed.put_events().await.len(), 1);
    assert_eq!(s.change_event, Some(Put::Failed));
}

/// The keys of a JSON value, recursively (list items by their first element's keys); a
/// `null` stands for an optional string (`eventId`, `stackId`).
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), shape(x))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("string"),
    }
}

#[tokio::test]
async fn the_event_has_the_shape_of_the_documented_sample() {
    let sample = common::sample_event("port-role-scope-changed.json");
    let typed: EventBridgeEvent<ChangeDetail> =
        serde_json::from_value(sample.clone()).expect("the sample is an EventBridge event");
    assert_eq!(typed.source, SOURCE);
    assert_eq!(typed.detail_type, DETAIL_TYPE);
    // Nothing in the sample that the type does not know, nothing missing.
    assert_eq!(
        serde_json::to_value(&typed.detail).unwrap(),
        sample["detail"]
    );

    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let h = with_feed(&w).await;
    run(&h, &event("scheduled.json", &[])).await;
    w.clear_requests().await;
    let ev = w.mv("sandbox-orphan", "Root", "Root/Prod/US").await;
    run(&h, &ev).await;
    let entries: Vec<Value> = w.bed.put_events().await.into_iter().flatten().collect();
    assert_eq!(entries.len(), 1);
    let emitted: Value = serde_json::from_str(entries[0]["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(shape(&emitted), shape(&sample["detail"]), "{emitted}");
}
