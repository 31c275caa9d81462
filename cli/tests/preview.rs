//! `orgscope plan --stack-set-name`: the preview of a scope change against the StackSet, on
//! the sample organization in the local test bed, run as the CI workflow's role: a principal
//! holding only docs/ci/scope-preview-policy.json (the emulator enforces IAM, so a call the
//! policy does not allow fails with AccessDenied).

mod common;

use std::process::Output;

use common::*;
use e2e::{Fixture, TestBed, REGION, STACK_SET};
use serde_json::Value;

/// The read-only policy the workflow's role holds.
fn ci_policy() -> Value {
    let path = e2e::repo_root().join("docs/ci/scope-preview-policy.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the CI policy file"))
        .expect("the CI policy is JSON")
}

/// Runs the CLI as the CI role of the management account.
async fn run_as_ci(bed: &TestBed, args: &[String]) -> Output {
    run_as_ci_in(bed, e2e::MANAGEMENT_ACCOUNT, args).await
}

/// Runs the CLI as the CI role of `account` (where the stack is deployed).
async fn run_as_ci_in(bed: &TestBed, account: &str, args: &[String]) -> Output {
    let ci = bed
        .principal_with("scope-preview-ci", account, vec![ci_policy()])
        .await;
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orgscope"))
        .args(args)
        .envs(bed.env_as(&ci))
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("STACK_SET_NAME")
        .env_remove("TARGET_ACCOUNT_TAGS")
        .env_remove("EXCLUDED_ACCOUNT_TAGS")
        .output()
        .await
        .expect("run orgscope")
}

/// `plan` over `ous` (paths of the sample organization) against the StackSet.
fn plan_args(
    f: &Fixture,
    ous: &[&str],
    mode: &str,
    listed: &[&str],
    extra: &[&str],
) -> Vec<String> {
    let ous: Vec<String> = ous.iter().map(|p| f.ou(p)).collect();
    let listed: Vec<String> = listed.iter().map(|n| f.account(n)).collect();
    let mut v: Vec<String> = vec![
        "plan".into(),
        "--target-ou-ids".into(),
        ous.join(","),
        "--account-scope".into(),
        mode.into(),
        "--target-account-ids".into(),
        listed.join(","),
        "--stack-set-name".into(),
        STACK_SET.into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// What the StackSet has now: instances for every account under `ous`, as a stack with that
/// scope deployed them.
async fn deploy(bed: &TestBed, f: &Fixture, ous: &[&str]) {
    let mut targets = aws_sdk_cloudformation::types::DeploymentTargets::builder();
    for p in ous {
        targets = targets.organizational_unit_ids(f.ou(p));
    }
    cfn(bed)
        .await
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(targets.build())
        .regions(REGION)
        .operation_id("op-create-1")
        .send()
        .await
        .expect("CreateStackInstances");
    wait_idle(bed).await;
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The account names of one list of `--output json`, sorted.
fn names(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v:#}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn row<'a>(v: &'a Value, key: &str, name: &str) -> &'a Value {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {key}: {v:#}"))
}

/// Compares `got` with the file under cli/tests/snapshots/; `ORGSCOPE_UPDATE_SNAPSHOTS=1`
/// writes it instead.
fn assert_file_snapshot(file: &str, got: &str) {
    let path = e2e::repo_root().join("cli/tests/snapshots").join(file);
    if std::env::var_os("ORGSCOPE_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, got).expect("write the snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with ORGSCOPE_UPDATE_SNAPSHOTS=1 to write it",
            path.display()
        )
    });
    assert!(
        want == got,
        "{file} differs (ORGSCOPE_UPDATE_SNAPSHOTS=1 rewrites it)\n--- want\n{want}\n--- got\n{got}"
    );
}

/// The StackSet holds Staging and Prod/US; the change asks for Prod less prod-eu-pci.
#[tokio::test]
async fn markdown_preview_of_a_scope_change_on_the_sample_organization() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    deploy(&bed, &f, &["Root/Staging", "Root/Prod/US"]).await;
    clear_log(&bed).await;

    let args = plan_args(
        &f,
        &["Root/Prod"],
        "DIFFERENCE",
        &["prod-eu-pci"],
        &["--output", "markdown", "--detailed-exitcode"],
    );
    let out = run_as_ci(&bed, &args).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "changes exit 2: {}",
        stderr(&out)
    );
    let md = stdout(&out);
    assert_file_snapshot("preview__sample_markdown.md", &redact(&md, &f));
    assert!(md.starts_with(&format!("<!-- orgscope-plan {STACK_SET} -->\n")));

    let args = plan_args(
        &f,
        &["Root/Prod"],
        "DIFFERENCE",
        &["prod-eu-pci"],
        &["--output", "json"],
    );
    let out = run_as_ci(&bed, &args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        names(&v, "gain"),
        ["prod-data", "prod-eu-1", "prod-eu-payments", "prod-web"]
    );
    assert_eq!(
        names(&v, "loss"),
        ["staging-1", "staging-2", "staging-suspended"]
    );
    assert_eq!(names(&v, "unchanged"), ["prod-eu-pci", "prod-us-1"]);
    assert_eq!(v["counts"]["gain"], 4);
    assert_eq!(v["counts"]["loss"], 3);
    assert_eq!(v["changes"], true);
    // Each with its reason: the target OU or the AccountScope rule.
    let prod_eu_1 = row(&v, "gain", "prod-eu-1");
    assert!(prod_eu_1["reason"]
        .as_str()
        .unwrap()
        .contains(&format!("under target Root/Prod ({})", f.ou("Root/Prod"))));
    let staging = row(&v, "loss", "staging-1");
    assert_eq!(
        staging["reason"],
        "not under any target OU: Port's role is deleted"
    );
    assert_eq!(
        staging["ou_path"],
        format!("Root/Staging ({})", f.ou("Root/Staging"))
    );
    let suspended = row(&v, "loss", "staging-suspended")["reason"]
        .as_str()
        .unwrap();
    assert!(suspended.contains("RetainStacks"), "{suspended}");
    let pci = row(&v, "unchanged", "prod-eu-pci");
    assert_eq!(pci["has_role_after"], false);
    assert!(pci["reason"]
        .as_str()
        .unwrap()
        .contains("DIFFERENCE: excluded by TargetAccountIds"));
    assert_eq!(row(&v, "unchanged", "prod-us-1")["has_role_after"], true);
    // A preview: nothing changed in AWS.
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
    assert_eq!(bed.instance_accounts(STACK_SET).await.len(), 4);
}

