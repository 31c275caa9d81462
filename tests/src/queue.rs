//! The org-events queue as the tests and benchmarks play it: what an SQS delivery looks like
//! (`events/sqs-org-events-batch.json`'s record shape), and how the event source mapping
//! gathers a batch (template.yaml, `OrgEventsQueueMapping`: a batch is handed over a batching
//! window after its first message arrived).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

/// `events` as one SQS delivery: each record's body is one EventBridge event.
pub fn sqs_batch(events: &[Value]) -> Value {
    let path = crate::repo_root()
        .join("events")
        .join("sqs-org-events-batch.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("sample"))
        .expect("sample JSON");
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut r = sample["Records"][0].clone();
            r["messageId"] = json!(format!("msg-{i}-{}", e["id"].as_str().unwrap_or("")));
            r["body"] = json!(e.to_string());
            // The sample's digest is of its own body.
            r.as_object_mut().map(|o| o.remove("md5OfBody"));
            r
        })
        .collect();
    json!({ "Records": records })
}

/// The next batch: the first message, then whatever arrives within `window` of it (or until
/// the sender is gone). `None` when no message will come.
pub async fn next_batch(rx: &mut UnboundedReceiver<Value>, window: Duration) -> Option<Vec<Value>> {
    let mut batch = vec![rx.recv().await?];
    let ends = tokio::time::Instant::now() + window;
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                Some(e) => batch.push(e),
                None => return Some(batch),
            },
            _ = tokio::time::sleep_until(ends) => return Some(batch),
        }
    }
}
