//! `orgscope status` against the local test bed: desired vs actual, operations, --watch.

mod common;

use common::*;
use e2e::{Fixture, TestBed, REGION, STACK_SET};
use serde_json::{json, Value};

/// Deploys to Prod and Staging (a wider scope than the one status is asked about), with one
/// injected failure, then waits for the operation.
async fn deploy(bed: &TestBed, f: &Fixture, op: &str) {
    cfn(bed)
        .await
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(
            aws_sdk_cloudformation::types::DeploymentTargets::builder()
                .organizational_unit_ids(f.ou("Root/Prod"))
                .organizational_unit_ids(f.ou("Root/Staging"))
                .build(),
        )
        .regions(REGION)
        .operation_id(op)
        .operation_preferences(
            aws_sdk_cloudformation::types::StackSetOperationPreferences::builder()
                .failure_tolerance_count(5)
                .max_concurrent_count(10)
                .build(),
        )
        .send()
        .await
        .expect("CreateStackInstances");
    wait_idle(bed).await;
}

fn status_args<'a>(f: &'a Fixture, extra: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "status".into(),
        "--target-ou-ids".into(),
        f.ou("Root/Prod"),
        "--account-scope".into(),
        "DIFFERENCE".into(),
        "--target-account-ids".into(),
        f.account("prod-eu-pci"),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Accounts in this state, sorted by ID.
