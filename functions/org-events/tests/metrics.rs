//! The metrics line each invocation prints (CloudWatch Embedded Metric Format): valid EMF,
//! figures that match what happened, and call counts that match what AWS (the emulator) saw.
//! The metrics are read as CloudWatch receives them: through Lambda's log-level filter as
//! template.yaml configures `OrgEventsFunction` (`e2e::lambda_logs`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{function_config, World};
use e2e::lambda::LambdaStub;
use e2e::lambda_logs::{received_metrics, TemplateFunction};
use e2e::{Deployment, Function, REGION, STACK_SET};
use org_events::{Handler, Invocation, Summary};
use serde_json::json;
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::counted::{CallCounts, Counted};
use shared::metrics::{
    names, Emitted, DEFAULT_INTEGRATION_IDENTIFIER, EVENT_KIND_DIMENSION, INTEGRATION_DIMENSION,
    NAMESPACE,
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

/// What CloudWatch receives of a handler's metrics line at the template's default LogLevel.
fn received(s: &Summary) -> Vec<Emitted> {
    received_metrics("OrgEventsFunction", "INFO", &s.metrics_line)
        .unwrap_or_else(|| panic!("Lambda dropped the metrics line: {}", s.metrics_line))
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

    let ms = received(&s);
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
    let ms = received(&s);
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
    let ms = received(&s);
    assert_eq!(value(&ms, names::EVENTS_TOUCHING_SCOPE), Some(1.0), "{s:?}");
    // The event's pass read its account only: it says nothing of the scope's size.
    assert_eq!(value(&ms, names::ACCOUNTS_IN_SCOPE), None);
    assert_eq!(value(&ms, names::ACCOUNTS_ENROLLED), None);
    assert_eq!(value(&ms, names::ACCOUNTS_FAILED), None);
    assert_eq!(value(&ms, names::OPERATIONS_STARTED), Some(1.0));
    assert_eq!(value(&ms, names::RECONCILE_SUCCEEDED), Some(1.0));
    // The next scheduled run does, for all seven.
    let s = invoke(&h, &common::event("scheduled.json", &[]), "req-metrics-4").await;
    let ms = received(&s);
    assert_eq!(value(&ms, names::ACCOUNTS_IN_SCOPE), Some(7.0));
    assert_eq!(value(&ms, names::ACCOUNTS_ENROLLED), Some(7.0));
}

/// A deployment stack holding the scope, as the template's stack holds it: org-events reads
/// its parameters (`STACK_ID`, the only scope the template gives the function).
const STACK_TEMPLATE: &str = r#"{
  "Parameters": {
    "TargetOUIds": {"Type": "String"},
    "AccountScope": {"Type": "String"},
    "TargetAccountIds": {"Type": "String", "Default": ""},
    "OnAccountLeavesScope": {"Type": "String", "Default": "DELETE"},
    "StackSetName": {"Type": "String"}
  },
  "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
}"#;

async fn deployment_stack(w: &World, ous: &str) -> String {
    use aws_sdk_cloudformation::types::Parameter;
    let conf = w.bed.sdk_config().await;
    let params = [
        ("TargetOUIds", ous),
        ("AccountScope", "ALL"),
        ("StackSetName", STACK_SET),
    ]
    .iter()
    .map(|(k, v)| {
        Parameter::builder()
            .parameter_key(*k)
            .parameter_value(*v)
            .build()
    })
    .collect();
    aws_sdk_cloudformation::Client::new(&conf)
        .create_stack()
        .stack_name("port-orgscope")
        .template_body(STACK_TEMPLATE)
        .set_parameters(Some(params))
        .send()
        .await
        .expect("CreateStack")
        .stack_id()
        .expect("stack id")
        .to_owned()
}

/// The real binary, run as template.yaml configures `OrgEventsFunction` for each `LogLevel`
/// it allows (its environment, only `STACK_ID` pointed at the emulator's stack): each
/// scheduled run's metrics reach CloudWatch through Lambda's log-level filter, so
/// `ScheduledReconcileAlarm` and `AccountsFailedAlarm` get their data at WARN and ERROR too,
/// while `LOG_LEVEL` still decides which of the function's own lines are written. Under the
/// template's old filter (`ApplicationLogLevel` = `LogLevel`) the metrics would be lost at
/// WARN and ERROR: the runner catches that.
#[tokio::test]
async fn scheduled_runs_reach_the_alarms_at_every_log_level_and_log_level_filters_the_rest() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    let stack_id = deployment_stack(&w, &w.f.ou("Root/Prod")).await;
    let binary = Path::new(env!("CARGO_BIN_EXE_org-events"));
    // As the principal template.yaml makes the function, reading its own stack.
    let mut env = w
        .bed
        .function_env(
            Function::OrgEvents,
            &Deployment::management().with_stack(&stack_id),
        )
        .await;
    env.push(("STACK_ID", stack_id));
    for log_level in ["ERROR", "WARN", "INFO", "DEBUG"] {
        let function = TemplateFunction::load("OrgEventsFunction", &[("LogLevel", log_level)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            function
                .variables
                .iter()
                .find(|(k, _)| k == "STACK_SET_REGIONS"),
            Some(&("STACK_SET_REGIONS".to_owned(), REGION.to_owned()))
        );
        let stub = LambdaStub::start(Duration::from_secs(120)).await;
        let running = stub.spawn_from_template(binary, &function, &env);
        let id = stub.invoke(common::event("scheduled.json", &[]));
        let result = stub.result(&id, Duration::from_secs(120)).await;
        let logs = running.stop().await;
        assert!(matches!(result, Some(Ok(_))), "{log_level}: {result:?}");

        let ms = logs.metrics();
        assert_eq!(ms.len(), 1, "{log_level}: {:#?}", logs.printed);
        let ms = &ms[0];
        assert!(ms.iter().all(|m| m.dimensions.contains(&(
            INTEGRATION_DIMENSION.into(),
            DEFAULT_INTEGRATION_IDENTIFIER.into()
        ))));
        // ScheduledReconcileAlarm's and AccountsFailedAlarm's metrics: six accounts under Prod.
        assert_eq!(
            value(ms, names::SCHEDULED_RECONCILE_SUCCEEDED),
            Some(1.0),
            "{log_level}"
        );
        assert_eq!(value(ms, names::ACCOUNTS_FAILED), Some(0.0), "{log_level}");
        assert_eq!(
            value(ms, names::ACCOUNTS_IN_SCOPE),
            Some(6.0),
            "{log_level}"
        );

        logs.assert_filtered_at(log_level);
    }
    assert_eq!(w.enrolled().await.len(), 6);
}
