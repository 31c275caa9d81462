//! The bad-input corpus for the org-events configuration (issue 7). Environment variables are
//! always strings, so the JSON-typed rows of the custom resource (a number, a list with a
//! non-string) have no counterpart here; everything else does.
//!
//! - Pure input rows: `Config::from_env` fails with the scope engine's message (naming the
//!   value and the fix), and the real binary, pointed at the test bed, fails its start-up with
//!   the same message and makes no AWS request.
//! - Rows only AWS can judge (unknown OU, foreign root, missing or self-managed StackSet): the
//!   scheduled run fails naming the value, with no mutating StackSet call. A listed account
//!   that is not in the organization is tolerated with a warning (it may have left since the
//!   stack was deployed): the others still converge.
//! - Odd but valid values are accepted and converge on exactly the right accounts.
//!
//! Run: `cargo test -p org-events --test bad_input`

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{event, function_config, mutating};
use e2e::{Deployment, Fixture, Function, TestBed, REGION, STACK_SET};
use org_events::{Config, Handler, Invocation};
use serde_json::json;
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::ports::TokioClock;

const MB: usize = 1 << 20;
/// Linux refuses to exec with a single environment string over 128 KiB (MAX_ARG_STRLEN), so
/// larger values are checked through `Config::from_env` only.
const EXEC_LIMIT: usize = 128 * 1024 - 64;

type Env = BTreeMap<String, String>;

fn valid(f: &Fixture) -> Env {
    BTreeMap::from([
        ("TARGET_OU_IDS".to_owned(), f.ou("Root/Prod/US")),
        ("ACCOUNT_SCOPE".to_owned(), "ALL".to_owned()),
        ("TARGET_ACCOUNT_IDS".to_owned(), String::new()),
        ("STACK_SET_NAME".to_owned(), STACK_SET.to_owned()),
        ("STACK_SET_REGIONS".to_owned(), REGION.to_owned()),
        ("SETTLE_SECONDS".to_owned(), "0".to_owned()),
    ])
}

fn with(f: &Fixture, pairs: &[(&str, &str)]) -> Env {
    let mut e = valid(f);
    for (k, v) in pairs {
        e.insert((*k).to_owned(), (*v).to_owned());
    }
    e
}

fn without(f: &Fixture, key: &str) -> Env {
    let mut e = valid(f);
    e.remove(key);
    e
}

/// DIFFERENCE over Root/Prod excluding `accounts`.
fn diff(f: &Fixture, accounts: &str) -> Env {
    with(
        f,
        &[
            ("TARGET_OU_IDS", &f.ou("Root/Prod")),
            ("ACCOUNT_SCOPE", "DIFFERENCE"),
            ("TARGET_ACCOUNT_IDS", accounts),
        ],
    )
}

struct Row {
    name: &'static str,
    env: Env,
    want: Vec<String>,
}

