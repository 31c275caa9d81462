use super::*;

/// The corpus rows for `AccountScope`, `StackSetName`, the optional properties and Update.
pub(super) fn other_rows(f: &Fixture) -> Vec<Row> {
    use Source::{Aws, Input};
    let ou = f.ou("Root/Prod/US");
    let upper = ou.to_ascii_uppercase();
    vec![
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
