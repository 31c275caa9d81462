//! The emulator process (start, kill), its control API (`/_fidelity/...`) and the SDK
//! configuration and environment aimed at it.

use serde_json::{json, Value};

use super::emulator::Emulator;
use crate::{
    operations_listing, organizations_pages, sdk_config_for, TestBed, OPERATIONS_LISTING_VAR,
    ORGANIZATIONS_PAGES_VAR, REGION,
};

impl TestBed {
    /// Starts an emulator on a free port (`bed::emulator`). Needs `tests/emulator/setup` to
    /// have run.
    pub async fn start() -> Self {
        let (emulator, endpoint) = Emulator::start().await;
        let bed = Self {
            emulator,
            endpoint,
            http: reqwest::Client::new(),
        };
        if let Ok(text) = std::env::var(OPERATIONS_LISTING_VAR) {
            let listing = operations_listing(&text).unwrap_or_else(|e| panic!("{e}"));
            bed.configure(json!({ "operations_listing": listing }))
                .await;
        }
        if let Ok(text) = std::env::var(ORGANIZATIONS_PAGES_VAR) {
            let pages = organizations_pages(&text).unwrap_or_else(|e| panic!("{e}"));
            bed.configure(json!({ "organizations_pages": pages })).await;
        }
        bed
    }

    /// POST a control call; panics on failure (a broken test bed is a broken test).
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_fidelity/{path}", self.endpoint))
            .json(&body)
            .send()
            .await
            .expect("control call");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "control {path}: {status} {v}");
        v
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/_fidelity/{path}", self.endpoint))
            .send()
            .await
            .expect("control call")
            .json()
            .await
            .expect("json")
    }

    /// SDK configuration aimed at this emulator, as `AWS_ENDPOINT_URL` would make it.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint, REGION).await
    }

    /// Environment for a child process (the CLI, a function binary) to reach this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// SDK configuration signed as `account` (a member of the organization): `AssumeRole`
    /// into it with the default credentials, as a person signed in there would be. The
    /// emulator takes the caller's account from the access key (tests/emulator/README.md,
    /// "Callers").
    pub async fn member_config(&self, account: &str) -> aws_config::SdkConfig {
        let conf = self.sdk_config().await;
        let creds = aws_sdk_sts::Client::new(&conf)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/orgscope-test"))
            .role_session_name("orgscope-test")
            .send()
            .await
            .expect("AssumeRole")
            .credentials
            .expect("credentials");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                Some(creds.session_token),
                None,
                "test-member",
            ))
            .retry_config(shared::adapters::retry_config())
            .load()
            .await
    }

    /// Stops the emulator now (as a crash would).
    pub async fn kill(&mut self) {
        self.emulator.kill(&self.endpoint).await;
    }
}