fn row(name: &'static str, env: Env, want: &[&str]) -> Row {
    Row {
        name,
        env,
        want: want.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn input_rows(f: &Fixture) -> Vec<Row> {
    let ou = f.ou("Root/Prod/US");
    let st = f.ou("Root/Staging");
    let upper = ou.to_ascii_uppercase();
    let fffd = format!("{}\u{FFFD}", &ou[..ou.len() - 1]);
    let esc = format!("{}\u{1b}{}", &ou[..7], &ou[7..]);
    let esc_shown = format!("{}\\u{{1b}}{}", &ou[..7], &ou[7..]);
    let ids: Vec<String> = (0..10_000)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i))
        .collect();
    let ids_1001 = ids[..1001].join(",");
    let ids_10k = ids.join(",");
    vec![
        // TARGET_OU_IDS
        row(
            "ou_uppercase",
            with(f, &[("TARGET_OU_IDS", &upper)]),
            &[&format!("`{upper}`"), "all lowercase"],
        ),
        row(
            "ou_space_separated",
            with(f, &[("TARGET_OU_IDS", &format!("{ou} {st}"))]),
            &["separate OU IDs with commas, not spaces or semicolons"],
        ),
        row(
            "ou_semicolon_separated",
            with(f, &[("TARGET_OU_IDS", &format!("{ou};{st}"))]),
            &[&format!("`{ou};{st}`"), "separate OU IDs with commas"],
        ),
        row(
            "ou_in_quotes",
            with(f, &[("TARGET_OU_IDS", &format!("\"{ou}\""))]),
            &["remove the quotes"],
        ),
        row(
            "ou_json_array_as_a_string",
            with(f, &[("TARGET_OU_IDS", &format!("[\"{ou}\"]"))]),
            &[
                "TargetOUIds: the value looks like a JSON array",
                "comma-separated",
            ],
        ),
        row(
            "ou_organization_id",
            with(f, &[("TARGET_OU_IDS", "o-abcdefghij")]),
            &["`o-abcdefghij`", "give the root ID"],
        ),
        row(
            "ou_a_name",
            with(f, &[("TARGET_OU_IDS", "Prod")]),
            &["`Prod` is not an OU or root ID", "ou-abcd-12345678"],
        ),
        row(
            "ou_empty",
            with(f, &[("TARGET_OU_IDS", "")]),
            &["TargetOUIds is empty", "Give at least one OU ID"],
        ),
        row(
            "ou_whitespace_only",
            with(f, &[("TARGET_OU_IDS", " \t, \n")]),
            &["TargetOUIds is empty"],
        ),
        row(
            "ou_unset",
            without(f, "TARGET_OU_IDS"),
            &["TargetOUIds is empty"],
        ),
        row(
            "ou_replacement_character",
            with(f, &[("TARGET_OU_IDS", &fffd)]),
            &[&format!("`{fffd}`")],
        ),
        row(
            "ou_control_character",
            with(f, &[("TARGET_OU_IDS", &esc)]),
            &[&format!("`{esc_shown}`")],
        ),
        row(
            "ou_one_megabyte",
            with(f, &[("TARGET_OU_IDS", &"o".repeat(MB))]),
            &["TargetOUIds: the value is 1048576 bytes long; at most 65536"],
        ),
        // TARGET_ACCOUNT_IDS
        row(
            "account_11_digits",
            diff(f, "12345678901"),
            &["`12345678901`", "11 digits", "leading zeros"],
        ),
        row(
            "account_13_digits",
            diff(f, "1234567890123"),
            &["`1234567890123`", "13 digits"],
        ),
        row(
            "account_letters",
            diff(f, "12345678901a"),
            &["`12345678901a`", "exactly 12 digits"],
        ),
        row(
            "account_leading_plus",
            diff(f, "+123456789012"),
            &["`+123456789012`", "no sign; remove it"],
        ),
        row(
            "account_scientific_notation",
            diff(f, "1.23457E+11"),
            &[
                "`1.23457E+11`",
                "scientific notation",
                "format the column as text",
            ],
        ),
        row(
            "account_semicolon_separated",
            diff(f, "123456789012;234567890123"),
            &["separate account IDs with commas"],
        ),
        row(
            "account_space_separated",
            diff(f, "123456789012 234567890123"),
            &["`123456789012 234567890123`", "not spaces or semicolons"],
        ),
        row(
            "account_json_array_as_a_string",
            diff(f, "[\"123456789012\"]"),
            &["TargetAccountIds: the value looks like a JSON array"],
        ),
        row("account_is_an_ou", diff(f, &ou), &["put it in TargetOUIds"]),
        row(
            "account_replacement_character",
            diff(f, "12345678901\u{FFFD}"),
            &["`12345678901\u{FFFD}`", "exactly 12 digits"],
        ),
        row(
            "account_tab_inside",
            diff(f, "123456\t789012"),
            &["`123456\\t789012`"],
        ),
        row(
            "account_1001_ids",
            diff(f, &ids_1001),
            &[
                "TargetAccountIds: 1001 IDs given; at most 1000",
                "target their OU",
            ],
        ),
        row(
            "account_10000_ids",
            diff(f, &ids_10k),
            &["TargetAccountIds: the value is 129999 bytes long; at most 65536"],
        ),
        row(
            "account_one_megabyte",
            diff(f, &"1".repeat(MB)),
            &["TargetAccountIds: the value is 1048576 bytes long"],
        ),
        // ACCOUNT_SCOPE
        row(
            "scope_unknown",
            with(f, &[("ACCOUNT_SCOPE", "SOME")]),
            &[
                "`SOME` is not one of ALL, INTERSECTION, DIFFERENCE",
                "INTERSECTION: only",
            ],
        ),
        row(
            "scope_empty",
            with(f, &[("ACCOUNT_SCOPE", "")]),
            &["AccountScope: `` is not one of ALL"],
        ),
        row(
            "scope_whitespace_only",
            with(f, &[("ACCOUNT_SCOPE", "   ")]),
            &["AccountScope: `   ` is not one of ALL"],
        ),
        row(
            "scope_replacement_character",
            with(f, &[("ACCOUNT_SCOPE", "ALL\u{FFFD}")]),
            &["`ALL\u{FFFD}` is not one of"],
        ),
        row(
            "intersection_without_accounts",
            with(f, &[("ACCOUNT_SCOPE", "INTERSECTION")]),
            &[
                "INTERSECTION but TargetAccountIds is empty",
                "List the accounts",
            ],
        ),
        row(
            "intersection_whitespace_accounts",
            with(
                f,
                &[
                    ("ACCOUNT_SCOPE", "INTERSECTION"),
                    ("TARGET_ACCOUNT_IDS", " , \n"),
                ],
            ),
            &["nothing would be deployed"],
        ),
        row(
            "difference_without_accounts",
            with(f, &[("ACCOUNT_SCOPE", "DIFFERENCE")]),
            &["nothing to exclude"],
        ),
        row(
            "all_with_accounts",
            with(f, &[("TARGET_ACCOUNT_IDS", "123456789012")]),
            &["would be ignored", "Leave TargetAccountIds empty"],
        ),
        // STACK_SET_NAME
        row(
            "stack_set_invalid_characters",
            with(f, &[("STACK_SET_NAME", "Port_Integration v3!")]),
            &[
                "`Port_Integration v3!` is not a valid StackSet name",
                "letters, digits and hyphens",
            ],
        ),
        row(
            "stack_set_empty",
            with(f, &[("STACK_SET_NAME", "")]),
            &["StackSetName is required"],
        ),
        row(
            "stack_set_whitespace_only",
            with(f, &[("STACK_SET_NAME", "  ")]),
            &["StackSetName is required"],
        ),
        row(
            "stack_set_unset",
            without(f, "STACK_SET_NAME"),
            &["StackSetName is required", "default: Port-Integration-v3"],
        ),
        row(
            "stack_set_replacement_character",
            with(f, &[("STACK_SET_NAME", "Port\u{FFFD}")]),
            &["`Port\u{FFFD}` is not a valid StackSet name"],
        ),
        // The others
        row(
            "on_leave_invalid",
            with(f, &[("ON_ACCOUNT_LEAVES_SCOPE", "KEEP")]),
            &["OnAccountLeavesScope: `KEEP` is not DELETE or RETAIN"],
        ),
        row(
            "regions_invalid",
            with(f, &[("STACK_SET_REGIONS", "Europe")]),
            &[
                "Regions: `Europe` is not an AWS region name",
                "us-east-1,eu-west-1",
            ],
        ),
        row(
            "regions_semicolon",
            with(f, &[("STACK_SET_REGIONS", "us-east-1;eu-west-1")]),
            &["`us-east-1;eu-west-1` is not an AWS region name"],
        ),
        row(
            "max_retry_attempts_not_a_number",
            with(f, &[("MAX_RETRY_ATTEMPTS", "many")]),
            &["MAX_RETRY_ATTEMPTS: `many` is not a whole number from 0 to 100"],
        ),
        row(
            "max_retry_attempts_too_big",
            with(f, &[("MAX_RETRY_ATTEMPTS", "1000")]),
            &["MAX_RETRY_ATTEMPTS: `1000`"],
        ),
        row(
            "settle_seconds_negative",
            with(f, &[("SETTLE_SECONDS", "-1")]),
            &["SETTLE_SECONDS: `-1` is not a number of seconds from 0 to 600"],
        ),
        row(
            "settle_max_seconds_nan",
            with(f, &[("SETTLE_MAX_SECONDS", "NaN")]),
            &["SETTLE_MAX_SECONDS: `NaN`"],
        ),
    ]
}

