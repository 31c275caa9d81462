//! The real `custom-resource` binary, run by a local Lambda runtime API against the test bed.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{props, request};
use e2e::lambda::{LambdaStub, ResponseSink};
use e2e::{Deployment, Function, TestBed, STACK_SET};
use serde_json::json;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_binary_answers_cloudformation_and_never_logs_the_presigned_signature() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let sink = ResponseSink::start().await;
    let stub = LambdaStub::start(Duration::from_secs(60)).await;
    let mut env = bed
        .function_env(Function::CustomResource, &Deployment::management())
        .await;
    env.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".into()));
    env.push(("AWS_LAMBDA_LOG_LEVEL", "DEBUG".into()));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_custom-resource"));
    child
        .env("AWS_LAMBDA_RUNTIME_API", stub.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = child.spawn().expect("spawn");
    // Drain the pipes while the function runs: DEBUG logs would fill them and block it.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_task = tokio::spawn(async move {
        let mut s = String::new();
        out.read_to_string(&mut s).await.ok();
        s
    });
    let err_task = tokio::spawn(async move {
        let mut s = String::new();
        err.read_to_string(&mut s).await.ok();
        s
    });
    let req = request(
        &sink,
        "create",
        "bin-1",
        props(&f.ou("Root/Prod/EU"), "ALL", ""),
    );
    let id = stub.invoke(req);
    let result = stub
        .result(&id, Duration::from_secs(60))
        .await
        .expect("a result");
    assert!(result.is_ok(), "{result:?}");
    let answer = sink
        .wait_for(1, Duration::from_secs(5))
        .await
        .expect("answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "3");
    child.kill().await.ok();
    let logs = out_task.await.unwrap() + &err_task.await.unwrap();
    assert!(logs.contains("answering CloudFormation"), "{logs}");
    assert!(
        !logs.contains("SECRETSIGNATURE"),
        "the presigned signature leaked into the logs"
    );
    assert!(logs.contains("<signature redacted>"), "{logs}");
    // JSON logs, one object per line, for CloudWatch Logs Insights.
    let line = logs
        .lines()
        .find(|l| l.contains("answering CloudFormation"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(v["level"], json!("INFO"));
}