/// `--detailed-exitcode`: 0 no change, 2 changes (a gain, a loss), 1 any error.
#[tokio::test]
async fn detailed_exit_codes_tell_no_change_gain_loss_and_error_apart() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    deploy(&bed, &f, &["Root/Prod/US"]).await;
    let code = |o: &Output| o.status.code();
    let d = ["--detailed-exitcode", "--output", "json"];

    // The scope the StackSet already has.
    let out = run_as_ci(&bed, &plan_args(&f, &["Root/Prod/US"], "ALL", &[], &d)).await;
    assert_eq!(code(&out), Some(0), "no change: {}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["changes"], false);
    assert_eq!(names(&v, "unchanged"), ["prod-us-1"]);

    // Gain only: Staging added (its suspended account stays out).
    let out = run_as_ci(
        &bed,
        &plan_args(&f, &["Root/Prod/US", "Root/Staging"], "ALL", &[], &d),
    )
    .await;
    assert_eq!(code(&out), Some(2), "gain: {}", stderr(&out));
    let v = json(&out);
    assert_eq!(names(&v, "gain"), ["staging-1", "staging-2"]);
    assert!(names(&v, "loss").is_empty());
    assert!(row(&v, "unchanged", "staging-suspended")["reason"]
        .as_str()
        .unwrap()
        .contains("SUSPENDED"));

    // Loss only: prod-us-1 excluded by the list.
    let out = run_as_ci(
        &bed,
        &plan_args(&f, &["Root/Prod/US"], "DIFFERENCE", &["prod-us-1"], &d),
    )
    .await;
    assert_eq!(code(&out), Some(2), "loss: {}", stderr(&out));
    let v = json(&out);
    assert!(names(&v, "gain").is_empty());
    assert_eq!(names(&v, "loss"), ["prod-us-1"]);

    // Under RETAIN the same change keeps the role: no change.
    let mut retain = d.to_vec();
    retain.extend(["--on-account-leaves-scope", "RETAIN"]);
    let out = run_as_ci(
        &bed,
        &plan_args(&f, &["Root/Prod/US"], "DIFFERENCE", &["prod-us-1"], &retain),
    )
    .await;
    assert_eq!(code(&out), Some(0), "retain: {}", stderr(&out));

    // Errors exit 1, never 2, each naming the bad value.
    let mut missing = plan_args(&f, &["Root/Prod/US"], "ALL", &[], &d);
    let at = missing.iter().position(|a| a == STACK_SET).unwrap();
    missing[at] = "No-Such-StackSet".into();
    let out = run_as_ci(&bed, &missing).await;
    assert_eq!(code(&out), Some(1), "missing StackSet");
    assert!(
        stderr(&out).contains("`No-Such-StackSet` does not exist"),
        "{}",
        stderr(&out)
    );

    let mut bad_ou = plan_args(&f, &["Root/Prod/US"], "ALL", &[], &d);
    bad_ou[2] = "ou-bad".into();
    let out = run_as_ci(&bed, &bad_ou).await;
    assert_eq!(code(&out), Some(1), "malformed OU ID");
    assert!(stderr(&out).contains("ou-bad"), "{}", stderr(&out));

    let mut unknown_ou = plan_args(&f, &["Root/Prod/US"], "ALL", &[], &d);
    let root_part = f.ou("Root/Prod/US");
    let fake = format!("{}zzzzzzzz", &root_part[..root_part.len() - 8]);
    unknown_ou[2] = fake.clone();
    let out = run_as_ci(&bed, &unknown_ou).await;
    assert_eq!(
        code(&out),
        Some(1),
        "OU not in the organization: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(&fake), "{}", stderr(&out));

    // A usage error (a bad --output) must not read as "changes" either.
    let mut usage = plan_args(&f, &["Root/Prod/US"], "ALL", &[], &["--detailed-exitcode"]);
    usage.extend(["--output".into(), "markdwn".into()]);
    let out = run_as_ci(&bed, &usage).await;
    assert_eq!(code(&out), Some(1), "usage error: {}", stderr(&out));
}

/// With the stack in a delegated administrator (`--management-account-id`, as the workflow
/// passes the stack's parameter), the CI role there reads the management account's StackSet
/// with `CallAs DELEGATED_ADMIN`, under the same read-only policy.
#[tokio::test]
async fn from_a_delegated_administrator_the_preview_reads_the_stack_set_as_delegated_admin() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let da = f.account(e2e::DeployAs::DELEGATED_ADMIN_ACCOUNT);
    let conf = bed.deploy_config(e2e::DeployAs::DelegatedAdmin, &f).await;
    bed.create_stack_set_as(&conf, e2e::DeployAs::DelegatedAdmin)
        .await;
    deploy(&bed, &f, &["Root/Prod/US"]).await;
    clear_log(&bed).await;
    let management = f.management();
    let args = plan_args(
        &f,
        &["Root/Prod/US", "Root/Staging"],
        "ALL",
        &[],
        &[
            "--management-account-id",
            &management,
            "--detailed-exitcode",
            "--output",
            "json",
        ],
    );
    let out = run_as_ci_in(&bed, &da, &args).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(names(&v, "gain"), ["staging-1", "staging-2"]);
    assert_eq!(names(&v, "unchanged"), ["prod-us-1", "staging-suspended"]);
    assert!(bed.stackset_call_count().await > 0);
    assert_eq!(
        bed.stackset_calls_not_as("DELEGATED_ADMIN", &da).await,
        Vec::<String>::new()
    );
}