/// Runs the real binary with `env` (and the test bed's endpoint); it must fail its start-up.
async fn start_binary(bed: &TestBed, env: &Env) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_org-events"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Never reached on a config error; present so that a bug would show as a request.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .envs(
            bed.function_env(Function::OrgEvents, &Deployment::management())
                .await,
        )
        .envs(env)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the binary ends promptly")
        .expect("run org-events");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[tokio::test]
async fn every_bad_configuration_fails_start_up_with_the_scope_engine_message_and_no_aws_call() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.control("requests/clear", json!({})).await;
    let rows = input_rows(&f);
    // FAULTS.md counts the rows: a lost row fails here.
    assert_eq!(rows.len(), 47, "FAULTS.md says 47 rows");
    println!("{} rows", rows.len());
    let mut problems = Vec::new();
    for row in &rows {
        let e = match Config::from_env(|k| row.env.get(k).cloned(), REGION) {
            Ok(c) => {
                problems.push(format!("[{}] accepted: {c:?}", row.name));
                continue;
            }
            Err(e) => e.to_string(),
        };
        for want in &row.want {
            if !e.contains(want.as_str()) {
                problems.push(format!("[{}] message lacks {want:?}: {e}", row.name));
            }
        }
        if e.len() > 1200 {
            problems.push(format!("[{}] message is {} bytes", row.name, e.len()));
        }
        // The real binary, when the OS lets such an environment through.
        if row.env.values().all(|v| v.len() < EXEC_LIMIT) {
            let (ok, logs) = start_binary(&bed, &row.env).await;
            if ok {
                problems.push(format!("[{}] the binary started", row.name));
            }
            if !logs.contains("invalid configuration") || !logs.contains(row.want[0].as_str()) {
                problems.push(format!(
                    "[{}] start-up output lacks the message: {logs}",
                    row.name
                ));
            }
            if logs.contains("panicked") {
                problems.push(format!("[{}] panicked: {logs}", row.name));
            }
        }
        println!("{:<36} {}", row.name, e.lines().next().unwrap_or_default());
    }
    let requests = bed.requests().await;
    assert!(
        requests.is_empty(),
        "a configuration error reached AWS: {:?}",
        requests.iter().map(|r| &r["action"]).collect::<Vec<_>>()
    );
    assert!(
        problems.is_empty(),
        "{} of {} rows wrong:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
}

