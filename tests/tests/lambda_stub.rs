//! The local Lambda runtime API stub speaks the protocol the Rust runtime client uses.

use std::time::Duration;

use e2e::lambda::{LambdaStub, ASYNC_PAYLOAD_LIMIT};
use serde_json::json;

#[tokio::test]
async fn next_delivers_a_queued_event_and_response_records_the_result() {
    let stub = LambdaStub::start(Duration::from_secs(30)).await;
    let id = stub.invoke(json!({"hello": 1}));
    let base = format!("http://{}/2018-06-01/runtime/invocation", stub.addr);
    let client = reqwest::Client::new();
    let next = client.get(format!("{base}/next")).send().await.unwrap();
    assert_eq!(next.status(), 200);
    let got_id = next
        .headers()
        .get("lambda-runtime-aws-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(got_id, id);
    assert_eq!(
        next.json::<serde_json::Value>().await.unwrap(),
        json!({"hello": 1})
    );
    client
        .post(format!("{base}/{id}/response"))
        .body("{\"ok\":true}")
        .send()
        .await
        .unwrap();
    let r = stub.result(&id, Duration::from_secs(2)).await;
    assert_eq!(r, Some(Ok(json!({"ok": true}))));
}

/// The Lambda Invoke API with `InvocationType` `Event`, as the SDK sends it.
async fn invoke_event(stub: &LambdaStub, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "http://{}/2015-03-31/functions/orgscope-test/invocations",
            stub.addr
        ))
        .header("X-Amz-Invocation-Type", "Event")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A JSON payload of exactly `n` bytes.
fn payload_of(n: usize) -> String {
    let frame = "{\"pad\":\"\"}".len();
    format!("{{\"pad\":\"{}\"}}", "x".repeat(n - frame))
}

#[tokio::test]
async fn an_asynchronous_payload_over_256_kb_is_refused_as_lambda_refuses_it_and_not_queued() {
    let stub = LambdaStub::start(Duration::from_secs(30)).await;
    let at_limit = payload_of(ASYNC_PAYLOAD_LIMIT);
    assert_eq!(at_limit.len(), 262_144);

    let r = invoke_event(&stub, at_limit).await;
    assert_eq!(r.status(), 202, "a payload of exactly 256 KB is accepted");

    let r = invoke_event(&stub, payload_of(ASYNC_PAYLOAD_LIMIT + 1)).await;
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("RequestEntityTooLargeException")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["message"],
        "262145 byte payload is too large for the Event invocation type (limit 262144 bytes)"
    );

    let history = stub.history();
    assert_eq!(history.len(), 1, "only the accepted payload was queued");
    assert_eq!(history[0].bytes, 262_144);
    assert!(history[0].self_invoked);
    assert_eq!(stub.refused(), [262_145]);
}
