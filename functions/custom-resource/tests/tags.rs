//! Issue 23: the custom resource's `TargetAccountTags` / `ExcludedAccountTags` properties
//! against the sample organization, whose accounts carry tags (tests/emulator/fidelity/orgs.py,
//! SAMPLE_TAGS: env=prod on the Prod accounts but prod-eu-1, team=payments on prod-eu-payments
//! and prod-eu-pci, port:exclude=true on prod-eu-pci, env=staging on staging-1 and staging-2).
//! The function runs as the principal template.yaml makes it (`e2e::iam`): reading tags needs
//! the template's `organizations:ListTagsForResource`, and the test bed refuses any call the
//! template does not allow.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use common::{fast_settings, props, request, rig, rollback_delete, Capture, Live};
use custom_resource::aws::HttpResponder;
use custom_resource::handler::{Handler, Invocation};
use custom_resource::preflight_only;
use e2e::lambda::ResponseSink;
use e2e::{DeployAs, Deployment, Fixture, Function, TestBed, STACK_SET};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::ports::TokioClock;

fn names(f: &Fixture, n: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = n.iter().map(|x| f.account(x)).collect();
    v.sort();
    v
}

fn tagged(mut p: Value, target: &str, excluded: &str) -> Value {
    p["TargetAccountTags"] = json!(target);
    p["ExcludedAccountTags"] = json!(excluded);
    p
}

/// The accounts of every `action` request since the last clear (`DeploymentTargets.Accounts`).
async fn accounts_of(bed: &TestBed, action: &str) -> Vec<String> {
    let mut v: Vec<String> = bed
        .params_of(action)
        .await
        .iter()
        .flat_map(|p| {
            p.as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.starts_with("DeploymentTargets.Accounts.member."))
                .map(|(_, a)| a.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

/// The four env=prod accounts that are not opted out, over the whole organization.
const PROD_IN: [&str; 4] = ["prod-web", "prod-data", "prod-eu-payments", "prod-us-1"];

#[tokio::test]
async fn create_with_a_tag_filter_deploys_exactly_the_tagged_accounts() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.control("requests/clear", json!({})).await;
    let p = tagged(props(&f.root(), "ALL", ""), "env=prod", "port:exclude=true");
    let req = request(&r.sink, "create", "c-tags", p);
    r.invoke(req.clone()).await;
    let want = names(&f, &PROD_IN);
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances"]
    );
    // One ListTagsForResource per account the tags decide: the 10 ACTIVE members (not the
    // management account, not the SUSPENDED one); none refused by the template's policy.
    assert_eq!(r.bed.count_of("ListTagsForResource").await, 10);
    assert_eq!(r.bed.denied().await, vec![]);
}

#[tokio::test]
async fn an_empty_tag_filter_deploys_what_the_same_scope_without_the_properties_deploys() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.control("requests/clear", json!({})).await;
    let prod = f.ou("Root/Prod");
    let req = request(
        &r.sink,
        "create",
        "c-empty",
        tagged(props(&prod, "ALL", ""), "", ""),
    );
    r.invoke(req.clone()).await;
    let want = names(
        &f,
        &[
            "prod-web",
            "prod-data",
            "prod-eu-1",
            "prod-eu-payments",
            "prod-eu-pci",
            "prod-us-1",
        ],
    );
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
    assert_eq!(
        r.bed.count_of("ListTagsForResource").await,
        0,
        "no filter, no tag read"
    );
    // The same properties without the two keys (a stack from before they existed): an
    // Update that changes nothing.
    r.bed.control("requests/clear", json!({})).await;
    let mut up = request(&r.sink, "update", "u-empty", props(&prod, "ALL", ""));
    up["OldResourceProperties"] = tagged(props(&prod, "ALL", ""), "", "");
    up["PhysicalResourceId"] = json!(common::live_id());
    r.invoke(up).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(r.bed.mutating_stackset_calls().await, Vec::<String>::new());
}

#[tokio::test]
async fn an_update_that_changes_the_filter_enrolls_and_withdraws_exactly_the_difference() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let old = tagged(props(&f.root(), "ALL", ""), "env=prod", "port:exclude=true");
    let a = {
        r.invoke(request(&r.sink, "create", "c1", old.clone()))
            .await;
        r.last_answer()
    };
    assert_eq!(a["Status"], "SUCCESS", "{a}");
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        names(&f, &PROD_IN)
    );

    // The payments team's accounts, the opt-out dropped: prod-eu-pci enrolls, prod-web,
    // prod-data and prod-us-1 are withdrawn, prod-eu-payments is left alone.
    r.bed.control("requests/clear", json!({})).await;
    let new = tagged(props(&f.root(), "ALL", ""), "team=payments", "");
    let mut up = request(&r.sink, "update", "u1", new);
    up["OldResourceProperties"] = old;
    up["PhysicalResourceId"] = a["PhysicalResourceId"].clone();
    r.invoke(up).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS", "{}", r.last_answer());
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        names(&f, &["prod-eu-payments", "prod-eu-pci"])
    );
    let mut calls = r.bed.mutating_stackset_calls().await;
    calls.sort();
    assert_eq!(calls, ["CreateStackInstances", "DeleteStackInstances"]);
    assert_eq!(
        accounts_of(&r.bed, "CreateStackInstances").await,
        names(&f, &["prod-eu-pci"])
    );
    assert_eq!(
        accounts_of(&r.bed, "DeleteStackInstances").await,
        names(&f, &["prod-web", "prod-data", "prod-us-1"])
    );
}