fn handler(
    conf: &aws_config::SdkConfig,
    env: &Env,
) -> Handler<SdkOrganizations, CfnStackSets, TokioClock> {
    let config = Config::from_env(|k| env.get(k).cloned(), REGION).expect("syntactically valid");
    let mut h = Handler::new(
        SdkOrganizations::new(conf),
        CfnStackSets::new(conf),
        TokioClock,
        config,
    );
    h.engine.poll_initial = Duration::from_millis(100);
    h.engine.poll_max = Duration::from_millis(300);
    h
}

fn invocation(n: usize) -> Invocation {
    Invocation {
        request_id: format!("bad-input-{n:04}"),
        deadline: Instant::now() + Duration::from_secs(90),
    }
}

/// What the template gives the function in a stack deployed with each of these
/// `StackSetName`s (the rows below name several).
async fn for_stack_sets(bed: &TestBed, names: &[&str]) -> aws_config::SdkConfig {
    let each: Vec<Deployment> = names
        .iter()
        .map(|n| Deployment::management().for_stack_set(n))
        .collect();
    let p = bed
        .function_principal_for_each(Function::OrgEvents, &each)
        .await;
    bed.config_as(&p).await
}

#[tokio::test]
async fn values_only_aws_can_judge_fail_the_run_by_name_and_change_nothing() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.create_stack_set("Self-Managed-StackSet", false).await;
    let conf = for_stack_sets(
        &bed,
        &[STACK_SET, "Missing-StackSet", "Self-Managed-StackSet"],
    )
    .await;
    bed.control("requests/clear", json!({})).await;
    let rows = [
        row(
            "ou_does_not_exist",
            with(&f, &[("TARGET_OU_IDS", "ou-zzzz-99999999")]),
            &[
                "ou-zzzz-99999999 does not exist in this organization",
                "An OU ID looks like",
            ],
        ),
        row(
            "root_of_another_organization",
            with(&f, &[("TARGET_OU_IDS", "r-zz99")]),
            &["r-zz99 does not exist in this organization"],
        ),
        // Names the StackSet and says where it should come from (the engine's
        // `check_stack_set`, run before each reconcile).
        row(
            "stack_set_does_not_exist",
            with(&f, &[("STACK_SET_NAME", "Missing-StackSet")]),
            &[
                "StackSet `Missing-StackSet` does not exist in this region",
                "check StackSetName",
            ],
        ),
    ];
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let h = handler(&conf, &row.env);
        match h
            .handle(&event("scheduled.json", &[]), &invocation(i))
            .await
        {
            Ok(s) => problems.push(format!("[{}] succeeded: {s:?}", row.name)),
            Err(e) => {
                let e = e.to_string();
                for want in &row.want {
                    if !e.contains(want.as_str()) {
                        problems.push(format!("[{}] error lacks {want:?}: {e}", row.name));
                    }
                }
                println!("{:<32} {e}", row.name);
            }
        }
    }
    let calls: Vec<(String, String)> = bed
        .requests()
        .await
        .into_iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let m = mutating(&calls);
    if !m.is_empty() {
        problems.push(format!("mutating StackSet calls: {m:?}"));
    }
    assert!(bed.instances(STACK_SET).await.is_empty());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn a_listed_account_outside_the_organization_is_a_warning_and_the_rest_converges() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let conf = function_config(&bed).await;
    let env = diff(&f, &format!("000000000042,{}", f.account("prod-web")));
    let s = handler(&conf, &env)
        .handle(&event("scheduled.json", &[]), &invocation(0))
        .await
        .expect("the run goes on without the unknown account");
    assert!(
        s.warnings.iter().any(|w| w.contains("000000000042")),
        "{s:?}"
    );
    let mut want: Vec<String> = [
        "prod-data",
        "prod-eu-1",
        "prod-eu-payments",
        "prod-eu-pci",
        "prod-us-1",
    ]
    .iter()
    .map(|n| f.account(n))
    .collect();
    want.sort();
    assert_eq!(bed.instance_accounts(STACK_SET).await, want);
}