fn rows<'a>(v: &'a Value, state: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == state)
        .map(|r| r["account"].as_str().unwrap())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn status_tells_every_state_apart() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.control(
        "fail-account",
        json!({"account_id": f.account("prod-data"), "times": 1, "reason":
            "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
             ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists."}),
    )
    .await;
    deploy(&bed, &f, "op-create-1").await;
    // Someone edits prod-web's role; drift detection finds it.
    bed.control(
        "drift",
        json!({"stack_set_name": STACK_SET, "account_id": f.account("prod-web"), "region": REGION}),
    )
    .await;
    cfn(&bed)
        .await
        .detect_stack_set_drift()
        .stack_set_name(STACK_SET)
        .operation_id("op-drift-1")
        .send()
        .await
        .expect("DetectStackSetDrift");
    wait_idle(&bed).await;
    // prod-us-1's instance disappears.
    bed.control(
        "delete-instance",
        json!({"stack_set_name": STACK_SET, "account_id": f.account("prod-us-1"), "region": REGION}),
    )
    .await;
    clear_log(&bed).await;

    let args = status_args(&f, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = orgscope(&bed, &args, &[]).await;
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_fits(&text);
    insta::assert_snapshot!("status_every_state", redact(&text, &f));

    let args = status_args(&f, &["--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = json(&orgscope(&bed, &args, &[]).await);
    let mut current = vec![f.account("prod-eu-1"), f.account("prod-eu-payments")];
    current.sort();
    assert_eq!(rows(&v, "current"), current);
    assert_eq!(rows(&v, "missing"), vec![f.account("prod-us-1")]);
    assert_eq!(rows(&v, "failed"), vec![f.account("prod-data")]);
    assert_eq!(rows(&v, "drifted"), vec![f.account("prod-web")]);
    assert_eq!(
        rows(&v, "skipped_suspended"),
        vec![f.account("staging-suspended")]
    );
    let mut extra = vec![
        f.account("prod-eu-pci"),
        f.account("staging-1"),
        f.account("staging-2"),
    ];
    extra.sort();
    assert_eq!(rows(&v, "extra"), extra);
    let failed = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["state"] == "failed")
        .unwrap();
    assert!(failed["advice"]
        .as_str()
        .unwrap()
        .contains("cannot reuse an existing role"));
    let staging = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == f.account("staging-1").as_str())
        .unwrap();
    assert_eq!(
        staging["ou_path"],
        format!("Root/Staging ({})", f.ou("Root/Staging"))
    );
    assert_eq!(v["converged"], false);
    assert_eq!(v["summary"]["current"], 2);
    assert_eq!(v["summary"]["extra"], 3);
    let ops: Vec<(&str, &str, &str)> = v["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap(),
                o["action"].as_str().unwrap(),
                o["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            ("op-drift-1", "DETECT_DRIFT", "SUCCEEDED"),
            ("op-create-1", "CREATE", "SUCCEEDED")
        ]
    );
    assert!(v["operations"][0]["duration_secs"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["stack_set"]["service_managed"], true);
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_converged_stack_set_says_so() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    cfn(&bed)
        .await
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(
            aws_sdk_cloudformation::types::DeploymentTargets::builder()
                .organizational_unit_ids(f.ou("Root/Prod/EU"))
                .build(),
        )
        .regions(REGION)
        .operation_id("op-eu")
        .send()
        .await
        .expect("CreateStackInstances");
    wait_idle(&bed).await;
    let ou = f.ou("Root/Prod/EU");
    let out = orgscope(
        &bed,
        &["status", "--target-ou-ids", &ou, "--account-scope", "ALL"],
        &[],
    )
    .await;
    let text = stdout(&out);
    assert!(
        text.contains("Every account in scope is enrolled and CURRENT."),
        "{text}"
    );
    assert!(text.contains("3 stack instances"), "{text}");
}

#[tokio::test]
async fn watch_refreshes_until_the_running_operation_ends() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    // The operation runs on past the lists' lag, so that the watch sees it running.
    let lag = e2e::operations_listing_lag();
    bed.configure(json!({"operation_seconds": 2.0 + lag.as_secs_f64()}))
        .await;
    cfn(&bed)
        .await
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(
            aws_sdk_cloudformation::types::DeploymentTargets::builder()
                .organizational_unit_ids(f.ou("Root/Prod"))
                .build(),
        )
        .regions(REGION)
        .operation_id("op-watch")
        .send()
        .await
        .expect("CreateStackInstances");
    tokio::time::sleep(lag).await;
    clear_log(&bed).await;
    let args = status_args(&f, &["--watch", "--interval", "0.3", "--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let out = orgscope(&bed, &args, &[]).await;
    assert!(out.status.success());
    // Not a terminal: no progress bar on stderr, clean JSON on stdout.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("accounts"),
        "progress bar hidden"
    );
    let v = json(&out);
    assert!(v["running"].is_null(), "{v:#}");
    assert_eq!(v["operations"][0]["id"], "op-watch");
    assert_eq!(v["operations"][0]["status"], "SUCCEEDED");
    assert_eq!(rows(&v, "running"), Vec::<&str>::new());
    println!("watch ended after {:.1} s", started.elapsed().as_secs_f64());
    let polls = bed
        .requests()
        .await
        .iter()
        .filter(|r| r["action"] == "ListStackSetOperations")
        .count();
    assert!(polls >= 2, "refreshed {polls} times");
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_missing_stack_set_is_explained() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let ou = f.ou("Root/Prod");
    let out = orgscope(
        &bed,
        &["status", "--target-ou-ids", &ou, "--account-scope", "ALL"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("StackSet `Port-Integration-v3` does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn status_tells_when_the_last_scheduled_recheck_and_the_last_change_ran() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    // What the functions leave behind: their own operation IDs (shared::engine).
    deploy(&bed, &f, "orgscope-create-0123456789abcdef0123").await;
    cfn(&bed)
        .await
        .detect_stack_set_drift()
        .stack_set_name(STACK_SET)
        .operation_id("orgscope-drift-0123456789abcdef0123")
        .send()
        .await
        .expect("DetectStackSetDrift");
    wait_idle(&bed).await;
    // An operation someone else started is neither.
    deploy(&bed, &f, "console-op-1").await;

    let args = status_args(&f, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = stdout(&orgscope(&bed, &args, &[]).await);
    let check = text
        .lines()
        .find(|l| l.starts_with("Last scheduled re-check:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        check.contains(" UTC  (its drift detection orgscope-drift-"),
        "{check}"
    );
    let change = text
        .lines()
        .find(|l| l.starts_with("Last change by this stack:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(change.ends_with(" UTC  (CREATE)"), "{change}");

    let args = status_args(&f, &["--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v: Value = serde_json::from_str(&stdout(&orgscope(&bed, &args, &[]).await)).unwrap();
    assert_eq!(
        v["last_scheduled_check"]["id"],
        "orgscope-drift-0123456789abcdef0123"
    );
    assert_eq!(
        v["last_change"]["id"],
        "orgscope-create-0123456789abcdef0123"
    );
}

#[tokio::test]
async fn status_says_when_no_scheduled_recheck_is_on_record() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    deploy(&bed, &f, "console-op-1").await;
    let args = status_args(&f, &["--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v: Value = serde_json::from_str(&stdout(&orgscope(&bed, &args, &[]).await)).unwrap();
    assert_eq!(v["last_scheduled_check"], Value::Null);
    assert_eq!(v["last_change"], Value::Null);
}

/// An account the engine made reuse its existing OIDC provider (an UpdateStackInstances with
/// the override, under the engine's `orgscope-reuse-oidc-` operation ID) is shown as such,
/// found through the recent operations' results: no DescribeStackInstance per account.
#[tokio::test]
async fn status_shows_accounts_that_reuse_an_existing_oidc_provider_at_a_bounded_cost() {
    use aws_sdk_cloudformation::types::{AccountFilterType, DeploymentTargets, Parameter};
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_port_stack_set(STACK_SET, true).await;
    let had = f.account("prod-eu-1");
    bed.has_oidc_provider(&had).await;
    deploy(&bed, &f, "op-create-1").await;
    cfn(&bed)
        .await
        .update_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(
            DeploymentTargets::builder()
                .organizational_unit_ids(f.root())
                .accounts(&had)
                .account_filter_type(AccountFilterType::Intersection)
                .build(),
        )
        .regions(REGION)
        .parameter_overrides(
            Parameter::builder()
                .parameter_key("CreateOIDCProvider")
                .parameter_value("false")
                .build(),
        )
        .operation_id("orgscope-reuse-oidc-00112233445566778899")
        .send()
        .await
        .expect("UpdateStackInstances");
    wait_idle(&bed).await;
    clear_log(&bed).await;

    let args = status_args(&f, &["--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = json(&orgscope(&bed, &args, &[]).await);
    assert_eq!(v["reusing_oidc_provider"], json!([had]));
    let row = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == had.as_str())
        .unwrap();
    assert_eq!(row["state"], "current");
    assert_eq!(row["reuses_oidc_provider"], true);
    let calls: Vec<String> = bed
        .requests()
        .await
        .iter()
        .filter_map(|r| r["action"].as_str().map(str::to_owned))
        .collect();
    let count = |a: &str| calls.iter().filter(|c| *c == a).count();
    assert_eq!(count("ListStackSetOperationResults"), 1, "{calls:?}");
    assert_eq!(count("DescribeStackInstance"), 0, "{calls:?}");

    let args = status_args(&f, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = stdout(&orgscope(&bed, &args, &[]).await);
    assert_fits(&text);
    assert!(
        text.contains("1 account reuses an existing OIDC provider"),
        "{text}"
    );
    assert!(text.contains(&had), "{text}");
}

#[tokio::test]
async fn status_from_a_delegated_administrator_reads_the_management_accounts_stack_set_as_delegated_admin(
) {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    let da = f.account(e2e::DeployAs::DELEGATED_ADMIN_ACCOUNT);
    let conf = bed.deploy_config(e2e::DeployAs::DelegatedAdmin, &f).await;
    bed.create_stack_set_as(&conf, e2e::DeployAs::DelegatedAdmin)
        .await;
    deploy(&bed, &f, "op-da").await;
    let env = member_env(&bed, &da).await;
    clear_log(&bed).await;
    let args = status_args(&f, &["--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = orgscope(&bed, &args, &env).await;
    let v = json(&out);
    let mut current = vec![
        f.account("prod-web"),
        f.account("prod-data"),
        f.account("prod-eu-1"),
        f.account("prod-eu-payments"),
        f.account("prod-us-1"),
    ];
    current.sort();
    assert_eq!(rows(&v, "current"), current, "{v}");
    assert!(bed.stackset_call_count().await > 0);
    assert_eq!(
        bed.stackset_calls_not_as("DELEGATED_ADMIN", &da).await,
        Vec::<String>::new()
    );

    // An unregistered member account: exit 1 naming the register command with its ID, and no
    // StackSet call.
    let member = f.account("prod-web");
    let env = member_env(&bed, &member).await;
    clear_log(&bed).await;
    let out = orgscope(&bed, &args, &env).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).replace('\n', " ");
    assert!(err.contains("register-delegated-administrator"), "{err}");
    assert!(err.contains(&member), "{err}");
    assert_eq!(bed.stackset_call_count().await, 0);
}

/// The CLI tests run under exactly the documented policy, and the test bed refuses what it
/// does not allow: without `cloudformation:ListStackInstances`, `status` fails naming the
/// refused action (AWS's AccessDenied message) instead of showing a wrong picture.
#[tokio::test]
async fn status_under_a_policy_without_list_stack_instances_fails_naming_the_action() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let mut policy = documented_policy();
    for st in policy["Statement"].as_array_mut().unwrap() {
        if let Some(actions) = st["Action"].as_array_mut() {
            actions.retain(|a| a != "cloudformation:ListStackInstances");
        }
    }
    let p = bed
        .principal_with("orgscope-user", e2e::MANAGEMENT_ACCOUNT, vec![policy])
        .await;
    let env: Vec<(&str, String)> = vec![
        ("AWS_ACCESS_KEY_ID", p.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", p.secret_access_key),
        ("AWS_SESSION_TOKEN", p.session_token),
    ];
    let ou = f.ou("Root/Prod");
    let out = orgscope(
        &bed,
        &["status", "--target-ou-ids", &ou, "--account-scope", "ALL"],
        &env,
    )
    .await;
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cloudformation:ListStackInstances"),
        "the refusal is named: {err}"
    );
    let denied = bed.denied().await;
    assert!(
        !denied.is_empty() && denied.iter().all(|(a, _)| a == "ListStackInstances"),
        "{denied:?}"
    );
}

/// An account under a quarantine SCP (the test bed's `quarantine`: the StackSets execution
/// role denied in AWS's words) is shown failed with AWS's reason and what happens next: it is
/// retried at the next scheduled run, without counting toward giving up.
#[tokio::test]
async fn status_shows_a_quarantined_account_with_the_reason_and_what_will_happen() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let waiting = f.account("prod-eu-1");
    bed.control("quarantine", json!({"account_id": waiting}))
        .await;
    deploy(&bed, &f, "op-create-quarantine").await;
    clear_log(&bed).await;
    let eu = f.ou("Root/Prod/EU");
    let args = ["status", "--target-ou-ids", &eu, "--account-scope", "ALL"];
    let v = json(&orgscope(&bed, &[&args[..], &["--output", "json"]].concat(), &[]).await);
    assert_eq!(rows(&v, "failed"), vec![waiting.as_str()]);
    let row = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == waiting.as_str())
        .unwrap();
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains("assumed-role/stacksets-exec-")
            && detail.ends_with("with an explicit deny in a service control policy"),
        "{row}"
    );
    let advice = row["advice"].as_str().unwrap();
    assert!(
        advice.starts_with(&format!(
            "account {waiting}: a service control policy or the account's setup denies the \
             StackSets execution role; it will be retried at the next scheduled run, without \
             counting toward giving up"
        )),
        "{row}"
    );
    let out = orgscope(&bed, &args, &[]).await;
    let text = stdout(&out);
    assert_fits(&text);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!(
            "fix: account {waiting}: a service control policy or the account's setup denies the \
             StackSets execution role; it will be retried at the next scheduled run"
        )),
        "{text}"
    );
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}
