//! What an invocation costs in AWS calls (issue 12): counted in the emulator's request log, on
//! the sample organization and on a generated one of 2,000 accounts. Counts, not times: a
//! regression in cost fails here.
//!
//! Run: `cargo test -p org-events --test cost`

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{event, function_config, move_event, strs, World};
use e2e::esm::Options;
use e2e::{Fixture, TestBed, REGION, STACK_SET};
use org_events::handler::Disposition;
use org_events::{Config, Handler, Invocation};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::ports::TokioClock;

/// Answered requests (not throttled) since the last clear: (Organizations, CloudFormation),
/// and the Organizations actions by count.
async fn counts(bed: &TestBed) -> (usize, usize, BTreeMap<String, usize>) {
    let reqs = bed.requests().await;
    let mut actions = BTreeMap::new();
    let (mut org, mut cfn) = (0, 0);
    for r in reqs.iter().filter(|r| r["throttled"] != true) {
        match r["service"].as_str() {
            Some("organizations") => {
                org += 1;
                *actions
                    .entry(r["action"].as_str().unwrap_or_default().to_owned())
                    .or_insert(0) += 1;
            }
            Some("cloudformation") => cfn += 1,
            _ => {}
        }
    }
    (org, cfn, actions)
}

/// A handler for `env` aimed at `bed`.
async fn handler(
    bed: &TestBed,
    env: &BTreeMap<String, String>,
) -> Handler<SdkOrganizations, CfnStackSets, TokioClock> {
    let config = Config::from_env(|k| env.get(k).cloned(), REGION).expect("valid config");
    let conf = function_config(bed).await;
    let mut h = Handler::new(
        SdkOrganizations::new(&conf),
        CfnStackSets::new(&conf),
        TokioClock,
        config,
    );
    h.engine.poll_initial = Duration::from_millis(100);
    h.engine.poll_max = Duration::from_millis(500);
    h
}

fn invocation(n: u32) -> Invocation {
    Invocation {
        request_id: format!("cost-{n:04}-0000-4000-8000-000000000000"),
        deadline: Instant::now() + Duration::from_secs(300),
    }
}

fn env(targets: &[String], mode: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("TARGET_OU_IDS".to_owned(), targets.join(",")),
        ("ACCOUNT_SCOPE".to_owned(), mode.to_owned()),
        ("TARGET_ACCOUNT_IDS".to_owned(), String::new()),
        ("STACK_SET_NAME".to_owned(), STACK_SET.to_owned()),
        ("STACK_SET_REGIONS".to_owned(), REGION.to_owned()),
        ("SETTLE_SECONDS".to_owned(), "0".to_owned()),
    ])
}

/// The whole-organization bound of issue 12: `ListAccounts` pages plus a few calls.
fn whole_org_bound(accounts: usize) -> usize {
    accounts.div_ceil(20) + 5
}

#[tokio::test]
async fn a_scheduled_run_over_the_whole_sample_organization_reads_list_accounts_not_the_tree() {
    let w = World::new(&["Root"], "ALL", &[], &[], 0.2).await;
    w.clear_requests().await;
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let (org, _, actions) = counts(&w.bed).await;
    let accounts = w.f.0["accounts"].as_object().unwrap().len();
    assert!(
        org <= whole_org_bound(accounts),
        "{org} Organizations calls for {accounts} accounts: {actions:?}"
    );
    assert!(
        !actions.contains_key("ListAccountsForParent"),
        "{actions:?}"
    );
    assert!(
        !actions.contains_key("ListOrganizationalUnitsForParent"),
        "{actions:?}"
    );
    // Every active member account, and nothing else, is enrolled.
    let mut want: Vec<String> = w.f.0["accounts"]
        .as_object()
        .unwrap()
        .values()
        .filter(|a| a["state"] == "ACTIVE" && a["id"] != json!(w.f.management()))
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    want.sort();
    assert_eq!(w.enrolled().await, want);
}

