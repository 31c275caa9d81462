//! Issue 23: scope by account tags, as org-events follows it. `TargetAccountTags` (stage=prod) and
//! `ExcludedAccountTags` (port:exclude=true) narrow the target OUs' accounts; Organizations
//! `TagResource` / `UntagResource` on an account (CloudTrail, through OrganizationsApiCallsRule
//! and the queue) re-check that account, which is enrolled or withdrawn on the event. The same
//! calls on an OU or the root are ignored before any AWS call: Organizations does not inherit
//! tags. The schedule repairs what a missed event left. Every handler here runs as the
//! principal template.yaml makes org-events (`common::World`, `e2e::iam`).
//!
//! Run: `cargo test -p org-events --test tags`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_organizations::types::Tag;
use common::{deliver, event, function_config_as, quick, strs, World};
use e2e::Deployment;
use org_events::handler::Disposition;
use org_events::{Handler, Invocation, Summary};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::ports::TokioClock;

/// The bound on a one-account tag or move event.
const MAX_ORG_CALLS: usize = 10;

const FILTER: &[(&str, &str)] = &[
    ("TARGET_ACCOUNT_TAGS", "stage=prod"),
    ("EXCLUDED_ACCOUNT_TAGS", "port:exclude=true"),
];

/// `events/tag-resource.json` for `resource` with these tags.
fn tag_event(resource: &str, tags: &[(&str, &str)]) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    event(
        "tag-resource.json",
        &[
            ("/detail/requestParameters/resourceId", json!(resource)),
            ("/detail/requestParameters/tags", json!(tags)),
        ],
    )
}

/// `events/untag-resource.json` for `resource` and these keys.
fn untag_event(resource: &str, keys: &[&str]) -> Value {
    event(
        "untag-resource.json",
        &[
            ("/detail/requestParameters/resourceId", json!(resource)),
            ("/detail/requestParameters/tagKeys", json!(keys)),
        ],
    )
}

fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
        .collect()
}

/// Tags `resource` as the organization's administrators do; returns the event CloudTrail
/// records for it.
async fn tag(w: &World, resource: &str, pairs: &[(&str, &str)]) -> Value {
    w.orgs
        .tag_resource()
        .resource_id(resource)
        .set_tags(Some(tags(pairs)))
        .send()
        .await
        .expect("TagResource");
    tag_event(resource, pairs)
}

async fn untag(w: &World, resource: &str, keys: &[&str]) -> Value {
    w.orgs
        .untag_resource()
        .resource_id(resource)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .expect("UntagResource");
    untag_event(resource, keys)
}

/// Organizations calls since the last clear.
async fn org_calls(w: &World) -> Vec<String> {
    w.calls()
        .await
        .into_iter()
        .filter(|(s, _)| s == "organizations")
        .map(|(_, a)| a)
        .collect()
}

/// Delivers one event with the request log cleared first; returns the summary and the
/// Organizations calls it made.
async fn on(w: &World, ev: &Value) -> (Summary, Vec<String>) {
    w.clear_requests().await;
    let s = w.invoke(ev).await;
    (s, org_calls(w).await)
}

fn assert_cheap(calls: &[String], what: &str) {
    println!("{what}: {} Organizations calls: {calls:?}", calls.len());
    assert!(
        calls.len() <= MAX_ORG_CALLS,
        "{what}: {} Organizations calls: {calls:?}",
        calls.len()
    );
}

