//! The custom resource under the permissions template.yaml gives it (issue 20): every suite
//! of this crate runs the function as that principal (`common::rig`), and the emulator
//! refuses any call no statement allows, with AWS's AccessDenied. These are the cases that
//! once needed an action the template did not grant (`organizations:ListAccounts`): the
//! root as the scope, and any change that withdraws more than 40 accounts, whose state the
//! engine then reads with one ListAccounts.

mod common;

use common::{props, request, rig, rig_as};
use e2e::{Deployment, Fixture, STACK_SET};
use serde_json::{json, Value};

/// A generated organization of `accounts` active accounts in nested OUs.
async fn generated(r: &common::Rig<shared::adapters::SdkIdentity>, accounts: u32) -> Fixture {
    Fixture(
        r.bed
            .control(
                "fixture/generate",
                json!({"accounts": accounts, "ous": 12, "max_depth": 3, "suspended_every": 0, "seed": 20}),
            )
            .await,
    )
}

/// Every generated account (the management account excepted), sorted.
fn all_accounts(f: &Fixture) -> Vec<String> {
    let mut v: Vec<String> = f.0["accounts"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .filter(|id| *id != f.management())
        .collect();
    v.sort();
    v
}

fn status(answer: &Value) -> &str {
    answer["Status"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_root_as_the_scope_creates_updates_away_and_deletes_more_than_40_accounts_within_the_templates_permissions(
) {
    let r = rig().await;
    let f = generated(&r, 60).await;
    r.bed.configure(json!({"operation_seconds": 0.2})).await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let all = all_accounts(&f);
    assert_eq!(all.len(), 60);
    let root = f.root();

    // Create: the root as the target (the whole organization), read with ListAccounts.
    let create = request(&r.sink, "create", "root-create", props(&root, "ALL", ""));
    r.invoke(create).await;
    assert_eq!(status(&r.last_answer()), "SUCCESS", "{}", r.last_answer());
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, all);
    assert!(r.bed.count_of("ListAccounts").await >= 1);

    // Update to five listed accounts: 55 leave, more than 40 whose state the engine reads.
    let keep = all[..5].join(",");
    let mut update = request(
        &r.sink,
        "update",
        "root-update",
        props(&root, "INTERSECTION", &keep),
    );
    update["OldResourceProperties"] = props(&root, "ALL", "");
    update["PhysicalResourceId"] = json!(common::live_id());
    r.invoke(update).await;
    assert_eq!(status(&r.last_answer()), "SUCCESS", "{}", r.last_answer());
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, all[..5].to_vec());

    // Back to all, then Delete: every instance's account, more than 40, is withdrawn.
    let mut grow = request(&r.sink, "update", "root-grow", props(&root, "ALL", ""));
    grow["OldResourceProperties"] = props(&root, "INTERSECTION", &keep);
    grow["PhysicalResourceId"] = json!(common::live_id());
    r.invoke(grow).await;
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, all);
    let mut delete = request(&r.sink, "delete", "root-delete", props(&root, "ALL", ""));
    delete["PhysicalResourceId"] = json!(common::live_id());
    r.invoke(delete).await;
    assert_eq!(status(&r.last_answer()), "SUCCESS", "{}", r.last_answer());
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        Vec::<String>::new()
    );
    assert_eq!(r.bed.denied().await, vec![], "no call was refused");
}

#[tokio::test]
async fn delete_with_suspended_and_departed_accounts_succeeds_within_the_templates_permissions() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c", p.clone())).await;
    assert_eq!(status(&r.last_answer()), "SUCCESS");
    r.bed
        .set_account_state(&f.account("prod-web"), "SUSPENDED")
        .await;
    r.bed.remove_account(&f.account("prod-data")).await;
    let mut delete = request(&r.sink, "delete", "d", p);
    delete["PhysicalResourceId"] = json!(common::live_id());
    r.invoke(delete).await;
    assert_eq!(status(&r.last_answer()), "SUCCESS", "{}", r.last_answer());
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        Vec::<String>::new()
    );
    assert_eq!(r.bed.denied().await, vec![], "no call was refused");
}

/// The enforcement can fail: the template's policy without `organizations:ListAccounts` (the
/// defect issue 20 found) refuses a root-scope Create, and CloudFormation hears it, with AWS's
/// words, before any instance exists.
#[tokio::test]
async fn without_list_accounts_in_the_policy_a_root_scope_create_fails_with_access_denied() {
    let r = rig_as(&Deployment::management().without("organizations:ListAccounts")).await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.invoke(request(
        &r.sink,
        "create",
        "denied",
        props(&f.root(), "ALL", ""),
    ))
    .await;
    let answer = r.last_answer();
    assert_eq!(status(&answer), "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("organizations:ListAccounts"),
        "the reason names the refused action: {reason}"
    );
    let denied = r.bed.denied().await;
    assert!(
        !denied.is_empty() && denied.iter().all(|(a, _)| a == "ListAccounts"),
        "{denied:?}"
    );
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        Vec::<String>::new()
    );
}

/// The change feed's PutEvents is allowed only with the source and detail-type the code sends
/// (template condition keys): taking `events:PutEvents` out shows the emulator checks it.
#[tokio::test]
async fn without_put_events_the_change_feed_is_refused_and_the_create_still_answers() {
    use custom_resource::handler::Handler;
    use shared::adapters::EventBridgeFeed;
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let conf = r
        .bed
        .function_config(
            e2e::Function::CustomResource,
            &Deployment::management().without("events:PutEvents"),
        )
        .await;
    let h = Handler {
        feed: EventBridgeFeed::new(&conf),
        org: shared::adapters::SdkOrganizations::new(&conf),
        stacksets: shared::adapters::CfnStackSets::new(&conf),
        identity: shared::adapters::SdkIdentity::new(&conf),
        clock: shared::ports::TokioClock,
        responder: custom_resource::aws::HttpResponder::new(),
        reinvoker: common::Capture::default(),
        settings: common::fast_settings(),
    };
    h.handle(
        request(
            &r.sink,
            "create",
            "nofeed",
            props(&f.ou("Root/Prod"), "ALL", ""),
        ),
        common::inv(std::time::Duration::from_secs(120)),
    )
    .await;
    assert_eq!(status(&r.last_answer()), "SUCCESS", "{}", r.last_answer());
    let denied = r.bed.denied().await;
    assert!(
        !denied.is_empty() && denied.iter().all(|(a, _)| a == "PutEvents"),
        "{denied:?}"
    );
}
