use super::*;

/// The corpus rows for `TargetAccountIds`.
pub(super) fn account_rows(f: &Fixture) -> Vec<Row> {
    use Source::{Aws, Input};
    let ou = f.ou("Root/Prod/US");
    let big_ids = many_ids(10_000);
    vec![
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
    ]
}
