use super::*;

pub(super) fn input_rows(f: &Fixture) -> Vec<Row> {
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
