//! The custom resource's metrics line (CloudWatch Embedded Metric Format), and
//! `Custom::PortAlarmWindow`, which gives the template's alarms their window. The metrics are
//! read as CloudWatch receives them: through Lambda's log-level filter as template.yaml
//! configures `CustomResourceFunction` (`e2e::lambda_logs`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{function_config, props, request, Capture};
use custom_resource::aws::HttpResponder;
use custom_resource::handler::{Handler, Invocation, Settings, Summary};
use e2e::lambda::{LambdaStub, ResponseSink};
use e2e::lambda_logs::{received_metrics, TemplateFunction};
use e2e::{Deployment, Function, TestBed, REGION, STACK_SET};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::counted::{CallCounts, Counted};
use shared::engine::EngineConfig;
use shared::metrics::{names, Emitted, INTEGRATION_DIMENSION};
use shared::ports::TokioClock;

type Counting = Handler<
    Counted<SdkOrganizations>,
    Counted<CfnStackSets>,
    SdkIdentity,
    TokioClock,
    HttpResponder,
    Capture,
>;

/// The handler as main wires it: clients counted, the stack's identifier.
async fn counting(bed: &TestBed) -> Counting {
    let conf = function_config(bed).await;
    let calls = CallCounts::new();
    let mut settings = Settings::new(REGION);
    settings.engine = EngineConfig {
        poll_initial: Duration::from_millis(100),
        poll_max: Duration::from_millis(500),
        ..EngineConfig::default()
    };
    settings.calls = Some(calls.clone());
    settings.integration_id = "team-b".into();
    Handler {
        org: Counted::new(SdkOrganizations::new(&conf), calls.clone()),
        stacksets: Counted::new(CfnStackSets::new(&conf), calls),
        identity: SdkIdentity::new(&conf),
        clock: TokioClock,
        responder: HttpResponder::new(),
        reinvoker: Capture::default(),
        feed: shared::feed::NoFeed,
        settings,
    }
}

async fn invoke(h: &Counting, req: Value) -> Summary {
    h.handle(
        req,
        Invocation {
            request_id: "lambda-request".into(),
            deadline: Instant::now() + Duration::from_secs(120),
        },
    )
    .await
}

fn value(ms: &[Emitted], name: &str) -> Option<f64> {
    ms.iter().find(|m| m.name == name).map(|m| m.value)
}

async fn calls_seen(bed: &TestBed, service: &str) -> f64 {
    bed.requests()
        .await
        .iter()
        .filter(|r| r["service"] == service && r["throttled"] != true)
        .count() as f64
}

#[tokio::test]
async fn create_prints_valid_emf_with_the_scope_figures_and_the_calls_aws_saw() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let sink = ResponseSink::start().await;
    let h = counting(&bed).await;
    bed.control("requests/clear", json!({})).await;
    let req = request(
        &sink,
        "create",
        "req-metrics",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    let s = invoke(&h, req).await;
    assert_eq!(s.answered.as_deref(), Some("SUCCESS"), "{s:?}");
    // What CloudWatch receives at the template's default LogLevel.
    let ms = received_metrics("CustomResourceFunction", "INFO", &s.metrics_line)
        .unwrap_or_else(|| panic!("Lambda dropped the metrics line: {}", s.metrics_line));
    assert!(ms
        .iter()
        .all(|m| m.dimensions == [(INTEGRATION_DIMENSION.to_owned(), "team-b".to_owned())]));
    assert_eq!(value(&ms, names::ACCOUNTS_IN_SCOPE), Some(6.0));
    assert_eq!(value(&ms, names::ACCOUNTS_ENROLLED), Some(6.0));
    assert_eq!(value(&ms, names::ACCOUNTS_FAILED), Some(0.0));
    assert_eq!(value(&ms, names::OPERATIONS_STARTED), Some(1.0));
    assert_eq!(value(&ms, names::RECONCILE_SUCCEEDED), Some(1.0));
    // Not the schedule: the scheduled-run alarm is fed by org-events only.
    assert_eq!(value(&ms, names::SCHEDULED_RECONCILE_SUCCEEDED), None);
    assert_eq!(value(&ms, names::EVENTS_RECEIVED), None);
    assert_eq!(
        value(&ms, names::ORGANIZATIONS_CALLS),
        Some(calls_seen(&bed, "organizations").await)
    );
    assert_eq!(
        value(&ms, names::CLOUDFORMATION_CALLS),
        Some(calls_seen(&bed, "cloudformation").await)
    );
}

