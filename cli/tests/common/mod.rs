//! Helpers shared by the doctor and status tests: run the CLI against a test bed, redact the
//! random IDs moto generates, and check that nothing mutating was called.

#![allow(dead_code)]

use std::process::Output;

use e2e::{Fixture, TestBed};
use serde_json::Value;

pub const PORT_URL: &str =
    "https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4";
pub const ISSUER: &str = "oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4";

/// The permissions the README documents for `orgscope` (docs/orgscope-policy.json): every
/// CLI test runs under exactly them, so a call they do not allow fails with AccessDenied.
pub fn documented_policy() -> Value {
    let path = e2e::repo_root().join("docs/orgscope-policy.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("docs/orgscope-policy.json"))
        .expect("the documented policy is JSON")
}

/// A person in `account` holding the documented policy and nothing else.
pub async fn documented_principal(bed: &TestBed, account: &str) -> e2e::Principal {
    bed.principal_with("orgscope-user", account, vec![documented_policy()])
        .await
}

/// Runs the CLI as a person of the management account holding the documented policy (`env`
/// may name other credentials: `member_env`).
pub async fn orgscope(bed: &TestBed, args: &[&str], env: &[(&str, String)]) -> Output {
    let me = documented_principal(bed, e2e::MANAGEMENT_ACCOUNT).await;
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orgscope"))
        .args(args)
        // A tag filter in the developer's shell would narrow every test's scope.
        .env_remove("TARGET_ACCOUNT_TAGS")
        .env_remove("EXCLUDED_ACCOUNT_TAGS")
        .envs(bed.env_as(&me))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("run orgscope")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

pub fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            stdout(o),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// Replaces moto's random IDs with stable names: accounts by name, OUs by path, the root,
/// the organization, timestamps and durations.
pub fn redact(text: &str, f: &Fixture) -> String {
    let mut subs: Vec<(String, String)> = Vec::new();
    for (name, a) in f.0["accounts"].as_object().unwrap() {
        subs.push((a["id"].as_str().unwrap().to_owned(), format!("<{name}>")));
    }
    for (path, id) in f.0["ous"].as_object().unwrap() {
        let id = id.as_str().unwrap();
        if path == "Root" {
            subs.push((id.to_owned(), "r-<root>".into()));
        } else {
            subs.push((
                id.to_owned(),
                format!("ou-<{}>", path.trim_start_matches("Root/")),
            ));
        }
    }
    subs.push((
        f.0["organization_id"].as_str().unwrap().to_owned(),
        "o-<org>".into(),
    ));
    subs.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut out = text.to_owned();
    for (k, v) in subs {
        out = out.replace(&k, &v);
    }
    let time = regex_lite::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC").unwrap();
    let out = time.replace_all(&out, "<time>");
    let secs = regex_lite::Regex::new(r"\d+\.\d s\b").unwrap();
    secs.replace_all(&out, "<secs>").into_owned()
}

/// Every line of human output fits 100 columns.
pub fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "line wider than 100: {line:?}");
    }
}

/// AWS calls that change something: doctor and status must never make one.
pub async fn mutating_calls(bed: &TestBed) -> Vec<String> {
    bed.requests()
        .await
        .into_iter()
        // JSON services log their X-Amz-Target (`com.amazonaws.cloudtrail....CreateTrail`).
        .filter_map(|r| {
            r["action"]
                .as_str()
                .map(|a| a.rsplit('.').next().unwrap_or(a).to_owned())
        })
        .filter(|a| {
            [
                "Create",
                "Update",
                "Delete",
                "Detect",
                "Activate",
                "Deactivate",
                "Enable",
                "Disable",
                "Put",
                "Tag",
                "Untag",
                "Attach",
                "Detach",
                "Move",
                "Stop",
                "Start",
                "Add",
                "Remove",
                "Invite",
                "Close",
                "Register",
            ]
            .iter()
            .any(|p| a.starts_with(p))
        })
        .collect()
}

pub async fn iam(bed: &TestBed) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&bed.sdk_config().await)
}

/// Port's trust for a role in `account`.
pub fn port_trust(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{account}:oidc-provider/{ISSUER}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{ISSUER}:aud"): "sts.amazonaws.com",
                format!("{ISSUER}:sub"): "system:serviceaccount:org-x-port-oidc-sa"
            }}
        }]
    })
    .to_string()
}

pub async fn create_provider(bed: &TestBed, tag: Option<&str>) {
    let mut req = iam(bed)
        .await
        .create_open_id_connect_provider()
        .url(PORT_URL)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280");
    if let Some(t) = tag {
        req = req.tags(
            aws_sdk_iam::types::Tag::builder()
                .key("port:integration")
                .value(t)
                .build()
                .unwrap(),
        );
    }
    req.send().await.expect("CreateOpenIDConnectProvider");
}

pub async fn create_role(bed: &TestBed, name: &str, trust: &str, tag: Option<&str>) {
    let mut req = iam(bed)
        .await
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust);
    if let Some(t) = tag {
        req = req.tags(
            aws_sdk_iam::types::Tag::builder()
                .key("port:integration")
                .value(t)
                .build()
                .unwrap(),
        );
    }
    req.send().await.expect("CreateRole");
}

/// A CloudTrail trail in the emulator's `us-east-1`, with its S3 bucket; logging when `logging`.
pub async fn create_trail(bed: &TestBed, name: &str, multi_region: bool, logging: bool) {
    let bucket = format!("{name}-logs");
    bed.create_bucket(&bucket).await;
    let ct = aws_sdk_cloudtrail::Client::new(&bed.sdk_config().await);
    ct.create_trail()
        .name(name)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(multi_region)
        .send()
        .await
        .expect("CreateTrail");
    if logging {
        ct.start_logging()
            .name(name)
            .send()
            .await
            .expect("StartLogging");
    }
}

pub async fn clear_log(bed: &TestBed) {
    bed.control("requests/clear", serde_json::json!({})).await;
}

/// The check with this id from `doctor --output json`.
pub fn check<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {v:#}"))
}

/// Credentials of a person in `account` holding the documented policy, for the CLI's
/// environment.
pub async fn member_env(bed: &TestBed, account: &str) -> Vec<(&'static str, String)> {
    let p = documented_principal(bed, account).await;
    vec![
        ("AWS_ACCESS_KEY_ID", p.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", p.secret_access_key),
        ("AWS_SESSION_TOKEN", p.session_token),
    ]
}

/// A CloudFormation client on the test bed, as the test itself (not as the CLI's principal).
pub async fn cfn(bed: &TestBed) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&bed.sdk_config().await)
}

/// Waits until no StackSet operation of `STACK_SET` is RUNNING.
pub async fn wait_idle(bed: &TestBed) {
    // The list is eventually consistent: the operations just started show only after its lag.
    tokio::time::sleep(e2e::operations_listing_lag()).await;
    for _ in 0..100 {
        let ops = cfn(bed)
            .await
            .list_stack_set_operations()
            .stack_set_name(e2e::STACK_SET)
            .send()
            .await
            .expect("ListStackSetOperations");
        if ops
            .summaries()
            .iter()
            .all(|o| o.status().map(|s| s.as_str()) != Some("RUNNING"))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("operation did not finish");
}
