//! Organization events through what AWS puts between them and the function: template.yaml's
//! rules (only the events they match reach the queue), OrgEventsQueue and its dead-letter queue
//! (visibility timeout, maxReceiveCount), and the event source mapping's poller (`e2e::esm`:
//! at-least-once delivery, no order between batches, a failed batch back after the visibility
//! timeout, dead-lettered after maxReceiveCount receives).
//!
//! Can one message fail an invocation (a "poison message")? Most cannot: an event the function
//! cannot read is ignored on its own (`trigger::classify`), an account check that fails
//! reconciles anyway (`Handler::look`), and a failed account is reported in the summary, not
//! raised. What fails an invocation is the environment (the StackSet, the deployment stack,
//! Organizations unreachable), which fails every message alike, and one event: the deletion of
//! a target OU (a scope naming an OU that no longer exists is refused by name, `events.rs`).
//! For that one the function answers a partial batch response (template.yaml:
//! ReportBatchItemFailures): the batch's other events are reconciled without it, and only it
//! comes back, until the dead-letter queue (the last test).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{deliver, event, move_event, mutating, quick, strs, World};
use e2e::esm::Options;
use org_events::handler::Disposition;
use serde_json::json;

#[tokio::test]
async fn an_organizations_call_no_rule_matches_never_reaches_the_function() {
    let w = Arc::new(World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await);
    w.schedule().await;
    let q = w.bed.org_events_queue().await;
    let orphan = w.f.account("sandbox-orphan");
    let mv = w.mv("sandbox-orphan", &w.f.root(), "Root/Prod").await;
    // Organizations' UpdateOrganizationalUnit (a rename): recorded by CloudTrail, left out by
    // the rules.
    let mut rename = mv.clone();
    rename["detail"]["eventName"] = json!("UpdateOrganizationalUnit");
    rename["detail"]["requestParameters"] =
        json!({"organizationalUnitId": w.f.ou("Root/Prod"), "name": "Production"});
    assert_eq!(q.put(&rename).await, Vec::<String>::new());
    assert_eq!(q.depth().await, (0, 0));
    w.clear_requests().await;
    let r = deliver(&w, &q, quick()).await;
    assert!(r.deliveries.is_empty(), "{:?}", r.deliveries);
    assert!(mutating(&w.calls().await).is_empty());
    assert!(!w.enrolled().await.contains(&orphan));
    // The move's own event is matched by OrganizationsApiCallsRule and enrolls the account.
    assert_eq!(q.put(&mv).await, vec!["OrganizationsApiCallsRule"]);
    let r = deliver(&w, &q, quick()).await;
    assert_eq!(r.deliveries.len(), 1);
    let s = r.deliveries[0].result.as_ref().expect("invocation");
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert!(w.enrolled().await.contains(&orphan));
}

#[tokio::test]
async fn every_event_delivered_twice_converges_and_the_second_delivery_changes_nothing() {
    let w = Arc::new(World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await);
    w.schedule().await;
    let q = w.bed.org_events_queue().await;
    let events = vec![
        w.mv("sandbox-orphan", &w.f.root(), "Root/Prod/EU").await,
        w.mv("staging-1", "Root/Staging", "Root/Prod").await,
        w.mv("prod-web", "Root/Prod", "Root/Staging").await,
    ];
    q.put_all(&events).await;
    w.clear_requests().await;
    let r = deliver(
        &w,
        &q,
        Options {
            every_message_twice: true,
            ..quick()
        },
    )
    .await;
    assert_eq!(r.failed(), 0);
    let per = r.deliveries_per_message();
    assert_eq!(per.len(), 3);
    assert!(per.values().all(|n| *n == 2), "{per:?}");
    // The second delivery of each message: one visibility timeout later, received twice.
    assert_eq!(r.visibility_timeouts, 1);
    assert_eq!(r.deliveries.len(), 2);
    assert_eq!(r.deliveries[0].receive_counts, vec![1, 1, 1]);
    assert_eq!(r.deliveries[1].receive_counts, vec![2, 2, 2]);
    let first = r.deliveries[0].result.as_ref().unwrap();
    let again = r.deliveries[1].result.as_ref().unwrap();
    assert_eq!(first.outcome, Disposition::Reconciled, "{}", first.reason);
    assert!(again.operations.is_empty(), "{again:?}");
    assert_eq!(
        mutating(&w.calls().await),
        ["CreateStackInstances", "DeleteStackInstances"]
    );
    let mut want = w.ids(&["sandbox-orphan", "staging-1", "prod-data", "prod-eu-1"]);
    want.extend(w.ids(&["prod-us-1", "prod-eu-payments", "prod-eu-pci"]));
    want.sort();
    assert_eq!(w.enrolled().await, want);
    assert_eq!(q.depth().await, (0, 0));
    assert_eq!(q.dead_letter_visible().await, 0);
}

