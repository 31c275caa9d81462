//! The bad-input corpus (issue 7): every row goes through the handler with real SDK clients
//! against the test bed (sample organization, the StackSet created). A rejected row must be
//! answered FAILED, exactly once, with a Reason that names the bad value (or field) and the
//! fix, and must cause no mutating StackSet call; a row that is pure input (nothing for AWS to
//! say) must cause no AWS request at all. The accepted rows must answer SUCCESS with exactly
//! the right accounts.
//!
//! Run: `cargo test -p custom-resource --test bad_input`

mod common;

use common::{request, rig, rig_for_stack_sets};
use e2e::{Deployment, Fixture, Function, STACK_SET};
use serde_json::{json, Value};

/// A StackSet that is never created.
const MISSING_SET: &str = "Missing-StackSet";
/// A StackSet created with self-managed permissions.
const SELF_MANAGED_SET: &str = "Self-Managed-StackSet";

/// Where a rejection may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The properties alone are wrong: not a single AWS request may be made.
    Input,
    /// Only AWS can tell (unknown OU, foreign account, StackSet): read-only calls only.
    Aws,
}

struct Row {
    name: &'static str,
    /// `create` or `update`.
    kind: &'static str,
    props: Value,
    from: Source,
    /// Substrings the Reason must contain: the bad value (or the field) and the fix.
    want: Vec<String>,
}

fn valid(f: &Fixture) -> Value {
    json!({
        "TargetOUIds": f.ou("Root/Prod/US"),
        "AccountScope": "ALL",
        "TargetAccountIds": "",
        "StackSetName": STACK_SET,
    })
}

/// The valid properties with `key` set to `value` (`Value::Null` in `unset` removes it).
fn set(f: &Fixture, pairs: &[(&str, Value)]) -> Value {
    let mut p = valid(f);
    for (k, v) in pairs {
        p[*k] = v.clone();
    }
    p
}

fn unset(f: &Fixture, key: &str) -> Value {
    let mut p = valid(f);
    p.as_object_mut().unwrap().remove(key);
    p
}

/// DIFFERENCE over Root/Prod excluding `accounts` (the account-ID rows).
fn diff(f: &Fixture, accounts: Value) -> Value {
    set(
        f,
        &[
            ("TargetOUIds", json!(f.ou("Root/Prod"))),
            ("AccountScope", json!("DIFFERENCE")),
            ("TargetAccountIds", accounts),
        ],
    )
}

fn w(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn row(name: &'static str, props: Value, from: Source, want: &[&str]) -> Row {
    Row {
        name,
        kind: "create",
        props,
        from,
        want: w(want),
    }
}

/// `n` distinct, well-formed account IDs.
fn many_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
        .collect()
}

const MB: usize = 1 << 20;

