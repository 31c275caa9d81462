//! The bad-input corpus for `orgscope plan` (issue 7), against the sample organization in the
//! local test bed. A bad scope exits 2 with a message on stderr that names the value and the
//! fix, never panics, and (when the input alone is wrong) sends no AWS request. Problems only
//! AWS can see: an unknown OU or root exits 1 (the organization could not be read as asked); a
//! listed account outside the organization exits 2 (the scope is wrong). Odd but valid
//! input exits 0 with exactly the right accounts.
//!
//! `plan` takes no StackSet name, so the StackSet rows of the custom resource do not apply.
//! A 1 MB value cannot reach a command line at all (Linux refuses any single argument over
//! 128 KiB with E2BIG), so the over-long row uses 100 KB.
//!
//! Run: `cargo test -p orgscope --test bad_input`

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Output;

use e2e::{Fixture, TestBed};
use serde_json::{json, Value};

async fn plan(bed: &TestBed, ous: &str, mode: &str, accounts: &str, json_out: bool) -> Output {
    let mut args = vec![
        OsString::from("plan"),
        format!("--target-ou-ids={ous}").into(),
        format!("--account-scope={mode}").into(),
        format!("--target-account-ids={accounts}").into(),
    ];
    if json_out {
        args.push("--output=json".into());
    }
    run(bed, args).await
}

async fn run(bed: &TestBed, args: Vec<OsString>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orgscope"))
        .args(args)
        .env_remove("TARGET_OU_IDS")
        .env_remove("ACCOUNT_SCOPE")
        .env_remove("TARGET_ACCOUNT_IDS")
        .env_remove("TARGET_ACCOUNT_TAGS")
        .env_remove("EXCLUDED_ACCOUNT_TAGS")
        .envs(bed.env())
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("run orgscope")
}

struct Row {
    name: &'static str,
    ous: String,
    mode: &'static str,
    accounts: String,
    /// Exit code.
    code: i32,
    /// True when the input alone is wrong: no AWS request at all.
    pure: bool,
    want: Vec<String>,
}