#[tokio::test]
async fn a_tag_added_changed_and_removed_on_an_account_under_a_target_enrolls_and_withdraws_it_on_each_event(
) {
    let w = World::new(&["Root/Prod"], "ALL", &[], FILTER, 0.2).await;
    let (web, data) = (w.f.account("prod-web"), w.f.account("prod-data"));
    tag(&w, &web, &[("stage", "prod")]).await;
    w.schedule().await;
    assert_eq!(w.enrolled().await, vec![web.clone()], "only the tagged one");

    // Added: enrolled on its event, not at the next schedule.
    let ev = tag(&w, &data, &[("stage", "prod"), ("team", "data")]).await;
    let (s, calls) = on(&w, &ev).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(s.trigger.kind(), "account_tags_changed");
    assert_eq!(strs(&s.accounts_added), vec![data.clone()]);
    assert!(
        calls.iter().any(|a| a == "ListTagsForResource"),
        "{calls:?}"
    );
    assert_cheap(&calls, "tag added");
    assert_eq!(w.enrolled().await, w.ids(&["prod-web", "prod-data"]));

    // Its value changed to one the filter does not take: withdrawn.
    let ev = tag(&w, &data, &[("stage", "dev")]).await;
    let (s, calls) = on(&w, &ev).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(strs(&s.accounts_removed), vec![data.clone()]);
    assert_cheap(&calls, "value changed");
    assert_eq!(w.enrolled().await, vec![web.clone()]);

    // Back to prod, then the tag removed (UntagResource): enrolled, then withdrawn.
    let ev = tag(&w, &data, &[("stage", "prod")]).await;
    let (s, _) = on(&w, &ev).await;
    assert_eq!(strs(&s.accounts_added), vec![data.clone()], "{}", s.reason);
    let ev = untag(&w, &data, &["stage"]).await;
    let (s, calls) = on(&w, &ev).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(s.trigger.kind(), "account_tags_changed");
    assert_eq!(strs(&s.accounts_removed), vec![data.clone()]);
    assert_cheap(&calls, "tag removed");
    assert_eq!(w.enrolled().await, vec![web.clone()]);

    // A tag the filter does not look at, on an account it keeps out: looked at, nothing read
    // beyond its place and its tags, nothing changed.
    let ev = tag(&w, &data, &[("team", "data-platform")]).await;
    let (s, calls) = on(&w, &ev).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{}", s.reason);
    assert!(
        s.reason
            .contains("does not meet TargetAccountTags term `stage=prod`"),
        "{}",
        s.reason
    );
    assert_cheap(&calls, "unrelated tag");
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
    // All of it within the permissions template.yaml gives org-events.
    assert_eq!(w.bed.denied().await, vec![], "no call was refused");
}

#[tokio::test]
async fn an_excluded_tag_added_to_an_enrolled_account_withdraws_it() {
    let w = World::new(&["Root/Prod"], "ALL", &[], FILTER, 0.2).await;
    let (web, data) = (w.f.account("prod-web"), w.f.account("prod-data"));
    for a in [&web, &data] {
        tag(&w, a, &[("stage", "prod")]).await;
    }
    w.schedule().await;
    assert_eq!(w.enrolled().await, w.ids(&["prod-web", "prod-data"]));
    let ev = tag(&w, &web, &[("port:exclude", "true")]).await;
    let (s, calls) = on(&w, &ev).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(strs(&s.accounts_removed), vec![web.clone()]);
    assert_cheap(&calls, "excluded tag added");
    assert_eq!(w.enrolled().await, vec![data]);
    // It still has stage=prod: the exclusion wins, and the schedule agrees.
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
}

#[tokio::test]
async fn a_tag_event_on_an_ou_or_the_root_is_ignored_before_any_call_and_its_tag_is_not_inherited()
{
    let w = World::new(&["Root/Prod"], "ALL", &[], FILTER, 0.2).await;
    w.schedule().await;
    assert_eq!(w.enrolled().await, Vec::<String>::new());
    let (prod, root) = (w.f.ou("Root/Prod"), w.f.root());
    for ev in [
        tag(&w, &prod, &[("stage", "prod")]).await,
        tag(&w, &root, &[("stage", "prod")]).await,
        untag(&w, &prod, &["stage"]).await,
    ] {
        w.clear_requests().await;
        let s = w.invoke(&ev).await;
        assert_eq!(s.outcome, Disposition::Ignored, "{}", s.reason);
        assert!(s.reason.contains("does not inherit tags"), "{}", s.reason);
        assert_eq!(w.calls().await, vec![], "no AWS call at all");
    }
    // The accounts under a tagged OU do not carry its tag: the schedule enrolls none of them.
    tag(&w, &prod, &[("stage", "prod")]).await;
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
    assert_eq!(w.enrolled().await, Vec::<String>::new());
}