fn rejected_rows(f: &Fixture) -> Vec<Row> {
    use Source::{Aws, Input};
    let ou = f.ou("Root/Prod/US");
    let upper = ou.to_ascii_uppercase();
    let fffd_ou = format!("{}\u{FFFD}", &ou[..ou.len() - 1]);
    let esc_ou = format!("{}\u{1b}{}", &ou[..7], &ou[7..]);
    let esc_ou_shown = format!("{}\\u{{1b}}{}", &ou[..7], &ou[7..]);
    let big_ids = many_ids(10_000);
    vec![
        // --- TargetOUIds -------------------------------------------------------------
        row(
            "ou_uppercase",
            set(f, &[("TargetOUIds", json!(upper))]),
            Input,
            &[&format!("`{upper}`"), "all lowercase"],
        ),
        row(
            "ou_two_separated_by_a_space",
            set(
                f,
                &[(
                    "TargetOUIds",
                    json!(format!("{ou} {}", f.ou("Root/Staging"))),
                )],
            ),
            Input,
            &[&ou, "separate OU IDs with commas, not spaces or semicolons"],
        ),
        row(
            "ou_two_separated_by_a_semicolon",
            set(
                f,
                &[(
                    "TargetOUIds",
                    json!(format!("{ou};{}", f.ou("Root/Staging"))),
                )],
            ),
            Input,
            &[&format!("{ou};"), "separate OU IDs with commas"],
        ),
        row(
            "ou_in_double_quotes",
            set(f, &[("TargetOUIds", json!(format!("\"{ou}\"")))]),
            Input,
            &[&format!("`\\\"{ou}\\\"`"), "remove the quotes"],
        ),
        row(
            "ou_in_single_quotes",
            set(f, &[("TargetOUIds", json!(format!("'{ou}'")))]),
            Input,
            &[&format!("`\\'{ou}\\'`"), "remove the quotes"],
        ),
        row(
            "ou_json_array_as_a_string",
            set(f, &[("TargetOUIds", json!(format!("[\"{ou}\"]")))]),
            Input,
            &[
                "TargetOUIds",
                "looks like a JSON array",
                "comma-separated list",
            ],
        ),
        row(
            "ou_is_the_organization_id",
            set(f, &[("TargetOUIds", json!("o-abcdefghij"))]),
            Input,
            &["`o-abcdefghij`", "organization ID", "give the root ID"],
        ),
        row(
            "ou_is_an_account_id",
            set(f, &[("TargetOUIds", json!(f.account("prod-us-1")))]),
            Input,
            &[&f.account("prod-us-1"), "put it in TargetAccountIds"],
        ),
        row(
            "ou_is_a_name",
            set(f, &[("TargetOUIds", json!("Prod"))]),
            Input,
            &[
                "`Prod`",
                "looks like ou-abcd-12345678",
                "list-organizational-units-for-parent",
            ],
        ),
        row(
            "ou_empty",
            set(f, &[("TargetOUIds", json!(""))]),
            Input,
            &["TargetOUIds is empty", "Give at least one OU ID"],
        ),
        row(
            "ou_whitespace_only",
            set(f, &[("TargetOUIds", json!(" \n\t , "))]),
            Input,
            &["TargetOUIds is empty", "Give at least one OU ID"],
        ),
        row(
            "ou_empty_list",
            set(f, &[("TargetOUIds", json!([]))]),
            Input,
            &["TargetOUIds is empty", "root ID (r-abcd)"],
        ),
        row(
            "ou_missing",
            unset(f, "TargetOUIds"),
            Input,
            &["TargetOUIds is required", "Give the OU IDs"],
        ),
        row(
            "ou_a_number",
            set(f, &[("TargetOUIds", json!(42))]),
            Input,
            &[
                "TargetOUIds",
                "expected a string or a list of strings, got a number",
            ],
        ),
        row(
            "ou_list_with_a_non_string",
            set(f, &[("TargetOUIds", json!([ou, {"Ref": "ProdOu"}]))]),
            Input,
            &["TargetOUIds", "got an object"],
        ),
        row(
            "ou_with_a_replacement_character",
            set(f, &[("TargetOUIds", json!(fffd_ou))]),
            Input,
            &[&format!("`{fffd_ou}`"), "looks like ou-abcd-12345678"],
        ),
        row(
            "ou_with_a_control_character",
            set(f, &[("TargetOUIds", json!(esc_ou))]),
            Input,
            &[&format!("`{esc_ou_shown}`"), "looks like ou-abcd-12345678"],
        ),
        row(
            "ou_one_megabyte",
            set(f, &[("TargetOUIds", json!("o".repeat(MB)))]),
            Input,
            &[
                "TargetOUIds",
                "1048576 bytes long; at most 65536",
                "right value was pasted",
            ],
        ),
        row(
            "ou_does_not_exist",
            set(f, &[("TargetOUIds", json!("ou-zzzz-99999999"))]),
            Aws,
            &[
                "ou-zzzz-99999999 does not exist in this organization",
                "copy the ID shown under its name",
            ],
        ),
        row(
            "root_of_another_organization",
            set(f, &[("TargetOUIds", json!("r-zz99"))]),
            Aws,
            &[
                "r-zz99 does not exist in this organization",
                "AWS Organizations > AWS accounts",
            ],
        ),
        // --- TargetAccountIds --------------------------------------------------------
        row(
            "account_11_digits",
            diff(f, json!("12345678901")),
            Input,
            &["`12345678901`", "11 digits", "leading zeros included"],
        ),
        row(
            "account_13_digits",
            diff(f, json!("1234567890123")),
            Input,
            &["`1234567890123`", "13 digits", "exactly 12"],
        ),
        row(
            "account_with_letters",
            diff(f, json!("12345678901a")),
            Input,
            &["`12345678901a`", "exactly 12 digits"],
        ),
        row(
            "account_with_a_leading_plus",
            diff(f, json!("+123456789012")),
            Input,
            &["`+123456789012`", "no sign; remove it"],
        ),
        row(
            "account_in_scientific_notation",
            diff(f, json!("1.23457E+11")),
            Input,
            &[
                "`1.23457E+11`",
                "scientific notation",
                "format the column as text",
            ],
        ),
        row(
            "account_with_dashes",
            diff(f, json!("1234-5678-9012")),
            Input,
            &["`1234-5678-9012`", "remove the dashes"],
        ),
        row(
            "accounts_separated_by_a_semicolon",
            diff(f, json!("123456789012;234567890123")),
            Input,
            &[
                "`123456789012;234567890123`",
                "separate account IDs with commas",
            ],
        ),
        row(
            "accounts_separated_by_a_space",
            diff(f, json!("123456789012 234567890123")),
            Input,
            &["`123456789012 234567890123`", "not spaces or semicolons"],
        ),
        row(
            "accounts_json_array_as_a_string",
            diff(f, json!("[\"123456789012\"]")),
            Input,
            &[
                "TargetAccountIds",
                "looks like a JSON array",
                "123456789012,098765432109",
            ],
        ),
        row(
            "account_is_an_ou_id",
            diff(f, json!(ou)),
            Input,
            &[&format!("`{ou}`"), "put it in TargetOUIds"],
        ),
        row(
            "account_a_number",
            diff(f, json!(123_456_789_012_u64)),
            Input,
            &["TargetAccountIds", "got a number", "quote account IDs"],
        ),
        row(
            "account_list_with_a_number",
            diff(f, json!([f.account("prod-web"), 12_345_678_901_u64])),
            Input,
            &["TargetAccountIds", "got a number", "leading zeros are kept"],
        ),
        row(
            "account_with_a_replacement_character",
            diff(f, json!("12345678901\u{FFFD}")),
            Input,
            &["`12345678901\u{FFFD}`", "exactly 12 digits"],
        ),
        row(
            "account_with_a_nul_character",
            diff(f, json!("123456\u{0}789012")),
            Input,
            &["`123456\\0789012`", "remove the dashes or other characters"],
        ),
        row(
            "account_with_a_tab_inside",
            diff(f, json!("123456\t789012")),
            Input,
            &["`123456\\t789012`", "separate account IDs with commas"],
        ),
        row(
            "ten_thousand_account_ids_as_a_list",
            diff(f, json!(big_ids)),
            Input,
            &[
                "TargetAccountIds: 10000 IDs given; at most 1000",
                "target their OU",
            ],
        ),
        row(
            "ten_thousand_account_ids_as_a_string",
            diff(f, json!(big_ids.join(","))),
            Input,
            &["TargetAccountIds: the value is 129999 bytes long; at most 65536"],
        ),
        row(
            "account_one_megabyte",
            diff(f, json!("1".repeat(MB))),
            Input,
            &[
                "TargetAccountIds: the value is 1048576 bytes long",
                "right value was pasted",
            ],
        ),
        row(
            "account_not_in_the_organization",
            set(
                f,
                &[
                    ("TargetOUIds", json!(f.root())),
                    ("AccountScope", json!("DIFFERENCE")),
                    ("TargetAccountIds", json!("000000000042")),
                ],
            ),
            Aws,
            &[
                "000000000042",
                "not in this organization",
                "invite the account first",
            ],
        ),
        row(
            "intersection_account_not_in_the_organization",
            set(
                f,
                &[
                    ("AccountScope", json!("INTERSECTION")),
                    (
                        "TargetAccountIds",
                        json!(format!("{},999999999999", f.account("prod-us-1"))),
                    ),
                ],
            ),
            Aws,
            &[
                "999999999999",
                "not in this organization",
                "Check for a typo",
            ],
        ),
        // --- AccountScope ------------------------------------------------------------
        row(
            "scope_unknown",
            set(f, &[("AccountScope", json!("SOME"))]),
            Input,
            &[
                "`SOME` is not one of ALL, INTERSECTION, DIFFERENCE",
                "DIFFERENCE: every account",
            ],
        ),
        row(
            "scope_union",
            set(f, &[("AccountScope", json!("UNION"))]),
            Input,
            &["`UNION`", "INTERSECTION: only the listed accounts"],
        ),
        row(
            "scope_empty",
            set(f, &[("AccountScope", json!(""))]),
            Input,
            &["AccountScope: `` is not one of ALL, INTERSECTION, DIFFERENCE"],
        ),
        row(
            "scope_whitespace_only",
            set(f, &[("AccountScope", json!("  \t"))]),
            Input,
            &["AccountScope: `  \\t` is not one of ALL"],
        ),
        row(
            "scope_missing",
            unset(f, "AccountScope"),
            Input,
            &[
                "AccountScope is required",
                "Use ALL, INTERSECTION or DIFFERENCE",
            ],
        ),
        row(
            "scope_a_number",
            set(f, &[("AccountScope", json!(1))]),
            Input,
            &["AccountScope", "got a number"],
        ),
        row(
            "scope_with_a_replacement_character",
            set(f, &[("AccountScope", json!("ALL\u{FFFD}"))]),
            Input,
            &["`ALL\u{FFFD}` is not one of ALL, INTERSECTION, DIFFERENCE"],
        ),
        row(
            "scope_one_megabyte",
            set(f, &[("AccountScope", json!("A".repeat(MB)))]),
            Input,
            // Shown bounded: 60 characters and an ellipsis.
            &[&format!(
                "AccountScope: `{}…` is not one of",
                "A".repeat(60)
            )],
        ),
        row(
            "intersection_without_accounts",
            set(f, &[("AccountScope", json!("INTERSECTION"))]),
            Input,
            &[
                "INTERSECTION but TargetAccountIds is empty",
                "List the accounts to deploy to",
            ],
        ),
        row(
            "intersection_with_whitespace_only_accounts",
            set(
                f,
                &[
                    ("AccountScope", json!("INTERSECTION")),
                    ("TargetAccountIds", json!(" ,\n , ")),
                ],
            ),
            Input,
            &["INTERSECTION but TargetAccountIds is empty", "or use ALL"],
        ),
        row(
            "difference_without_accounts",
            set(f, &[("AccountScope", json!("DIFFERENCE"))]),
            Input,
            &[
                "DIFFERENCE but TargetAccountIds is empty",
                "List the accounts to leave out",
            ],
        ),
        row(
            "all_with_accounts",
            set(f, &[("TargetAccountIds", json!(f.account("prod-us-1")))]),
            Input,
            &[
                "ALL, so TargetAccountIds (1 listed) would be ignored",
                "Leave TargetAccountIds empty",
            ],
        ),
        // --- StackSetName ------------------------------------------------------------
        row(
            "stack_set_name_with_invalid_characters",
            set(f, &[("StackSetName", json!("Port_Integration v3!"))]),
            Input,
            &[
                "`Port_Integration v3!` is not a valid StackSet name",
                "letters, digits and hyphens",
            ],
        ),
        row(
            "stack_set_name_starting_with_a_digit",
            set(f, &[("StackSetName", json!("3-Port"))]),
            Input,
            &["`3-Port`", "must start with a letter"],
        ),
        row(
            "stack_set_name_too_long",
            set(f, &[("StackSetName", json!("P".repeat(129)))]),
            Input,
            &["StackSetName: `PPPP", "at most 128 characters"],
        ),
        row(
            "stack_set_name_with_a_replacement_character",
            set(f, &[("StackSetName", json!("Port-Integration-v3\u{FFFD}"))]),
            Input,
            &["`Port-Integration-v3\u{FFFD}` is not a valid StackSet name"],
        ),
        row(
            "stack_set_name_empty",
            set(f, &[("StackSetName", json!(""))]),
            Input,
            &["StackSetName is required", "default: Port-Integration-v3"],
        ),
        row(
            "stack_set_name_whitespace_only",
            set(f, &[("StackSetName", json!("   "))]),
            Input,
            &["StackSetName is required", "Give the name of the StackSet"],
        ),
        row(
            "stack_set_name_missing",
            unset(f, "StackSetName"),
            Input,
            &["StackSetName is required"],
        ),
        row(
            "stack_set_name_one_megabyte",
            set(f, &[("StackSetName", json!("P".repeat(MB)))]),
            Input,
            &[
                &format!("StackSetName: `{}…`", "P".repeat(60)),
                "at most 128 characters",
            ],
        ),
        row(
            "stack_set_does_not_exist",
            set(f, &[("StackSetName", json!(MISSING_SET))]),
            Aws,
            &[
                &format!("StackSet `{MISSING_SET}` does not exist in this region"),
                "check StackSetName",
            ],
        ),
        row(
            "stack_set_is_self_managed",
            set(f, &[("StackSetName", json!(SELF_MANAGED_SET))]),
            Aws,
            &[
                &format!("StackSet `{SELF_MANAGED_SET}` uses self-managed permissions"),
                "use the StackSet this stack creates",
            ],
        ),
        // --- Optional properties -----------------------------------------------------
        row(
            "on_leave_invalid",
            set(f, &[("OnAccountLeavesScope", json!("KEEP"))]),
            Input,
            &[
                "OnAccountLeavesScope: `KEEP` is not DELETE or RETAIN",
                "RETAIN leaves it in place",
            ],
        ),
        row(
            "on_leave_a_boolean",
            set(f, &[("OnAccountLeavesScope", json!(true))]),
            Input,
            &["OnAccountLeavesScope", "got a boolean"],
        ),
        row(
            "regions_not_a_region",
            set(f, &[("Regions", json!("Europe"))]),
            Input,
            &[
                "Regions: `Europe` is not an AWS region name",
                "such as us-east-1",
            ],
        ),
        row(
            "regions_upper_case",
            set(f, &[("Regions", json!("US-EAST-1"))]),
            Input,
            &["`US-EAST-1` is not an AWS region name"],
        ),
        row(
            "regions_separated_by_a_semicolon",
            set(f, &[("Regions", json!("us-east-1;eu-west-1"))]),
            Input,
            &["`us-east-1;eu-west-1`", "several: us-east-1,eu-west-1"],
        ),
        row(
            "regions_json_array_as_a_string",
            set(f, &[("Regions", json!("[\"us-east-1\"]"))]),
            Input,
            &[
                "Regions: the value looks like a JSON array",
                "us-east-1,eu-west-1",
            ],
        ),
        row(
            "regions_list_with_a_non_string",
            set(f, &[("Regions", json!(["us-east-1", null]))]),
            Input,
            &["Regions", "got null"],
        ),
        // --- Update: the same validation, the PhysicalResourceId is kept -----------------
        Row {
            name: "update_with_an_uppercase_ou",
            kind: "update",
            props: set(f, &[("TargetOUIds", json!(upper))]),
            from: Input,
            want: w(&["all lowercase", &upper]),
        },
        // The deployed StackSet is `STACK_SET` (the request's PhysicalResourceId): an Update
        // to another name is refused before any AWS call.
        Row {
            name: "update_to_another_stack_set_name",
            kind: "update",
            props: set(f, &[("StackSetName", json!(MISSING_SET))]),
            from: Input,
            want: w(&[
                "StackSetName cannot change",
                &format!("`{MISSING_SET}`"),
                &format!("Keep StackSetName `{STACK_SET}`"),
                "delete this stack and create it again",
            ]),
        },
    ]
}