fn rows(f: &Fixture) -> Vec<Row> {
    let ou = f.ou("Root/Prod/US");
    let prod = f.ou("Root/Prod");
    let st = f.ou("Root/Staging");
    let upper = ou.to_ascii_uppercase();
    let fffd = format!("{}\u{FFFD}", &ou[..ou.len() - 1]);
    let esc = format!("{}\u{1b}{}", &ou[..7], &ou[7..]);
    let esc_shown = format!("{}\\u{{1b}}{}", &ou[..7], &ou[7..]);
    let ids: Vec<String> = (0..10_000)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i))
        .collect();
    let r = |name: &'static str,
             ous: &str,
             mode: &'static str,
             accounts: &str,
             code: i32,
             pure: bool,
             want: &[&str]| Row {
        name,
        ous: ous.to_owned(),
        mode,
        accounts: accounts.to_owned(),
        code,
        pure,
        want: want.iter().map(|s| (*s).to_owned()).collect(),
    };
    let d = "DIFFERENCE";
    vec![
        r(
            "ou_uppercase",
            &upper,
            "ALL",
            "",
            2,
            true,
            &[&format!("`{upper}`"), "all lowercase"],
        ),
        r(
            "ou_space_separated",
            &format!("{ou} {st}"),
            "ALL",
            "",
            2,
            true,
            &["commas, not spaces"],
        ),
        r(
            "ou_semicolon_separated",
            &format!("{ou};{st}"),
            "ALL",
            "",
            2,
            true,
            &[&format!("`{ou};{st}`"), "commas"],
        ),
        r(
            "ou_in_quotes",
            &format!("\"{ou}\""),
            "ALL",
            "",
            2,
            true,
            &["remove the quotes"],
        ),
        r(
            "ou_json_array_as_a_string",
            &format!("[\"{ou}\"]"),
            "ALL",
            "",
            2,
            true,
            &["looks like a JSON array", "comma-separated"],
        ),
        r(
            "ou_organization_id",
            "o-abcdefghij",
            "ALL",
            "",
            2,
            true,
            &["`o-abcdefghij`", "give the root ID"],
        ),
        r(
            "ou_a_name",
            "Prod",
            "ALL",
            "",
            2,
            true,
            &["`Prod`", "ou-abcd-12345678"],
        ),
        r(
            "ou_empty",
            "",
            "ALL",
            "",
            2,
            true,
            &["TargetOUIds is empty", "Give at least one OU ID"],
        ),
        r(
            "ou_whitespace_only",
            " ,\n ",
            "ALL",
            "",
            2,
            true,
            &["TargetOUIds is empty"],
        ),
        r(
            "ou_replacement_character",
            &fffd,
            "ALL",
            "",
            2,
            true,
            &[&format!("`{fffd}`")],
        ),
        r(
            "ou_control_character",
            &esc,
            "ALL",
            "",
            2,
            true,
            &[&format!("`{esc_shown}`")],
        ),
        r(
            "ou_100_kb",
            &"o".repeat(100_000),
            "ALL",
            "",
            2,
            true,
            &["TargetOUIds: the value is 100000 bytes long; at most 65536"],
        ),
        r(
            "account_11_digits",
            &prod,
            d,
            "12345678901",
            2,
            true,
            &["`12345678901`", "11 digits"],
        ),
        r(
            "account_13_digits",
            &prod,
            d,
            "1234567890123",
            2,
            true,
            &["`1234567890123`", "13 digits"],
        ),
        r(
            "account_letters",
            &prod,
            d,
            "12345678901a",
            2,
            true,
            &["`12345678901a`", "exactly 12 digits"],
        ),
        r(
            "account_leading_plus",
            &prod,
            d,
            "+123456789012",
            2,
            true,
            &["`+123456789012`", "no sign"],
        ),
        r(
            "account_scientific_notation",
            &prod,
            d,
            "1.23457E+11",
            2,
            true,
            &["`1.23457E+11`", "scientific notation"],
        ),
        r(
            "account_semicolon_separated",
            &prod,
            d,
            "123456789012;234567890123",
            2,
            true,
            &["separate account IDs with commas"],
        ),
        r(
            "account_space_separated",
            &prod,
            d,
            "123456789012 234567890123",
            2,
            true,
            &["not spaces or semicolons"],
        ),
        r(
            "account_json_array_as_a_string",
            &prod,
            d,
            "[\"123456789012\"]",
            2,
            true,
            &["TargetAccountIds: the value looks like a JSON array"],
        ),
        r(
            "account_is_an_ou",
            &prod,
            d,
            &ou,
            2,
            true,
            &["put it in TargetOUIds"],
        ),
        r(
            "account_replacement_character",
            &prod,
            d,
            "12345678901\u{FFFD}",
            2,
            true,
            &["`12345678901\u{FFFD}`"],
        ),
        r(
            "account_1001_ids",
            &prod,
            d,
            &ids[..1001].join(","),
            2,
            true,
            &["1001 IDs given; at most 1000", "target their OU"],
        ),
        r(
            "account_10000_ids",
            &prod,
            d,
            &ids.join(","),
            2,
            true,
            &["129999 bytes long; at most 65536"],
        ),
        r(
            "scope_unknown",
            &ou,
            "SOME",
            "",
            2,
            true,
            &[
                "`SOME` is not one of ALL, INTERSECTION, DIFFERENCE",
                "DIFFERENCE: every account",
            ],
        ),
        r(
            "scope_empty",
            &ou,
            "",
            "",
            2,
            true,
            &["AccountScope: `` is not one of"],
        ),
        r(
            "scope_whitespace_only",
            &ou,
            "  ",
            "",
            2,
            true,
            &["AccountScope: `  ` is not one of"],
        ),
        r(
            "intersection_without_accounts",
            &ou,
            "INTERSECTION",
            "",
            2,
            true,
            &["nothing would be deployed", "List the accounts"],
        ),
        r(
            "difference_without_accounts",
            &ou,
            d,
            " , ",
            2,
            true,
            &["nothing to exclude"],
        ),
        r(
            "all_with_accounts",
            &ou,
            "ALL",
            "123456789012",
            2,
            true,
            &["would be ignored"],
        ),
        r(
            "ou_does_not_exist",
            "ou-zzzz-99999999",
            "ALL",
            "",
            1,
            false,
            &[
                "ou-zzzz-99999999 does not exist in this organization",
                "copy the ID",
            ],
        ),
        r(
            "root_of_another_organization",
            "r-zz99",
            "ALL",
            "",
            1,
            false,
            &["r-zz99 does not exist in this organization"],
        ),
        r(
            "account_not_in_the_organization",
            &f.root(),
            d,
            "000000000042",
            2,
            false,
            &[
                "000000000042",
                "not in this organization",
                "invite the account",
            ],
        ),
    ]
}