#[tokio::test]
async fn odd_but_valid_configuration_is_accepted_and_converges_exactly() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let conf = function_config(&bed).await;
    let (us, eu) = (f.ou("Root/Prod/US"), f.ou("Root/Prod/EU"));
    let a = |n: &str| f.account(n);
    let rows: Vec<(&str, Env, Vec<&str>)> = vec![
        (
            "all_in_lower_case",
            with(&f, &[("ACCOUNT_SCOPE", "all")]),
            vec!["prod-us-1"],
        ),
        (
            "scope_unset_means_all",
            without(&f, "ACCOUNT_SCOPE"),
            vec!["prod-us-1"],
        ),
        (
            "an_account_listed_twice",
            with(
                &f,
                &[
                    ("TARGET_OU_IDS", &eu),
                    ("ACCOUNT_SCOPE", "intersection"),
                    (
                        "TARGET_ACCOUNT_IDS",
                        &format!("{0}, {0},{1}", a("prod-eu-1"), a("prod-eu-pci")),
                    ),
                ],
            ),
            vec!["prod-eu-1", "prod-eu-pci"],
        ),
        (
            "trailing_commas_and_newlines",
            with(
                &f,
                &[
                    ("TARGET_OU_IDS", &format!("{us},\n{eu},{us},\n")),
                    ("ACCOUNT_SCOPE", " Difference "),
                    ("TARGET_ACCOUNT_IDS", &format!("{},\n", a("prod-eu-pci"))),
                    ("STACK_SET_REGIONS", "us-east-1,"),
                    ("ON_ACCOUNT_LEAVES_SCOPE", "delete"),
                    ("MAX_RETRY_ATTEMPTS", " "),
                ],
            ),
            vec!["prod-us-1", "prod-eu-1", "prod-eu-payments"],
        ),
        (
            "the_root_of_this_organization",
            with(&f, &[("TARGET_OU_IDS", &f.root())]),
            vec![
                "sandbox-orphan",
                "shared-services",
                "prod-web",
                "prod-data",
                "prod-eu-1",
                "prod-eu-payments",
                "prod-eu-pci",
                "prod-us-1",
                "staging-1",
                "staging-2",
            ],
        ),
    ];
    let mut problems = Vec::new();
    for (i, (name, env, names)) in rows.iter().enumerate() {
        let s = handler(&conf, env)
            .handle(&event("scheduled.json", &[]), &invocation(i))
            .await;
        let mut want: Vec<String> = names.iter().map(|n| f.account(n)).collect();
        want.sort();
        let got = bed.instance_accounts(STACK_SET).await;
        match s {
            Ok(s) if got == want && s.failures.is_empty() => {
                println!("{name:<32} {} account(s)", want.len())
            }
            other => problems.push(format!("[{name}] {other:?}: {got:?} want {want:?}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A missing or self-managed StackSet is explained, by name, before any change: org-events runs
/// the engine's `check_stack_set` before each reconcile, as the custom resource's preflight
/// does. (This test found that org-events had no such check: a missing StackSet gave "StackSet
/// X not found was not found", and a self-managed one got a CreateStackInstances call.)
#[tokio::test]
async fn a_missing_or_self_managed_stack_set_is_explained_before_any_change() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set("Self-Managed-StackSet", false).await;
    let conf = for_stack_sets(&bed, &["Missing-StackSet", "Self-Managed-StackSet"]).await;
    bed.control("requests/clear", json!({})).await;
    for (name, want) in [
        ("Missing-StackSet", "does not exist in this region"),
        ("Self-Managed-StackSet", "uses self-managed permissions"),
    ] {
        let env = with(&f, &[("STACK_SET_NAME", name)]);
        let e = handler(&conf, &env)
            .handle(&event("scheduled.json", &[]), &invocation(0))
            .await
            .expect_err("the run fails")
            .to_string();
        assert!(e.contains(name) && e.contains(want), "{e}");
    }
    assert_eq!(bed.mutating_stackset_calls().await, Vec::<String>::new());
}

/// A non-UTF-8 environment value cannot come from CloudFormation (template parameters are
/// strings), but "invalid configuration fails loudly at start-up" (issue 4). This test found
/// that `main.rs` read the environment with `std::env::var(k).ok()`, which turned a value that
/// is not UTF-8 into "unset" (ON_ACCOUNT_LEAVES_SCOPE=RETAIN with a stray byte silently became
/// the default DELETE); it now reads values lossily, so the parser rejects them by name.
#[tokio::test]
async fn a_non_utf8_environment_value_fails_start_up() {
    use std::os::unix::ffi::OsStrExt;
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let stub = e2e::lambda::LambdaStub::start(Duration::from_secs(30)).await;
    let mut env: Vec<(&str, String)> = bed
        .function_env(Function::OrgEvents, &Deployment::management())
        .await;
    env.push(("TARGET_OU_IDS", f.ou("Root/Prod")));
    env.push(("ACCOUNT_SCOPE", "ALL".into()));
    env.push(("STACK_SET_NAME", STACK_SET.into()));
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_org-events"));
    cmd.env("AWS_LAMBDA_RUNTIME_API", stub.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env(
            "ON_ACCOUNT_LEAVES_SCOPE",
            std::ffi::OsStr::from_bytes(b"RETAI\xffN"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "exited 0");
            break;
        }
        assert!(
            stub.first_next().is_none(),
            "start-up succeeded with a non-UTF-8 ON_ACCOUNT_LEAVES_SCOPE (read as DELETE)"
        );
        assert!(Instant::now() < deadline, "neither failed nor started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