#[tokio::test]
async fn every_bad_input_is_answered_failed_naming_the_value_and_the_fix_with_no_change() {
    // The stack is deployed with the StackSetName each row names: the function may read it.
    let r = rig_for_stack_sets(&[STACK_SET, MISSING_SET, SELF_MANAGED_SET]).await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.create_stack_set(SELF_MANAGED_SET, false).await;
    r.bed.control("requests/clear", json!({})).await;

    let rows = rejected_rows(&f);
    // FAULTS.md counts the rows: a lost row fails here.
    assert_eq!(rows.len(), 71, "FAULTS.md says 71 rows");
    println!("{} rows", rows.len());
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let before = r.bed.requests().await.len();
        let id = format!("bad-{i:02}-{}", row.name);
        let req = request(&r.sink, row.kind, &id, row.props.clone());
        let summary = r.invoke(req.clone()).await;
        let bodies = r.sink.bodies();
        let mut bad = |what: String| problems.push(format!("[{}] {what}", row.name));
        if bodies.len() != i + 1 {
            bad(format!("{} answers after {} rows", bodies.len(), i + 1));
            continue;
        }
        let a = &bodies[i];
        if a["RequestId"] != json!(id) {
            bad(format!("answer is for {}", a["RequestId"]));
        }
        if a["Status"] != "FAILED" || summary.answered.as_deref() != Some("FAILED") {
            bad(format!("not FAILED: {a}"));
            continue;
        }
        let reason = a["Reason"].as_str().unwrap_or_default();
        for want in &row.want {
            if !reason.contains(want.as_str()) {
                bad(format!("Reason lacks {want:?}: {reason}"));
            }
        }
        // The body as CloudFormation received it, in bytes.
        let size = r.sink.sizes()[i];
        if size >= 4096 {
            bad(format!("answer is {size} bytes"));
        }
        let physical = a["PhysicalResourceId"].as_str().unwrap_or_default();
        let want_physical = match row.kind {
            "update" => req["PhysicalResourceId"].as_str().unwrap().to_owned(),
            _ => format!("orgscope-create-failed/{id}"),
        };
        if physical != want_physical {
            bad(format!(
                "PhysicalResourceId {physical}, want {want_physical}"
            ));
        }
        let after = r.bed.requests().await;
        if row.from == Source::Input && after.len() != before {
            let new: Vec<&Value> = after[before..].iter().map(|x| &x["action"]).collect();
            bad(format!("pure input error made AWS requests: {new:?}"));
        }
        println!(
            "{:<48} {:>5} B  {}",
            row.name,
            size,
            reason.chars().take(110).collect::<String>()
        );
    }
    let mutating = r.bed.mutating_stackset_calls().await;
    assert!(mutating.is_empty(), "mutating StackSet calls: {mutating:?}");
    assert!(r.bed.instances(STACK_SET).await.is_empty());
    assert!(
        problems.is_empty(),
        "{} of {} rows wrong:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
}