#[tokio::test]
async fn an_event_outside_the_scope_costs_a_few_organizations_calls_and_one_instance_lookup() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let orphan = w.f.account("sandbox-orphan");
    let (root, staging) = (w.f.root(), w.f.ou("Root/Staging"));
    w.bed.move_account(&orphan, &root, &staging).await;
    w.clear_requests().await;
    let s = w.invoke(&move_event(&orphan, &root, &staging)).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{s:?}");
    let (org, cfn, actions) = counts(&w.bed).await;
    assert!(org <= 12, "{org}: {actions:?}");
    assert!(cfn <= 2, "{cfn} CloudFormation calls");
}

#[tokio::test]
async fn an_account_moved_into_the_scope_is_enrolled_from_what_concerns_it_alone() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let orphan = w.f.account("sandbox-orphan");
    let (root, eu) = (w.f.root(), w.f.ou("Root/Prod/EU"));
    w.bed.move_account(&orphan, &root, &eu).await;
    w.clear_requests().await;
    let s = w.invoke(&move_event(&orphan, &root, &eu)).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(strs(&s.accounts_added), vec![orphan.clone()]);
    let (org, _, actions) = counts(&w.bed).await;
    assert!(org <= 40, "{org}: {actions:?}");
    assert!(
        !actions.contains_key("ListAccountsForParent"),
        "no read of the scope: {actions:?}"
    );
    let mut want = w.ids(&[
        "prod-web",
        "prod-data",
        "prod-eu-1",
        "prod-eu-payments",
        "prod-eu-pci",
        "prod-us-1",
    ]);
    want.push(orphan);
    want.sort();
    assert_eq!(w.enrolled().await, want);
}

/// A generated organization: 2,000 accounts in 200 OUs, at most 4 levels deep.
async fn generated(bed: &TestBed) -> Fixture {
    Fixture(
        bed.control(
            "fixture/generate",
            json!({"accounts": 2000, "ous": 200, "max_depth": 4, "suspended_every": 37, "seed": 1}),
        )
        .await,
    )
}

#[tokio::test]
async fn on_a_generated_organization_the_whole_organization_read_and_an_outside_event_stay_within_bounds(
) {
    let bed = TestBed::start().await;
    let f = generated(&bed).await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let accounts = f.0["accounts"].as_object().unwrap().len() + 1; // + the management account

    // An account moved between two OUs outside a scope of one top-level OU (no instance yet).
    let ous = f.0["ous"].as_object().unwrap();
    let top = |p: &str| p.split('/').nth(1).map(str::to_owned);
    let target_path = ous
        .keys()
        .filter(|p| p.matches('/').count() == 1)
        .min()
        .unwrap()
        .clone();
    let target = top(&target_path).unwrap();
    let outside: Vec<(&String, &Value)> = ous
        .iter()
        .filter(|(p, _)| p.matches('/').count() >= 1 && top(p).as_deref() != Some(&target))
        .collect();
    let (account, from) = f.0["accounts"]
        .as_object()
        .unwrap()
        .values()
        .find_map(|a| {
            let p = a["ou_path"].as_str()?;
            (p != "Root" && a["state"] == "ACTIVE" && top(p).as_deref() != Some(&target))
                .then(|| (a["id"].as_str().unwrap().to_owned(), ous[p].clone()))
        })
        .expect("an account outside the target");
    let to = outside
        .iter()
        .map(|(_, id)| (*id).clone())
        .find(|id| *id != from)
        .unwrap();
    let (from, to) = (from.as_str().unwrap(), to.as_str().unwrap());
    bed.move_account(&account, from, to).await;
    let h = handler(&bed, &env(&[f.ou(&target_path)], "ALL")).await;
    bed.control("requests/clear", json!({})).await;
    let s = h
        .handle(&move_event(&account, from, to), &invocation(0))
        .await
        .expect("event");
    assert_eq!(s.outcome, Disposition::NotRelevant, "{}", s.reason);
    let (org, cfn, actions) = counts(&bed).await;
    println!("outside event: {org} Organizations calls, {cfn} CloudFormation calls");
    assert!(org <= 12, "{org}: {actions:?}");
    assert!(cfn <= 2, "{cfn} CloudFormation calls");

    // The same account moved into the target OU: enrolled, from what concerns it alone.
    let target_id = f.ou(&target_path);
    bed.move_account(&account, to, &target_id).await;
    bed.control("requests/clear", json!({})).await;
    let s = h
        .handle(&move_event(&account, to, &target_id), &invocation(2))
        .await
        .expect("event");
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(
        s.accounts_added
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        vec![account.as_str()]
    );
    let (org, cfn, actions) = counts(&bed).await;
    println!("relevant event: {org} Organizations calls, {cfn} CloudFormation calls");
    assert!(org <= 40, "{org}: {actions:?}");
    assert!(
        !actions.contains_key("ListAccountsForParent"),
        "no read of the scope: {actions:?}"
    );

    // A scheduled run with the root as the scope.
    let h = handler(&bed, &env(&[f.root()], "ALL")).await;
    bed.control("requests/clear", json!({})).await;
    let s = h
        .handle(&event("scheduled.json", &[]), &invocation(1))
        .await
        .expect("scheduled run");
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    let (org, cfn, actions) = counts(&bed).await;
    println!("root, scheduled: {org} Organizations calls, {cfn} CloudFormation calls");
    assert!(
        org <= whole_org_bound(accounts),
        "{org} Organizations calls for {accounts} accounts: {actions:?}"
    );
}