#[tokio::test]
async fn without_a_tag_filter_an_account_tag_event_costs_no_call() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let web = w.f.account("prod-web");
    let ev = tag(&w, &web, &[("port:exclude", "true")]).await;
    w.clear_requests().await;
    let s = w.invoke(&ev).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{}", s.reason);
    assert!(
        s.reason
            .contains("no TargetAccountTags or ExcludedAccountTags is set"),
        "{}",
        s.reason
    );
    assert_eq!(w.calls().await, vec![]);
    assert!(w.enrolled().await.contains(&web), "tags decide nothing");
}

/// `CreateAccount` with `Tags`: the account exists with its tags when `CreateAccountResult`
/// says SUCCEEDED, so that first event enrolls it (the read reads its tags). One created
/// without the tag is kept out on its event.
#[tokio::test]
async fn an_account_created_with_tags_is_enrolled_on_its_create_account_result() {
    let w = World::new(&["Root"], "ALL", &[], FILTER, 0.2).await;
    w.schedule().await;
    assert_eq!(w.enrolled().await, Vec::<String>::new(), "none is tagged");
    let create = |name: &'static str, pairs: &'static [(&'static str, &'static str)]| {
        let w = &w;
        async move {
            let out = w
                .orgs
                .create_account()
                .account_name(name)
                .email(format!("aws+{name}@acme-corp.example"))
                .set_tags(Some(tags(pairs)))
                .send()
                .await
                .expect("CreateAccount");
            let id = out
                .create_account_status()
                .and_then(|s| s.account_id())
                .expect("the emulator creates at once")
                .to_owned();
            let ev = event(
                "create-account-result.json",
                &[(
                    "/detail/serviceEventDetails/createAccountStatus/accountId",
                    json!(id),
                )],
            );
            (id, ev)
        }
    };
    let (tagged, ev) = create("payments-prod", &[("stage", "prod")]).await;
    let (s, calls) = on(&w, &ev).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(strs(&s.accounts_added), vec![tagged.clone()]);
    assert_cheap(&calls, "tagged CreateAccountResult");
    let (untagged, ev) = create("payments-dev", &[("stage", "dev")]).await;
    let (s, _) = on(&w, &ev).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{}", s.reason);
    assert!(s.reason.contains(&untagged), "{}", s.reason);
    assert_eq!(w.enrolled().await, vec![tagged]);
}

/// Events can be lost (CloudTrail to EventBridge is best effort): a tag changed without its
/// event reaching the function is repaired by the scheduled run, which reads every candidate's
/// tags.
#[tokio::test]
async fn a_missed_tag_event_is_repaired_by_the_scheduled_run() {
    let w = World::new(&["Root/Prod"], "ALL", &[], FILTER, 0.2).await;
    let us = w.f.account("prod-us-1");
    w.schedule().await;
    assert_eq!(w.enrolled().await, Vec::<String>::new());
    tag(&w, &us, &[("stage", "prod")]).await; // no event delivered
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_added), vec![us.clone()], "{}", s.reason);
    tag(&w, &us, &[("stage", "staging")]).await; // no event delivered
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_removed), vec![us.clone()], "{}", s.reason);
    assert_eq!(w.enrolled().await, Vec::<String>::new());
}

/// Through what AWS puts between the call and the function: OrganizationsApiCallsRule matches
/// TagResource and UntagResource (on an account, an OU alike), the queue, the event source
/// mapping. The account's events enroll and withdraw it; the OU's is ignored.
#[tokio::test]
async fn tag_events_reach_the_function_through_the_rule_and_the_queue() {
    let w = Arc::new(World::new(&["Root/Prod"], "ALL", &[], FILTER, 0.2).await);
    w.schedule().await;
    let q = w.bed.org_events_queue().await;
    let eu = w.f.account("prod-eu-1");
    let put = vec![
        tag(&w, &w.f.ou("Root/Prod/EU"), &[("stage", "prod")]).await,
        tag(&w, &eu, &[("stage", "prod")]).await,
    ];
    for ev in &put {
        assert_eq!(q.put(ev).await, vec!["OrganizationsApiCallsRule"]);
    }
    let r = deliver(&w, &q, quick()).await;
    assert_eq!(r.failed(), 0);
    assert_eq!(r.deliveries.len(), 1, "one batch");
    let s = r.deliveries[0].result.as_ref().expect("invocation");
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(strs(&s.accounts_added), vec![eu.clone()]);
    assert_eq!(w.enrolled().await, vec![eu.clone()]);
    let ev = untag(&w, &eu, &["stage"]).await;
    assert_eq!(q.put(&ev).await, vec!["OrganizationsApiCallsRule"]);
    let r = deliver(&w, &q, quick()).await;
    let s = r.deliveries[0].result.as_ref().expect("invocation");
    assert_eq!(strs(&s.accounts_removed), vec![eu], "{}", s.reason);
    assert_eq!(w.enrolled().await, Vec::<String>::new());
    assert_eq!(q.depth().await, (0, 0));
    assert_eq!(q.dead_letter_visible().await, 0);
}