/// Inputs that look odd but are right: they must be accepted and give exactly the accounts.
#[tokio::test]
async fn odd_but_valid_inputs_are_accepted_with_exactly_the_right_accounts() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let a = |n: &str| f.account(n);
    let us = f.ou("Root/Prod/US");
    let eu = f.ou("Root/Prod/EU");
    let whole_org: Vec<&str> = vec![
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
    ];
    let rows: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "all_in_lower_case",
            set(&f, &[("AccountScope", json!("all"))]),
            vec!["prod-us-1"],
        ),
        (
            "scope_mixed_case_with_spaces",
            set(
                &f,
                &[
                    ("AccountScope", json!("  Intersection\n")),
                    ("TargetAccountIds", json!(a("prod-us-1"))),
                ],
            ),
            vec!["prod-us-1"],
        ),
        (
            "an_account_listed_twice",
            set(
                &f,
                &[
                    ("TargetOUIds", json!(eu)),
                    ("AccountScope", json!("INTERSECTION")),
                    (
                        "TargetAccountIds",
                        json!(format!(
                            "{0},{0}, {1},{0}",
                            a("prod-eu-1"),
                            a("prod-eu-pci")
                        )),
                    ),
                ],
            ),
            vec!["prod-eu-1", "prod-eu-pci"],
        ),
        (
            "an_ou_listed_twice_in_a_list",
            set(&f, &[("TargetOUIds", json!([us, us, eu]))]),
            vec!["prod-us-1", "prod-eu-1", "prod-eu-payments", "prod-eu-pci"],
        ),
        (
            "trailing_commas_and_newlines",
            set(
                &f,
                &[
                    ("TargetOUIds", json!(format!("{us},\n{eu},\r\n,"))),
                    ("AccountScope", json!("difference")),
                    (
                        "TargetAccountIds",
                        json!(format!("{},\n", a("prod-eu-payments"))),
                    ),
                    ("Regions", json!("us-east-1,")),
                    ("OnAccountLeavesScope", json!("delete\n")),
                ],
            ),
            vec!["prod-us-1", "prod-eu-1", "prod-eu-pci"],
        ),
        (
            "the_root_of_this_organization_means_the_whole_organization",
            set(&f, &[("TargetOUIds", json!(f.root()))]),
            whole_org,
        ),
        (
            "unknown_keys_and_service_timeout_are_ignored",
            set(
                &f,
                &[
                    ("ServiceTimeout", json!("3600")),
                    ("SomethingNew", json!({"nested": [1, 2]})),
                    ("Regions", json!("")),
                    ("OnAccountLeavesScope", json!("")),
                ],
            ),
            vec!["prod-us-1"],
        ),
    ];
    let mut problems = Vec::new();
    for (i, (name, props, names)) in rows.iter().enumerate() {
        let id = format!("ok-{i:02}-{name}");
        r.invoke(request(&r.sink, "create", &id, props.clone()))
            .await;
        let mut want: Vec<String> = names.iter().map(|n| f.account(n)).collect();
        want.sort();
        let ans = r.last_answer();
        if ans["RequestId"] != json!(id) || ans["Status"] != "SUCCESS" {
            problems.push(format!("[{name}] {ans}"));
            continue;
        }
        if ans["Data"]["AccountIds"] != json!(want.join(",")) {
            problems.push(format!(
                "[{name}] AccountIds {} want {want:?}",
                ans["Data"]["AccountIds"]
            ));
        }
        let got = r.bed.instance_accounts(STACK_SET).await;
        if got != want {
            problems.push(format!("[{name}] instances {got:?} want {want:?}"));
        }
        println!("{name:<60} SUCCESS {} account(s)", want.len());
    }
    assert_eq!(r.sink.bodies().len(), rows.len(), "one answer per request");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A property that must be a single string, given as a list, is rejected with a Reason that