/// Issue 23: a tag filter added to a deployed scope, previewed by the CI role (its policy
/// allows `ListTagsForResource`): the accounts the filter drops lose the role, each with the
/// term and its value; the kept ones are unchanged, with the term they met; the text and the
/// pull-request comment state the filter and its order.
#[tokio::test]
async fn a_tag_filter_on_a_deployed_scope_previews_the_accounts_it_drops_with_their_tags() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    deploy(&bed, &f, &["Root/Prod"]).await;
    let tags = [
        "--target-account-tags",
        "env=prod",
        "--excluded-account-tags",
        "port:exclude=true",
    ];
    let json_args = plan_args(
        &f,
        &["Root/Prod"],
        "ALL",
        &[],
        &[&tags[..], &["--output", "json"]].concat(),
    );
    let out = run_as_ci(&bed, &json_args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(names(&v, "gain"), Vec::<String>::new());
    assert_eq!(names(&v, "loss"), ["prod-eu-1", "prod-eu-pci"]);
    assert_eq!(
        row(&v, "loss", "prod-eu-1")["reason"],
        "TargetAccountTags: `env=prod` is unmet (it has no env tag): Port's role is deleted"
    );
    assert_eq!(
        row(&v, "loss", "prod-eu-pci")["reason"],
        "ExcludedAccountTags: `port:exclude=true` matches (its port:exclude tag is `true`), \
         which excludes it whatever else says: Port's role is deleted"
    );
    assert!(row(&v, "unchanged", "prod-web")["reason"]
        .as_str()
        .unwrap()
        .ends_with("; TargetAccountTags `env=prod` met: keeps Port's role"));
    assert_eq!(v["target_account_tags"], "env=prod");
    assert_eq!(v["excluded_account_tags"], "port:exclude=true");

    let md_args = plan_args(
        &f,
        &["Root/Prod"],
        "ALL",
        &[],
        &[&tags[..], &["--output", "markdown"]].concat(),
    );
    let md = String::from_utf8(run_as_ci(&bed, &md_args).await.stdout).unwrap();
    assert!(
        md.contains(
            "Tags: TargetAccountTags env=prod (all must match); ExcludedAccountTags \
             port:exclude=true (any one excludes)  \nOrder: the account tags narrow the accounts \
             the target OUs give, then ALL keeps every account left."
        ),
        "{md}"
    );
}

