//! The fidelity layer's knobs: its configuration (OU reading), injected account failures, and
//! holding a call until the test's other side has acted (hold, wait, release).

use std::time::Duration;

use serde_json::{json, Value};

use crate::{OuReading, TestBed};

impl TestBed {
    pub async fn configure(&self, body: Value) {
        self.control("config", body).await;
    }

    /// Switches how a listed OU is resolved on Update/DeleteStackInstances.
    pub async fn set_ou_reading(&self, reading: OuReading) {
        self.configure(json!({"ou_reading": reading.as_str()}))
            .await;
    }

    /// Makes the next `times` StackSet operations touching `account` fail for it.
    pub async fn fail_account(&self, account: &str, reason: &str, times: u32) {
        self.control(
            "fail-account",
            json!({"account_id": account, "reason": reason, "times": times}),
        )
        .await;
    }

    /// Holds the `nth` (1 = next) `service` `action` call from now on in the emulator until
    /// [`TestBed::release`]: the call is logged when it arrives and answered only after the
    /// test's other side has acted (`POST /_fidelity/hold`). Returns the hold's id.
    pub async fn hold(&self, service: &str, action: &str, nth: u32) -> u64 {
        self.control(
            "hold",
            json!({"service": service, "action": action, "nth": nth}),
        )
        .await["id"]
            .as_u64()
            .expect("hold id")
    }

    /// Waits until the held call has arrived and is waiting (`GET /_fidelity/held`); panics
    /// after 60 s naming the hold (the call never came).
    pub async fn wait_held(&self, id: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let holds = self.get("held").await;
            let hold = holds["holds"]
                .as_array()
                .and_then(|h| h.iter().find(|h| h["id"] == id).cloned())
                .unwrap_or_else(|| panic!("no hold {id}: {holds}"));
            if hold["state"] != "armed" {
                assert_eq!(hold["state"], "waiting", "{hold}");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the held call never came within 60 s: {hold}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lets the held call go on.
    pub async fn release(&self, id: u64) {
        self.control("release", json!({ "id": id })).await;
    }

    /// The request-log entry of the call caught by hold `id`: its `seq` (when it arrived) and
    /// `released_after_seq` (the last request logged before it went on).
    pub async fn held_entry(&self, id: u64) -> Value {
        self.requests()
            .await
            .into_iter()
            .find(|r| r["held"] == id)
            .unwrap_or_else(|| panic!("no request was held by hold {id}"))
    }
}