/// says a single string is expected. (This test found the Reason "expected a string or a list
/// of strings, got a list", which contradicted itself.)
#[tokio::test]
async fn a_scalar_property_given_as_a_list_says_a_single_string_is_expected() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    for key in ["AccountScope", "StackSetName", "OnAccountLeavesScope"] {
        let mut p = valid(&f);
        p[key] = json!(["ALL"]);
        r.invoke(request(&r.sink, "create", key, p)).await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "FAILED");
        let reason = a["Reason"].as_str().unwrap();
        assert!(reason.contains(key), "{reason}");
        assert!(
            !reason.contains("or a list of strings, got a list"),
            "self-contradictory: {reason}"
        );
    }
}

/// A Lambda runtime API that hands out raw bytes, for the one payload `LambdaStub` cannot
/// carry (it queues `serde_json::Value`s): bytes that are not UTF-8.
mod raw_runtime {
    use std::collections::{HashMap, VecDeque};
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use e2e::http::{serve, HttpRequest, HttpResponse};

    /// (request ID, raw payload)
    type Queue = VecDeque<(String, Vec<u8>)>;

    #[derive(Clone, Default)]
    pub struct RawRuntime {
        queue: Arc<Mutex<Queue>>,
        /// request ID → ("response" | "error", body)
        pub results: Arc<Mutex<HashMap<String, (String, String)>>>,
    }