/// The real binary, run as template.yaml configures `CustomResourceFunction` for each
/// `LogLevel` it allows: the metrics line reaches CloudWatch through Lambda's log-level filter
/// at every level, while `LOG_LEVEL` still decides which of the function's own lines are
/// written. Under the template's old filter (`ApplicationLogLevel` = `LogLevel`) the same
/// output would have lost the metrics at WARN and ERROR: the runner catches that.
#[tokio::test]
async fn the_metrics_reach_cloudwatch_at_every_log_level_and_log_level_filters_the_rest() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let sink = ResponseSink::start().await;
    let binary = Path::new(env!("CARGO_BIN_EXE_custom-resource"));
    let env = bed
        .function_env(Function::CustomResource, &Deployment::management())
        .await;
    for (i, log_level) in ["ERROR", "WARN", "INFO", "DEBUG"].into_iter().enumerate() {
        let function = TemplateFunction::load("CustomResourceFunction", &[("LogLevel", log_level)])
            .unwrap_or_else(|e| panic!("{e}"));
        let stub = LambdaStub::start(Duration::from_secs(60)).await;
        let running = stub.spawn_from_template(binary, &function, &env);
        let req = request(
            &sink,
            "create",
            &format!("req-level-{i}"),
            props(&f.ou("Root/Prod/EU"), "ALL", ""),
        );
        let id = stub.invoke(req);
        let result = stub.result(&id, Duration::from_secs(60)).await;
        let logs = running.stop().await;
        assert!(matches!(result, Some(Ok(_))), "{log_level}: {result:?}");

        let ms = logs.metrics();
        assert_eq!(ms.len(), 1, "{log_level}: {:#?}", logs.printed);
        assert_eq!(
            value(&ms[0], names::ACCOUNTS_IN_SCOPE),
            Some(3.0),
            "{log_level}"
        );
        assert_eq!(
            value(&ms[0], names::ACCOUNTS_FAILED),
            Some(0.0),
            "{log_level}"
        );
        assert_eq!(
            value(&ms[0], names::RECONCILE_SUCCEEDED),
            Some(1.0),
            "{log_level}"
        );

        // LOG_LEVEL filters the function's own lines; the old filter would lose the metrics.
        logs.assert_filtered_at(log_level);
    }
}

fn window_request(sink: &ResponseSink, id: &str, schedule: &str) -> Value {
    let mut req = request(sink, "create", id, json!({"ReconcileSchedule": schedule}));
    req["ResourceType"] = json!("Custom::PortAlarmWindow");
    req["LogicalResourceId"] = json!("PortAlarmWindow");
    req
}

#[tokio::test]
async fn the_alarm_window_is_two_intervals_of_the_schedule_and_costs_no_aws_call() {
    let bed = TestBed::start().await;
    let sink = ResponseSink::start().await;
    let h = counting(&bed).await;
    bed.control("requests/clear", json!({})).await;
    let s = invoke(&h, window_request(&sink, "req-window", "rate(6 hours)")).await;
    assert_eq!(s.answered.as_deref(), Some("SUCCESS"), "{s:?}");
    let answer = sink.bodies().last().cloned().expect("an answer");
    assert_eq!(
        answer["Data"],
        json!({"PeriodSeconds": "21600", "EvaluationPeriods": "2", "IntervalSeconds": "21600"})
    );
    assert_eq!(answer["PhysicalResourceId"], "orgscope-alarm-window");
    assert!(bed.requests().await.is_empty(), "no AWS call");
}

#[tokio::test]
async fn a_schedule_the_window_cannot_read_fails_naming_it() {
    let bed = TestBed::start().await;
    let sink = ResponseSink::start().await;
    let h = counting(&bed).await;
    let s = invoke(&h, window_request(&sink, "req-bad-window", "every 6 hours")).await;
    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");
    let answer = sink.bodies().last().cloned().expect("an answer");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.contains("`every 6 hours`") && reason.contains("rate(6 hours)"),
        "{reason}"
    );
}
