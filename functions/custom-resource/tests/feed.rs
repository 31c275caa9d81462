//! The change feed from the custom resource: a Create and a Delete each put one EventBridge
//! event (after CloudFormation has its answer), an Update that changes nothing puts none, and
//! a failed put never changes the answer.

mod common;

use std::time::{Duration, Instant};

use common::{fast_settings, function_config, live_id, props, request, Capture};
use custom_resource::aws::HttpResponder;
use custom_resource::handler::{Handler, Invocation, Summary};
use e2e::lambda::ResponseSink;
use e2e::{TestBed, STACK_SET};
use serde_json::Value;
use shared::adapters::{CfnStackSets, EventBridgeFeed, SdkIdentity, SdkOrganizations};
use shared::core::change::{DETAIL_TYPE, SOURCE};
use shared::core::{ChangeDetail, ChangeKind};
use shared::feed::{MemoryFeed, Put};
use shared::metrics::{check_emf, names};
use shared::ports::{AwsError, ChangeFeed, TokioClock};

type Fed<F> =
    Handler<SdkOrganizations, CfnStackSets, SdkIdentity, TokioClock, HttpResponder, Capture, F>;

async fn handler<F: ChangeFeed>(bed: &TestBed, feed: F) -> Fed<F> {
    let conf = function_config(bed).await;
    let mut responder = HttpResponder::new();
    responder.base_delay = Duration::from_millis(50);
    Handler {
        org: SdkOrganizations::new(&conf),
        stacksets: CfnStackSets::new(&conf),
        identity: SdkIdentity::new(&conf),
        clock: TokioClock,
        responder,
        reinvoker: Capture::default(),
        feed,
        settings: fast_settings(),
    }
}

async fn invoke<F: ChangeFeed>(h: &Fed<F>, req: Value) -> Summary {
    h.handle(
        req,
        Invocation {
            request_id: "lambda-request".into(),
            deadline: Instant::now() + Duration::from_secs(120),
        },
    )
    .await
}

async fn details(bed: &TestBed) -> Vec<ChangeDetail> {
    bed.put_events()
        .await
        .into_iter()
        .flatten()
        .map(|e| {
            assert_eq!(
                (e["Source"].as_str(), e["DetailType"].as_str()),
                (Some(SOURCE), Some(DETAIL_TYPE))
            );
            serde_json::from_str(e["Detail"].as_str().expect("Detail")).expect("a ChangeDetail")
        })
        .collect()
}

fn accounts(d: &ChangeDetail, kind: ChangeKind) -> Vec<String> {
    let mut v: Vec<String> = d
        .accounts
        .iter()
        .filter(|a| a.change == kind)
        .map(|a| a.account_id.as_str().to_owned())
        .collect();
    v.sort();
    v
}

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];

#[tokio::test]
async fn create_puts_one_event_enrolling_every_account_and_delete_one_withdrawing_them() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let sink = ResponseSink::start().await;
    let h = handler(&bed, EventBridgeFeed::new(&function_config(&bed).await)).await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    let mut prod: Vec<String> = PROD.iter().map(|n| f.account(n)).collect();
    prod.sort();

    let create = request(&sink, "create", "req-feed-create", p.clone());
    let s = invoke(&h, create.clone()).await;

    assert_eq!(s.answered.as_deref(), Some("SUCCESS"), "{s:?}");
    let all = details(&bed).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let d = &all[0];
    assert_eq!(accounts(d, ChangeKind::Enrolled), prod);
    assert_eq!(d.counts.enrolled, 6);
    assert_eq!(
        (d.function.as_str(), d.trigger.as_str()),
        ("custom-resource", "Create")
    );
    assert_eq!(d.stack_id.as_deref(), create["StackId"].as_str());
    assert_eq!(d.stack_set_name, STACK_SET);
    assert_eq!(d.operation_ids, s.operations);
    assert_eq!(s.change_event, Some(Put::Accepted));

    // The same scope again: nothing changes, no event.
    bed.control("requests/clear", serde_json::json!({})).await;
    let mut update = request(&sink, "update", "req-feed-update", p.clone());
    update["PhysicalResourceId"] = live_id().into();
    update["OldResourceProperties"] = update["ResourceProperties"].clone();
    let s = invoke(&h, update).await;
    assert_eq!(s.answered.as_deref(), Some("SUCCESS"), "{s:?}");
    assert!(bed.put_events().await.is_empty(), "no change, no event");
    assert_eq!(s.change_event, None);

    bed.control("requests/clear", serde_json::json!({})).await;
    let mut delete = request(&sink, "delete", "req-feed-delete", p);
    delete["PhysicalResourceId"] = live_id().into();
    let s = invoke(&h, delete).await;
    assert_eq!(s.answered.as_deref(), Some("SUCCESS"), "{s:?}");
    let all = details(&bed).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(accounts(&all[0], ChangeKind::Withdrawn), prod);
    assert_eq!(all[0].trigger, "Delete");
    assert!(
        all[0].accounts[0].reason.contains("stack is being deleted"),
        "{}",
        all[0].accounts[0].reason
    );
}