/// A bad term fails the Create with the shared message (`Scope::with_tag_parameters`), naming
/// the term, before any StackSet change; the rollback's Delete then changes nothing either.
/// The preflight resource, which the StackSet depends on, refuses it the same way first.
#[tokio::test]
async fn a_bad_term_fails_the_create_and_the_preflight_naming_it_and_changes_nothing() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.control("requests/clear", json!({})).await;
    let shared = shared::core::Scope::parse(&f.root().as_str().into(), "ALL", &"".into())
        .unwrap()
        .with_tag_parameters("env=prod", "port:exclude=true,=yes")
        .unwrap_err()
        .to_string();
    assert!(
        shared.starts_with("ExcludedAccountTags: the term `=yes` has an empty key"),
        "{shared}"
    );
    let p = tagged(
        props(&f.root(), "ALL", ""),
        "env=prod",
        "port:exclude=true,=yes",
    );

    let mut preflight = request(&r.sink, "preflight-create", "p1", p.clone());
    preflight["ResourceType"] = json!(preflight_only::RESOURCE_TYPE);
    r.invoke(preflight).await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    assert_eq!(
        a["Reason"],
        format!("Preflight failed, nothing was changed: {shared}")
    );

    r.invoke(request(&r.sink, "create", "c1", p.clone())).await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    assert_eq!(a["Reason"], shared);
    r.invoke(rollback_delete(&r.sink, "d1", p, &a)).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");

    assert_eq!(r.bed.mutating_stackset_calls().await, Vec::<String>::new());
    assert_eq!(r.bed.count_of("ListTagsForResource").await, 0);
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        Vec::<String>::new()
    );
}

/// A custom resource handler with the clients of `conf`'s account.
fn handler(conf: &aws_config::SdkConfig) -> Live<SdkIdentity> {
    let mut responder = HttpResponder::new();
    responder.base_delay = Duration::from_millis(50);
    Handler {
        org: SdkOrganizations::new(conf),
        stacksets: CfnStackSets::new(conf),
        identity: SdkIdentity::new(conf),
        clock: TokioClock,
        responder,
        reinvoker: Capture::default(),
        feed: shared::feed::NoFeed,
        settings: fast_settings(),
    }
}

/// From a delegated administrator for StackSets (issue 15), as the template makes the
/// function there: the tags are read from that account (Organizations' read calls, including
/// ListTagsForResource, may be called by a delegated administrator: AWS Organizations API
/// Reference, ListTagsForResource), and the StackSet calls carry `CallAs: DELEGATED_ADMIN`.
#[tokio::test]
async fn a_delegated_administrator_deploys_and_updates_exactly_the_tagged_accounts() {
    let mode = DeployAs::DelegatedAdmin;
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let conf = bed.deploy_config(mode, &f).await;
    bed.create_stack_set_as(&conf, mode).await;
    bed.control("requests/clear", json!({})).await;
    let sink = ResponseSink::start().await;
    let fconf = bed
        .function_config(Function::CustomResource, &Deployment::of(mode, &f))
        .await;
    let h = handler(&fconf);
    let invoke = async |req: Value| {
        h.handle(
            req,
            Invocation {
                request_id: "lambda-request".into(),
                deadline: std::time::Instant::now() + Duration::from_secs(120),
            },
        )
        .await;
        sink.bodies().last().cloned().expect("an answer")
    };
    let with = |target: &str, excluded: &str| {
        let mut p = tagged(props(&f.ou("Root/Prod"), "ALL", ""), target, excluded);
        p["ManagementAccountId"] = json!(mode.management_account_id(&f));
        p
    };

    let a = invoke(request(
        &sink,
        "create",
        "c1",
        with("env=prod", "port:exclude=true"),
    ))
    .await;
    assert_eq!(a["Status"], "SUCCESS", "{a}");
    assert_eq!(bed.instance_accounts(STACK_SET).await, names(&f, &PROD_IN));

    let mut up = request(&sink, "update", "u1", with("team", ""));
    up["OldResourceProperties"] = with("env=prod", "port:exclude=true");
    up["PhysicalResourceId"] = a["PhysicalResourceId"].clone();
    let a = invoke(up).await;
    assert_eq!(a["Status"], "SUCCESS", "{a}");
    assert_eq!(
        bed.instance_accounts(STACK_SET).await,
        names(&f, &["prod-eu-payments", "prod-eu-pci"])
    );

    // Create read the 6 Prod accounts' tags, the Update again; nothing was refused, and every
    // StackSet call came from the delegated administrator as DELEGATED_ADMIN.
    assert_eq!(bed.count_of("ListTagsForResource").await, 12);
    assert_eq!(bed.denied().await, vec![]);
    assert_eq!(
        bed.stackset_calls_not_as(mode.call_as(), &mode.account(&f))
            .await,
        Vec::<String>::new()
    );
}
