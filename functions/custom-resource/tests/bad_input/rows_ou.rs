use super::*;

/// The corpus rows for `TargetOUIds`.
pub(super) fn ou_rows(f: &Fixture) -> Vec<Row> {
    use Source::{Aws, Input};
    let ou = f.ou("Root/Prod/US");
    let upper = ou.to_ascii_uppercase();
    let fffd_ou = format!("{}\u{FFFD}", &ou[..ou.len() - 1]);
    let esc_ou = format!("{}\u{1b}{}", &ou[..7], &ou[7..]);
    let esc_ou_shown = format!("{}\\u{{1b}}{}", &ou[..7], &ou[7..]);
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
    ]
}
