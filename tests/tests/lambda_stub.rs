//! The local Lambda runtime API stub speaks the protocol the Rust runtime client uses.

use std::time::Duration;

use e2e::lambda::LambdaStub;
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