#[tokio::test]
async fn moves_a_to_b_then_b_to_c_delivered_in_reverse_order_end_where_the_accounts_are() {
    let w = Arc::new(World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await);
    w.schedule().await;
    let q = w.bed.org_events_queue().await;
    // staging-1 ends in the scope, prod-web out of it; each went through a middle OU.
    let events = vec![
        w.mv("staging-1", "Root/Staging", "Root/Sandbox").await,
        w.mv("staging-1", "Root/Sandbox", "Root/Prod/US").await,
        w.mv("prod-web", "Root/Prod", "Root/Prod/EU").await,
        w.mv("prod-web", "Root/Prod/EU", "Root/Sandbox").await,
    ];
    q.put_all(&events).await;
    let r = deliver(
        &w,
        &q,
        Options {
            reverse: true,
            batch_limit: Some(1),
            ..quick()
        },
    )
    .await;
    assert_eq!(r.failed(), 0);
    // Each event alone, the last move first.
    let delivered: Vec<&serde_json::Value> =
        r.deliveries.iter().map(|d| &d.bodies[0]["id"]).collect();
    let put: Vec<&serde_json::Value> = events.iter().rev().map(|e| &e["id"]).collect();
    assert_eq!(delivered, put);
    let enrolled: BTreeSet<String> = w.enrolled().await.into_iter().collect();
    assert!(enrolled.contains(&w.f.account("staging-1")));
    assert!(!enrolled.contains(&w.f.account("prod-web")));
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
}

/// Events the rules deliver but the function cannot use (an account ID that is not one, an
/// account no longer in the organization) are read with the others and consumed once: they do
/// not fail the batch, and the other accounts are enrolled on the first delivery.
#[tokio::test]
async fn a_message_the_function_cannot_use_is_consumed_once_with_the_rest_of_its_batch() {
    let w = Arc::new(World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await);
    w.schedule().await;
    let q = w.bed.org_events_queue().await;
    let root = w.f.root();
    let prod = w.f.ou("Root/Prod");
    let events = vec![
        event(
            "move-account.json",
            &[(
                "/detail/requestParameters/accountId",
                json!("not-an-account"),
            )],
        ),
        move_event("999999999999", &root, &prod),
        w.mv("sandbox-orphan", &root, "Root/Prod").await,
    ];
    q.put_all(&events).await;
    let r = deliver(&w, &q, quick()).await;
    assert_eq!(r.deliveries.len(), 1);
    assert_eq!(r.deliveries[0].receive_counts, vec![1, 1, 1]);
    let s = r.deliveries[0]
        .result
        .as_ref()
        .expect("the batch does not fail");
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert!(w.enrolled().await.contains(&w.f.account("sandbox-orphan")));
    assert_eq!(r.visibility_timeouts, 0);
    assert_eq!(q.depth().await, (0, 0));
    assert_eq!(q.dead_letter_visible().await, 0);
}

