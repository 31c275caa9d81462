//! Events as the queue delivers them: template.yaml's rules put them on OrgEventsQueue and the
//! event source mapping's poller (`e2e::esm`) hands them over as one SQS event holding many
//! EventBridge events. Each account is checked once however many events name it, and the
//! accounts that can touch the scope are reconciled together, in one create and one delete at
//! most.

mod common;

use std::sync::Arc;

use common::{deliver, event, mutating, quick, World};
use org_events::handler::Disposition;
use org_events::Summary;
use serde_json::json;

/// The one delivery of a queue holding `events` (fewer than SQS's 10 per receive: one batch).
async fn one_batch(w: &Arc<World>, events: &[serde_json::Value]) -> Summary {
    let q = w.bed.org_events_queue().await;
    q.put_all(events).await;
    let mut r = deliver(w, &q, quick()).await;
    assert_eq!(
        r.deliveries.len(),
        1,
        "{:?}",
        r.deliveries
            .iter()
            .map(|d| &d.message_ids)
            .collect::<Vec<_>>()
    );
    let d = r.deliveries.remove(0);
    assert_eq!(d.receive_counts, vec![1; events.len()]);
    d.result.expect("the batch's invocation")
}

#[tokio::test]
async fn a_batch_of_moves_outside_the_scope_checks_each_account_once_and_changes_nothing() {
    let w = Arc::new(World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await);
    w.schedule().await;
    let before = w.enrolled().await;
    let root = w.f.root();
    let events = vec![
        w.mv("sandbox-orphan", &root, "Root/Staging").await,
        w.mv("sandbox-orphan", "Root/Staging", "Root/Sandbox").await,
        w.mv("sandbox-orphan", "Root/Sandbox", "Root/Staging").await,
        w.mv("staging-1", "Root/Staging", "Root/Sandbox").await,
    ];
    w.clear_requests().await;
    let s = one_batch(&w, &events).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{}", s.reason);
    assert_eq!((s.events, s.accounts_named), (4, 2));
    assert!(
        s.reason
            .starts_with("none of the 4 events can touch the scope (2 checked)"),
        "{}",
        s.reason
    );
    let calls = w.calls().await;
    let lookups = calls
        .iter()
        .filter(|(svc, a)| svc == "cloudformation" && a == "ListStackInstances")
        .count();
    assert_eq!(lookups, 2, "one instance lookup per account: {calls:?}");
    assert!(mutating(&calls).is_empty(), "{calls:?}");
    assert_eq!(w.enrolled().await, before);
}

#[tokio::test]
async fn a_batch_enrolls_and_withdraws_its_accounts_in_one_create_and_one_delete() {
    let w = Arc::new(World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await);
    w.schedule().await;
    let root = w.f.root();
    let events = vec![
        // In, out, in again: ends in the scope.
        w.mv("sandbox-orphan", &root, "Root/Prod/EU").await,
        w.mv("sandbox-orphan", "Root/Prod/EU", "Root/Sandbox").await,
        w.mv("sandbox-orphan", "Root/Sandbox", "Root/Prod/US").await,
        w.mv("staging-1", "Root/Staging", "Root/Prod").await,
        // Out of the scope.
        w.mv("prod-web", "Root/Prod", "Root/Staging").await,
        // Neither: checked, not read.
        w.mv("staging-2", "Root/Staging", "Root/Sandbox").await,
        // An event the rules deliver but that names no valid account: read and ignored.
        event(
            "move-account.json",
            &[(
                "/detail/requestParameters/accountId",
                json!("not-an-account"),
            )],
        ),
    ];
    w.clear_requests().await;
    let s = one_batch(&w, &events).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!((s.events, s.accounts_named), (7, 4));
    let line: serde_json::Value = serde_json::from_str(&s.metrics_line).unwrap();
    assert_eq!(line["EventsReceived"], 7, "{line}");
    assert_eq!(line["EventKind"], "account_moved", "{line}");
    let mut added: Vec<String> = s.accounts_added.iter().map(|a| a.to_string()).collect();
    added.sort();
    let mut want = w.ids(&["sandbox-orphan", "staging-1"]);
    want.sort();
    assert_eq!(added, want);
    let removed: Vec<String> = s.accounts_removed.iter().map(|a| a.to_string()).collect();
    assert_eq!(removed, w.ids(&["prod-web"]));
    let calls = w.calls().await;
    assert_eq!(
        mutating(&calls),
        ["CreateStackInstances", "DeleteStackInstances"],
        "{calls:?}"
    );
    // What a full read would say: nothing left to do.
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
}
