use super::*;

/// org-events' check of the stack right before a StackSet change: the second DescribeStacks of
/// a run (the first reads the scope when the run starts). The emulator holds it until the test
/// has acted (`POST /_fidelity/hold`), so the interleaving is forced, not slept for.
const GATE: u32 = 2;

/// Mutating StackSet calls with their request-log seq, and the window the held call waited in:
/// (seq it arrived, last seq logged before it went on).
async fn around_hold(sw: &StackWorld, hold: u64) -> (Vec<(u64, String)>, (u64, u64)) {
    let held = sw.w.bed.held_entry(hold).await;
    assert_eq!(held["action"], "DescribeStacks", "{held}");
    assert!(held.get("hold_timed_out").is_none(), "{held}");
    let window = (
        held["seq"].as_u64().unwrap(),
        held["released_after_seq"].as_u64().unwrap(),
    );
    let log = sw.w.bed.requests().await;
    let calls: Vec<(String, String)> = log
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let kinds = mutating(&calls);
    let seqs = log
        .iter()
        .filter(|r| {
            r["service"] == "cloudformation" && kinds.iter().any(|k| r["action"] == k.as_str())
        })
        .map(|r| {
            (
                r["seq"].as_u64().unwrap(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (seqs, window)
}

/// The seq of the first logged `action` call.
async fn seq_of(sw: &StackWorld, action: &str) -> u64 {
    sw.w.bed
        .requests()
        .await
        .iter()
        .find(|r| r["action"] == action)
        .and_then(|r| r["seq"].as_u64())
        .unwrap_or_else(|| panic!("no {action} logged"))
}

/// The race the issue names: org-events read the organization and planned with the old scope
/// (here: enrol an account moved into Prod), then the stack update started and the custom
/// resource applied the new scope (Staging only) before org-events reached its StackSet call.
#[tokio::test]
async fn a_run_that_planned_before_a_scope_change_does_not_undo_it() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    let mv = sw.w.mv("staging-1", "Root/Staging", "Root/Prod").await;
    sw.w.clear_requests().await;
    let hold =
        sw.w.bed
            .hold("cloudformation", "DescribeStacks", GATE)
            .await;

    let run = invoke_on(&sw.handler, &sw.seq, &mv);
    let update = async {
        // org-events has read and planned (create staging-1) and checks the stack before its
        // StackSet call: while that check waits, the stack update runs, and finishes.
        sw.w.bed.wait_held(hold).await;
        sw.begin_update("Root/Staging", "ALL", "").await;
        sw.custom_resource_applies("Root/Staging", "ALL", "").await;
        sw.set_status("UPDATE_COMPLETE").await;
        sw.w.bed.release(hold).await;
    };
    let (s, ()) = tokio::join!(run, update);
    let s = s.unwrap();
    // The new scope holds: Staging's accounts (staging-1 now lives in Prod), nothing of Prod.
    assert_eq!(sw.w.enrolled().await, sw.w.ids(&["staging-2"]), "{s:?}");
    assert!(
        s.accounts_added.is_empty() && s.accounts_removed.is_empty(),
        "{s:?}"
    );
    // The order: the stack update and the custom resource's StackSet calls came while
    // org-events' check waited; org-events' own StackSet calls: none.
    let (ops, (held, released)) = around_hold(&sw, hold).await;
    let update = seq_of(&sw, "UpdateStack").await;
    assert!(
        held < update && update <= released,
        "{held} {update} {released}"
    );
    assert_eq!(
        ops.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>(),
        ["CreateStackInstances", "DeleteStackInstances"],
        "{s:?}"
    );
    assert!(
        ops.iter().all(|(q, _)| held < *q && *q <= released),
        "{ops:?} outside {held}..={released}"
    );
}

/// The same race, slower custom resource: org-events reaches its StackSet call while the
/// stack is UPDATE_IN_PROGRESS; it waits for the stack, then plans with the new scope.
#[tokio::test]
async fn a_run_that_starts_during_a_scope_change_waits_and_then_acts_on_the_new_scope() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    sw.begin_update("Root/Staging", "ALL", "").await;
    let mv = sw.w.mv("prod-web", "Root/Prod", "Root/Staging").await;
    sw.w.clear_requests().await;
    // The first DescribeStacks answers UPDATE_IN_PROGRESS; the second is org-events polling
    // the stack: it waits until the custom resource has applied the new scope.
    let hold = sw.w.bed.hold("cloudformation", "DescribeStacks", 2).await;

    let run = invoke_on(&sw.handler, &sw.seq, &mv);
    let update = async {
        sw.w.bed.wait_held(hold).await;
        sw.custom_resource_applies("Root/Staging", "ALL", "").await;
        sw.set_status("UPDATE_COMPLETE").await;
        sw.w.bed.release(hold).await;
    };
    let (s, ()) = tokio::join!(run, update);
    let s = s.unwrap();
    // Not one account of the old scope (Prod) came back; prod-web, now in Staging, is in.
    assert_eq!(
        sw.w.enrolled().await,
        sw.w.ids(&["staging-1", "staging-2", "prod-web"]),
        "{s:?}"
    );
    // The order: org-events read nothing of the organization before the stack settled (it
    // was waiting on the stack), and every StackSet change came while its poll waited.
    let (ops, (held, released)) = around_hold(&sw, hold).await;
    assert!(!ops.is_empty(), "the custom resource applied the new scope");
    assert!(
        ops.iter().all(|(q, _)| held < *q && *q <= released),
        "{ops:?} outside {held}..={released}"
    );
    let org_before: Vec<Value> =
        sw.w.bed
            .requests()
            .await
            .into_iter()
            .filter(|r| r["service"] == "organizations" && r["seq"].as_u64().unwrap() < held)
            .collect();
    assert!(org_before.is_empty(), "{org_before:?}");
}

#[tokio::test]
async fn a_run_during_a_stack_delete_creates_nothing() {
    let sw = StackWorld::new("Root", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    assert!(!sw.w.enrolled().await.is_empty());

    // The stack Delete: CloudFormation deleted org-events' function and rule (they depend on
    // the custom resource), then the custom resource removed every instance. An invocation
    // that was already queued or running now sees a new account.
    sw.set_status("DELETE_IN_PROGRESS").await;
    sw.custom_resource_removes_all().await;
    let new = sw.w.create_account("late-joiner").await;
    sw.w.clear_requests().await;
    let ev = event(
        "create-account-result.json",
        &[(
            "/detail/serviceEventDetails/createAccountStatus/accountId",
            json!(new),
        )],
    );
    let s = sw.invoke(&ev).await.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(s.reason.contains("DELETE_IN_PROGRESS"), "{}", s.reason);
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(mutating(&sw.w.calls().await).is_empty());
    assert!(sw.w.enrolled().await.is_empty());

    // After the delete, the stack is still described by its ID: still nothing.
    sw.set_status("DELETE_COMPLETE").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(sw.w.enrolled().await.is_empty());
}

/// The delete race the issue names: org-events planned a Create, and the stack Delete (with
/// the custom resource's remove-all) happened before org-events reached its StackSet call.
#[tokio::test]
async fn a_run_that_planned_before_a_stack_delete_creates_nothing() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    sw.invoke(&schedule()).await.unwrap();
    let mv = sw.w.mv("staging-1", "Root/Staging", "Root/Prod").await;
    sw.w.clear_requests().await;
    let hold =
        sw.w.bed
            .hold("cloudformation", "DescribeStacks", GATE)
            .await;
    let run = invoke_on(&sw.handler, &sw.seq, &mv);
    let delete = async {
        sw.w.bed.wait_held(hold).await;
        sw.set_status("DELETE_IN_PROGRESS").await;
        sw.custom_resource_removes_all().await;
        sw.w.bed.release(hold).await;
    };
    let (s, ()) = tokio::join!(run, delete);
    let s = s.unwrap();
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(sw.w.enrolled().await.is_empty(), "{s:?}");
    // The order: the custom resource's remove-all came while org-events' check waited, and
    // org-events changed nothing after it.
    let (ops, (held, released)) = around_hold(&sw, hold).await;
    assert_eq!(
        ops.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>(),
        ["DeleteStackInstances"]
    );
    assert!(
        held < ops[0].0 && ops[0].0 <= released,
        "{ops:?} outside {held}..={released}"
    );
}