/// The workflow's policy only reads: every action is a Describe, List or Get.
#[test]
fn the_ci_policy_only_reads() {
    let p = ci_policy();
    let mut actions = 0;
    for s in p["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        for a in s["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            let verb = a.split(':').nth(1).unwrap();
            assert!(
                ["Describe", "List", "Get"]
                    .iter()
                    .any(|v| verb.starts_with(v)),
                "{a} is not read-only"
            );
            actions += 1;
        }
    }
    // 12 since issue 23: organizations:ListTagsForResource, for a scope with a tag filter.
    assert_eq!(actions, 12);
}

fn samconfig_scope(args: &[&str]) -> std::process::Output {
    std::process::Command::new("python3")
        .arg(e2e::repo_root().join("scripts/samconfig-scope"))
        .args(args)
        .output()
        .expect("run scripts/samconfig-scope")
}

/// The workflow reads the scope from samconfig.toml: the parameters `sam deploy --guided` saved
/// (a `Key="value"` string, or a list of `Key=value`), the template's defaults for the others.
#[test]
fn samconfig_scope_gives_the_workflow_the_saved_parameters_and_the_defaults() {
    let dir = std::env::temp_dir().join(format!("samconfig-scope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("samconfig.toml");
    std::fs::write(
        &file,
        r#"version = 0.1
[default.deploy.parameters]
parameter_overrides = "TargetOUIds=\"ou-ab12-11111111,ou-ab12-22222222\" AccountScope=\"DIFFERENCE\" TargetAccountIds=\"111111111111\" TargetAccountTags=\"env=prod|staging,team\" PortOrgId=\"org_x\""
[prod.deploy.parameters]
parameter_overrides = ["TargetOUIds=r-ab12", "OnAccountLeavesScope=RETAIN", "StackSetName=Port-Prod"]
"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = samconfig_scope(&[path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "TARGET_OU_IDS=ou-ab12-11111111,ou-ab12-22222222\nACCOUNT_SCOPE=DIFFERENCE\n\
         TARGET_ACCOUNT_IDS=111111111111\nTARGET_ACCOUNT_TAGS=env=prod|staging,team\n\
         EXCLUDED_ACCOUNT_TAGS=\nSTACK_SET_NAME=Port-Integration-v3\n\
         ON_ACCOUNT_LEAVES_SCOPE=DELETE\nMANAGEMENT_ACCOUNT_ID=\n"
    );
    let out = samconfig_scope(&[path, "prod"]);
    assert_eq!(
        stdout(&out),
        "TARGET_OU_IDS=r-ab12\nACCOUNT_SCOPE=ALL\nTARGET_ACCOUNT_IDS=\n\
         TARGET_ACCOUNT_TAGS=\nEXCLUDED_ACCOUNT_TAGS=\n\
         STACK_SET_NAME=Port-Prod\nON_ACCOUNT_LEAVES_SCOPE=RETAIN\nMANAGEMENT_ACCOUNT_ID=\n"
    );
    // This repository's samconfig.toml saves no parameters on purpose: an error naming it.
    let ours = e2e::repo_root().join("samconfig.toml");
    let out = samconfig_scope(&[ours.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no TargetOUIds"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