    impl RawRuntime {
        pub async fn start() -> (Self, SocketAddr) {
            let rt = Self::default();
            let st = rt.clone();
            let addr = serve(move |req: HttpRequest| {
                let st = st.clone();
                async move { st.handle(req).await }
            })
            .await;
            (rt, addr)
        }

        pub fn push(&self, id: &str, body: Vec<u8>) {
            self.queue.lock().unwrap().push_back((id.to_owned(), body));
        }

        pub async fn result(&self, id: &str, timeout: Duration) -> Option<(String, String)> {
            let end = std::time::Instant::now() + timeout;
            loop {
                if let Some(r) = self.results.lock().unwrap().get(id).cloned() {
                    return Some(r);
                }
                if std::time::Instant::now() > end {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        async fn handle(&self, req: HttpRequest) -> HttpResponse {
            let path = req.path.split('?').next().unwrap_or_default().to_owned();
            if req.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
                loop {
                    let next = self.queue.lock().unwrap().pop_front();
                    if let Some((id, body)) = next {
                        let deadline = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap()
                            .as_millis()
                            + 60_000;
                        return HttpResponse {
                            status: 200,
                            headers: vec![
                                ("Content-Type".into(), "application/json".into()),
                                ("Lambda-Runtime-Aws-Request-Id".into(), id),
                                ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
                                (
                                    "Lambda-Runtime-Invoked-Function-Arn".into(),
                                    e2e::lambda::FUNCTION_ARN.into(),
                                ),
                                (
                                    "Lambda-Runtime-Trace-Id".into(),
                                    "Root=1-00000000-000000000000000000000000".into(),
                                ),
                            ],
                            body,
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            if req.method == "POST" && path.starts_with("/2018-06-01/runtime/invocation/") {
                let rest = &path["/2018-06-01/runtime/invocation/".len()..];
                let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
                self.results.lock().unwrap().insert(
                    id.to_owned(),
                    (
                        what.to_owned(),
                        String::from_utf8_lossy(&req.body).into_owned(),
                    ),
                );
                return HttpResponse::status(202);
            }
            HttpResponse::status(404)
        }
    }
}

/// Raw bytes that are not UTF-8 cannot be a CloudFormation request (CloudFormation sends
/// JSON), and since the runtime cannot parse them, their ResponseURL cannot be read either:
/// nobody can be answered. The runtime must report an invocation error and keep serving.
#[tokio::test]
async fn raw_non_utf8_bytes_are_an_invocation_error_and_the_binary_keeps_serving() {
    let bed = e2e::TestBed::start().await;
    let f = bed.sample().await;
    let sink = e2e::lambda::ResponseSink::start().await;
    let (rt, addr) = raw_runtime::RawRuntime::start().await;
    let mut junk = format!(
        "{{\"RequestType\":\"Create\",\"ResponseURL\":\"{}\",\"RequestId\":\"junk\",\"TargetOUIds\":\"ou-",
        sink.url("junk")
    )
    .into_bytes();
    junk.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    junk.extend_from_slice(b"\"}");
    assert!(std::str::from_utf8(&junk).is_err());
    rt.push("00000000-0000-4000-8000-000000000001", junk);
    let next = request(
        &sink,
        "create",
        "after-junk",
        set(&f, &[("TargetOUIds", json!("ou-ABCD-12345678"))]),
    );
    rt.push(
        "00000000-0000-4000-8000-000000000002",
        next.to_string().into_bytes(),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_custom-resource"))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(
            bed.function_env(Function::CustomResource, &Deployment::management())
                .await,
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let wait = std::time::Duration::from_secs(30);
    let (what, body) = rt
        .result("00000000-0000-4000-8000-000000000001", wait)
        .await
        .expect("the junk got a result");
    assert_eq!(what, "error", "{body}");
    println!("invocation error for non-UTF-8 bytes: {body}");
    let (what, _) = rt
        .result("00000000-0000-4000-8000-000000000002", wait)
        .await
        .expect("the runtime went on to the next invocation");
    assert_eq!(what, "response");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the runtime is still up"
    );
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 1, "only the readable request was answered");
    assert_eq!(bodies[0]["RequestId"], "after-junk");
    assert_eq!(bodies[0]["Status"], "FAILED");
    assert!(bed.requests().await.is_empty());
    child.kill().await.ok();
}

/// The unknown-OU message is meant to name the organization ("does not exist in this
/// organization (o-…)"). When ListAccountsForParent fails before DescribeOrganization has
/// returned, `read_target_subtrees` stops and drains the calls in flight without keeping the
/// organization's ID, so the message says "(the organization)" instead: a race.
#[tokio::test]
async fn an_unknown_ou_message_names_the_organization_id() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let org = f.0["organization_id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        r.invoke(request(
            &r.sink,
            "create",
            &format!("unknown-{i}"),
            set(&f, &[("TargetOUIds", json!("ou-zzzz-99999999"))]),
        ))
        .await;
        let reason = r.last_answer()["Reason"].as_str().unwrap().to_owned();
        assert!(reason.contains(&format!("({org})")), "try {i}: {reason}");
    }
}