/// Issue 12's burst bound, on the generated organization: 200 moves over 20 accounts, in and
/// out of a scope of five top-level OUs, reach a fresh instance through the queue, in the
/// batches the event source mapping's pollers form (at most MaximumConcurrency, the burst being
/// on the queue when they poll). The batches together cost no more Organizations calls than one
/// full read of the scope (a scheduled run with nothing to change, measured here), each makes
/// at most one create and one delete operation, and the StackSet ends exactly as the scope says
/// (the scheduled run after it finds nothing to change).
#[tokio::test]
async fn on_a_generated_organization_a_burst_of_200_moves_through_the_queue_costs_at_most_one_full_read(
) {
    let bed = TestBed::start().await;
    let f = generated(&bed).await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let ous = f.0["ous"].as_object().unwrap();
    let mut tops: Vec<&String> = ous.keys().filter(|p| p.matches('/').count() == 1).collect();
    tops.sort();
    let targets: Vec<&String> = tops.iter().take(5).copied().collect();
    let under = |p: &str| {
        targets
            .iter()
            .any(|t| p == t.as_str() || p.starts_with(&format!("{t}/")))
    };
    let env = env(&targets.iter().map(|t| f.ou(t)).collect::<Vec<_>>(), "ALL");
    let warm = handler(&bed, &env).await;
    let s = warm
        .handle(&event("scheduled.json", &[]), &invocation(10))
        .await
        .expect("first scheduled run");
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    bed.control("requests/clear", json!({})).await;
    let s = warm
        .handle(&event("scheduled.json", &[]), &invocation(11))
        .await
        .expect("second scheduled run");
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
    let (full_read, _, _) = counts(&bed).await;

    // Ten ACTIVE accounts outside the scope and ten inside, each cycling through three places
    // (its own OU, then one inside and one outside the scope, or the reverse): after ten moves
    // each, the outside ones are in the scope and the inside ones out of it.
    let first_target = f.ou(targets[0]);
    let second_target = f.ou(targets[1]);
    let outside_ou = ous
        .iter()
        .find(|(p, _)| p.matches('/').count() == 1 && !under(p))
        .map(|(_, id)| id.as_str().unwrap().to_owned())
        .expect("an OU outside the scope");
    let pick = |inside: bool| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = f.0["accounts"]
            .as_object()
            .unwrap()
            .values()
            .filter(|a| a["state"] == "ACTIVE")
            .filter_map(|a| {
                let p = a["ou_path"].as_str()?;
                (p != "Root" && under(p) == inside).then(|| {
                    (
                        a["id"].as_str().unwrap().to_owned(),
                        ous[p].as_str().unwrap().to_owned(),
                    )
                })
            })
            .collect();
        v.sort();
        v.truncate(10);
        v
    };
    let (outs, ins) = (pick(false), pick(true));
    assert_eq!((outs.len(), ins.len()), (10, 10));
    let mut cycles: Vec<(String, Vec<String>)> = Vec::new();
    for (a, home) in outs {
        cycles.push((a, vec![home, first_target.clone(), second_target.clone()]));
    }
    for (a, home) in ins {
        cycles.push((a, vec![home, outside_ou.clone(), second_target.clone()]));
    }
    let mut events = Vec::new();
    for round in 0..10 {
        for (a, places) in &cycles {
            let (from, to) = (&places[round % 3], &places[(round + 1) % 3]);
            bed.move_account(a, from, to).await;
            events.push(move_event(a, from, to));
        }
    }
    assert_eq!(events.len(), 200);

    // The events go through template.yaml's rules onto OrgEventsQueue, and the event source
    // mapping's poller hands them to a fresh instance in the batches AWS's pollers form: all
    // 200 are on the queue when polling starts, so each of the MaximumConcurrency pollers
    // gathers part of them (their batches take turns on the one instance).
    let queue = bed.org_events_queue().await;
    queue.put_all(&events).await;
    let cold = Arc::new(handler(&bed, &env).await);
    bed.control("requests/clear", json!({})).await;
    let poller = queue
        .lambda_poller(
            &bed,
            // The window at its full 20 s (template.yaml): gathering 200 messages 10 per
            // ReceiveMessage took the emulator over 10 s on a machine loaded by other test
            // binaries, and a poller whose window closed early left a third batch.
            Options::default(),
        )
        .await;
    let n = Arc::new(std::sync::atomic::AtomicU32::new(12));
    let report = {
        let cold = cold.clone();
        poller
            .drain(move |delivery| {
                let (cold, n) = (cold.clone(), n.clone());
                async move {
                    let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    cold.handle(&delivery, &invocation(i))
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .await
    };
    let (org, cfn, actions) = counts(&bed).await;
    let summaries: Vec<_> = report
        .deliveries
        .iter()
        .map(|d| d.result.as_ref().expect("the batch"))
        .collect();
    let per_batch: Vec<usize> = summaries.iter().map(|s| s.operations.len()).collect();
    let operations: usize = per_batch.iter().sum();
    println!(
        "burst of 200 moves over 20 accounts, {} batches of {:?} messages: {org} Organizations \
         calls, {cfn} CloudFormation calls (SQS calls not counted), StackSet operations per \
         batch {per_batch:?}, {operations} in all; one full read of the scope: {full_read} \
         Organizations calls",
        report.deliveries.len(),
        report
            .deliveries
            .iter()
            .map(|d| d.message_ids.len())
            .collect::<Vec<_>>()
    );
    assert!(
        (1..=queue.settings.max_concurrency).contains(&report.deliveries.len()),
        "{} batches",
        report.deliveries.len()
    );
    assert_eq!(summaries.iter().map(|s| s.events).sum::<usize>(), 200);
    let (mut added, mut removed) = (0, 0);
    for s in &summaries {
        assert!(
            matches!(
                s.outcome,
                Disposition::Reconciled | Disposition::AlreadyCovered | Disposition::NoChange
            ),
            "{}",
            s.reason
        );
        assert!(s.failures.is_empty(), "{:?}", s.failures);
        // At most one create and one delete per batch.
        assert!(s.operations.len() <= 2, "{:?}", s.operations);
        added += s.accounts_added.len();
        removed += s.accounts_removed.len();
    }
    assert_eq!((added, removed), (10, 10));
    assert!(
        org <= full_read,
        "{org} Organizations calls for the burst, one full read costs {full_read}: {actions:?}"
    );
    let s = warm
        .handle(&event("scheduled.json", &[]), &invocation(13))
        .await
        .expect("scheduled run after the burst");
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
}