#[tokio::test]
async fn a_failed_put_never_turns_a_successful_create_into_a_failed_answer() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let sink = ResponseSink::start().await;
    let h = handler(
        &bed,
        MemoryFeed::failing(AwsError::AccessDenied(
            "not authorized to perform: events:PutEvents".into(),
        )),
    )
    .await;

    let s = invoke(
        &h,
        request(
            &sink,
            "create",
            "req-feed-fails",
            props(&f.ou("Root/Prod"), "ALL", ""),
        ),
    )
    .await;

    assert_eq!(s.answered.as_deref(), Some("SUCCESS"), "{s:?}");
    assert_eq!(sink.bodies().len(), 1, "exactly one answer");
    assert_eq!(s.change_event, Some(Put::Failed));
    let ms = check_emf(&s.metrics_line).unwrap();
    let value = |n: &str| ms.iter().find(|m| m.name == n).map(|m| m.value);
    assert_eq!(value(names::CHANGE_EVENTS_FAILED), Some(1.0));
    assert_eq!(value(names::CHANGE_EVENTS_PUT), Some(0.0));
    assert_eq!(bed.instance_accounts(STACK_SET).await.len(), 6);
}

#[tokio::test]
async fn a_create_whose_accounts_fail_reports_them_failed_in_the_event() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let web = f.account("prod-web");
    bed.control(
        "fail-account",
        serde_json::json!({"account_id": web, "reason": "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists."}),
    )
    .await;
    let sink = ResponseSink::start().await;
    let feed = std::sync::Arc::new(MemoryFeed::default());
    let h = handler(&bed, feed.clone()).await;

    let s = invoke(
        &h,
        request(
            &sink,
            "create",
            "req-feed-fail",
            props(&f.ou("Root/Prod"), "ALL", ""),
        ),
    )
    .await;

    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");
    let events = feed.events();
    assert_eq!(events.len(), 1);
    let d: ChangeDetail = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(accounts(&d, ChangeKind::Failed), vec![web.clone()]);
    assert_eq!(d.accounts[0].account_id.as_str(), web, "failures first");
    assert!(d.accounts[0]
        .reason
        .contains("a role with the same name already exists"));
    assert_eq!(d.counts.enrolled, 5);
}

#[tokio::test]
async fn an_operation_that_outlasts_invocations_is_reported_once_by_the_invocation_that_answers() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.configure(serde_json::json!({"operation_seconds": 3.0}))
        .await;
    let sink = ResponseSink::start().await;
    let feed = std::sync::Arc::new(MemoryFeed::default());
    let h = handler(&bed, feed.clone()).await;
    let at = |payload: Value| {
        h.handle(
            payload,
            Invocation {
                request_id: "lambda-request".into(),
                // 1.5 s of Lambda time (0.5 s margin): the 3 s operation outlasts it.
                deadline: Instant::now() + Duration::from_millis(1500),
            },
        )
    };

    let first = at(request(
        &sink,
        "create",
        "req-feed-slow",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ))
    .await;
    assert!(first.reinvoked, "{first:?}");
    let mut hops = 0;
    while sink.bodies().is_empty() {
        assert!(feed.events().is_empty(), "no event before the answer");
        let cont = h.reinvoker.take().pop().expect("a continuation");
        // Each account travels once (an asynchronous invocation's payload is at most 256 KB).
        let web = f.account("prod-web");
        assert_eq!(cont.to_string().matches(web.as_str()).count(), 1, "{cont}");
        at(cont).await;
        hops += 1;
        assert!(hops < 10, "converges");
    }

    assert_eq!(sink.bodies().last().unwrap()["Status"], "SUCCESS");
    let events = feed.events();
    assert_eq!(events.len(), 1, "one event for the request");
    let d: ChangeDetail = serde_json::from_str(&events[0].detail).unwrap();
    let mut prod: Vec<String> = PROD.iter().map(|n| f.account(n)).collect();
    prod.sort();
    assert_eq!(
        accounts(&d, ChangeKind::Enrolled),
        prod,
        "the create started by the first invocation"
    );
    assert_eq!(d.operation_ids.len(), 1, "{:?}", d.operation_ids);
}