#[tokio::test]
async fn every_bad_scope_exits_nonzero_naming_the_value_without_panicking() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.control("requests/clear", json!({})).await;
    let rows = rows(&f);
    println!("{} rows", rows.len());
    let mut problems = Vec::new();
    for row in &rows {
        let before = bed.requests().await.len();
        let out = plan(&bed, &row.ous, row.mode, &row.accounts, false).await;
        let err = String::from_utf8_lossy(&out.stderr);
        let mut bad = |what: String| problems.push(format!("[{}] {what}", row.name));
        if out.status.code() != Some(row.code) {
            bad(format!(
                "exit {:?}, want {}: {err}",
                out.status.code(),
                row.code
            ));
        }
        for want in &row.want {
            if !err.contains(want.as_str()) {
                bad(format!("stderr lacks {want:?}: {err}"));
            }
        }
        if !err.starts_with("error: ") {
            bad(format!("stderr does not start with `error: `: {err}"));
        }
        if err.contains("panicked") || err.len() > 1500 {
            bad(format!("{} bytes of stderr: {err}", err.len()));
        }
        if !out.stdout.is_empty() {
            bad("printed a plan on stdout".into());
        }
        if row.pure {
            let after = bed.requests().await;
            if after.len() != before {
                bad(format!(
                    "{} AWS request(s) for a pure input error",
                    after.len() - before
                ));
            }
        }
        println!(
            "{:<34} exit {:?}  {}",
            row.name,
            out.status.code(),
            err.lines().next().unwrap_or_default()
        );
    }
    assert!(
        problems.is_empty(),
        "{} of {} rows wrong:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn arguments_that_are_not_utf8_are_refused_by_the_parser_with_exit_2() {
    let bed = TestBed::start().await;
    bed.control("requests/clear", json!({})).await;
    let mut bad_ou = b"--target-ou-ids=ou-abcd-1234".to_vec();
    bad_ou.extend_from_slice(&[0xff, 0xfe]);
    let out = run(&bed, vec!["plan".into(), OsString::from_vec(bad_ou)]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid UTF-8"), "{err}");
    assert!(err.contains("--target-ou-ids"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(bed.requests().await.is_empty());
}

#[tokio::test]
async fn odd_but_valid_scopes_exit_0_with_exactly_the_right_accounts() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let (us, eu) = (f.ou("Root/Prod/US"), f.ou("Root/Prod/EU"));
    let a = |n: &str| f.account(n);
    let cases: Vec<(&str, String, &str, String, Vec<&str>)> = vec![
        (
            "all_in_lower_case",
            us.clone(),
            "all",
            String::new(),
            vec!["prod-us-1"],
        ),
        (
            "an_account_listed_twice",
            eu.clone(),
            "intersection",
            format!("{0},{0}, {1}", a("prod-eu-1"), a("prod-eu-pci")),
            vec!["prod-eu-1", "prod-eu-pci"],
        ),
        (
            "trailing_commas_and_newlines",
            format!("{us},\n{eu},{us},"),
            " Difference ",
            format!("{},\n", a("prod-eu-pci")),
            vec!["prod-us-1", "prod-eu-1", "prod-eu-payments"],
        ),
        (
            "the_root_of_this_organization",
            f.root(),
            "ALL",
            String::new(),
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
    for (name, ous, mode, accounts, names) in cases {
        let out = plan(&bed, &ous, mode, &accounts, true).await;
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let mut got: Vec<String> = v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect();
        got.sort();
        let mut want: Vec<String> = names.iter().map(|n| f.account(n)).collect();
        want.sort();
        assert_eq!(got, want, "{name}");
    }
}