/// The enforcement can fail for the action the tag filter needs: without
/// `organizations:ListTagsForResource` a tag event's run fails naming AWS's refusal, and
/// changes nothing.
#[tokio::test]
async fn without_list_tags_for_resource_in_the_policy_a_tag_event_fails_with_access_denied() {
    let w = World::new(&["Root/Prod"], "ALL", &[], FILTER, 0.2).await;
    let data = w.f.account("prod-data");
    let ev = tag(&w, &data, &[("stage", "prod")]).await;
    let conf = function_config_as(
        &w.bed,
        &Deployment::management().without("organizations:ListTagsForResource"),
    )
    .await;
    let mut h = Handler::new(
        SdkOrganizations::new(&conf),
        CfnStackSets::new(&conf),
        TokioClock,
        w.handler.config.clone(),
    );
    h.engine = w.handler.engine.clone();
    let err = h
        .handle(
            &ev,
            &Invocation {
                request_id: "req-denied-0000-4000-8000-000000000000".into(),
                deadline: Instant::now() + Duration::from_secs(60),
            },
        )
        .await
        .expect_err("the run fails")
        .to_string();
    assert!(err.contains("organizations:ListTagsForResource"), "{err}");
    let denied = w.bed.denied().await;
    assert!(
        !denied.is_empty() && denied.iter().all(|(a, _)| a == "ListTagsForResource"),
        "{denied:?}"
    );
    assert_eq!(w.enrolled().await, Vec::<String>::new());
    // The same event, with the template's permissions: enrolled.
    let s = w.invoke(&ev).await;
    assert_eq!(strs(&s.accounts_added), vec![data], "{}", s.reason);
}

/// A cold instance remembers nothing yet: the same enrolling tag event costs what the warm
/// one does plus `DescribeOrganization` and the `ListParents` of the target OU (the path that
/// names it), which a warm instance remembers (`shared::ou_parents`), and stays within the
/// bound. The triage's reads of the account (its parent, its tags) are handed to the read that
/// follows them; the read after the change asks again.
#[tokio::test]
async fn on_a_cold_instance_an_enrolling_tag_event_stays_within_ten_organizations_calls() {
    let w = World::new(&["Root/Prod"], "ALL", &[], FILTER, 0.2).await;
    let data = w.f.account("prod-data");
    let ev = tag(&w, &data, &[("stage", "prod")]).await;
    w.clear_requests().await;
    let s = w.try_invoke_cold(&ev).await.expect("cold invocation");
    let calls = org_calls(&w).await;
    println!(
        "cold, tag added: {} Organizations calls: {calls:?}",
        calls.len()
    );
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(strs(&s.accounts_added), vec![data]);
    let times = |a: &str| calls.iter().filter(|c| *c == a).count();
    assert_eq!(times("DescribeOrganization"), 1, "{calls:?}");
    // The account's parent and tags: by the triage, then again after the change; the read
    // between them takes the triage's. Prod's parent once, to name it.
    assert_eq!(times("ListTagsForResource"), 2, "{calls:?}");
    assert_eq!(times("ListParents"), 3, "{calls:?}");
    assert_eq!(times("DescribeOrganizationalUnit"), 1, "{calls:?}");
    assert_cheap(&calls, "cold, tag added");
}