/// What does fail an invocation fails its whole batch: here the StackSet the function was
/// given does not exist. The batch comes back after each visibility timeout, received one more
/// time each time, and after maxReceiveCount (5) receives its messages are in the dead-letter
/// queue, where FailedInvocationsAlarm (ApproximateNumberOfMessagesVisible >= 1) sees them.
#[tokio::test]
async fn a_failing_batch_comes_back_each_visibility_timeout_and_ends_in_the_dead_letter_queue() {
    let w = Arc::new(
        World::new(
            &["Root/Prod"],
            "ALL",
            &[],
            &[("STACK_SET_NAME", "Missing-StackSet")],
            0.2,
        )
        .await,
    );
    let q = w.bed.org_events_queue().await;
    assert_eq!(q.settings.max_receive_count, 5);
    let events = vec![
        w.mv("sandbox-orphan", &w.f.root(), "Root/Prod").await,
        w.mv("staging-1", "Root/Staging", "Root/Prod").await,
    ];
    q.put_all(&events).await;
    let r = deliver(&w, &q, quick()).await;
    assert_eq!(r.deliveries.len(), 5);
    assert_eq!(r.failed(), 5);
    for (i, d) in r.deliveries.iter().enumerate() {
        assert_eq!(d.receive_counts, vec![i as u32 + 1; 2]);
    }
    assert!(
        r.deliveries[0]
            .result
            .as_ref()
            .unwrap_err()
            .contains("Missing-StackSet"),
        "{:?}",
        r.deliveries[0].result.as_ref().err()
    );
    // Five visibility timeouts: after each failed receive; the sixth receive dead-letters them.
    assert_eq!(r.visibility_timeouts, 5);
    assert_eq!(q.depth().await, (0, 0));
    assert_eq!(q.dead_letter_visible().await, 2);
}

/// The one event that fails an invocation by itself: a target OU deleted (the scope names an
/// OU that does not exist: the function refuses it by name). With the partial batch response,
/// the move delivered with it is reconciled on the first delivery and only the deletion's
/// message comes back: 5 receives, then the dead-letter queue, where FailedInvocationsAlarm
/// sees it.
#[tokio::test]
async fn a_deleted_target_ous_event_alone_comes_back_to_the_dead_letter_queue_the_rest_of_its_batch_is_enrolled(
) {
    let w = Arc::new(World::new(&["Root/Prod", "Root/Sandbox"], "ALL", &[], &[], 0.2).await);
    w.schedule().await;
    let q = w.bed.org_events_queue().await;
    assert_eq!(
        q.settings.function_response_types,
        ["ReportBatchItemFailures"]
    );
    let sandbox = w.f.ou("Root/Sandbox");
    w.orgs
        .delete_organizational_unit()
        .organizational_unit_id(&sandbox)
        .send()
        .await
        .expect("DeleteOrganizationalUnit");
    let events = vec![
        event(
            "delete-ou.json",
            &[(
                "/detail/requestParameters/organizationalUnitId",
                json!(sandbox),
            )],
        ),
        w.mv("staging-1", "Root/Staging", "Root/Prod").await,
    ];
    q.put_all(&events).await;
    let r = deliver(&w, &q, quick()).await;
    assert_eq!(r.deliveries.len(), 5);
    // First delivery: both records; the move is reconciled, the deletion answered as failed.
    let first = &r.deliveries[0];
    assert_eq!(first.receive_counts, vec![1, 1]);
    let s = first
        .result
        .as_ref()
        .expect("the batch succeeds but for one record");
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(strs(&s.accounts_added), w.ids(&["staging-1"]));
    let deletion = first.message_ids[first
        .bodies
        .iter()
        .position(|b| b["detail"]["eventName"] == "DeleteOrganizationalUnit")
        .unwrap()]
    .clone();
    assert_eq!(first.failed_items, vec![deletion.clone()]);
    // Then the deletion alone, failing, received once more each visibility timeout.
    for (i, d) in r.deliveries.iter().enumerate().skip(1) {
        assert_eq!(d.message_ids, vec![deletion.clone()]);
        assert_eq!(d.receive_counts, vec![i as u32 + 1]);
        let e = d.result.as_ref().unwrap_err();
        assert!(e.contains(&sandbox) && e.contains("does not exist"), "{e}");
    }
    assert_eq!(r.visibility_timeouts, 5);
    assert_eq!(q.dead_letter_visible().await, 1);
    assert!(w.enrolled().await.contains(&w.f.account("staging-1")));
}
