use super::*;

/// The corpus rows for `TargetAccountTags` and `ExcludedAccountTags` (issue 23): each term
/// Organizations' tag rules refuse (AWS Organizations API Reference, "Tag": a key of 1 to 128
/// characters, a value of up to 256, letters, spaces, digits and `_ . : / = + - @`), named
/// with the fix, before any AWS request.
pub(super) fn tag_rows(f: &Fixture) -> Vec<Row> {
    use Source::Input;
    let target = |v: Value| set(f, &[("TargetAccountTags", v)]);
    let excluded = |v: Value| set(f, &[("ExcludedAccountTags", v)]);
    let many: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    vec![
        row(
            "tags_empty_key",
            target(json!("env=prod,=x")),
            Input,
            &[
                "TargetAccountTags: the term `=x` has an empty key",
                "Write key=value, key=value1|value2 or key alone",
            ],
        ),
        row(
            "tags_bad_character",
            excluded(json!("port:exclude=tr#ue")),
            Input,
            &[
                "ExcludedAccountTags: `tr#ue` holds `#`",
                "Fix the term, or remove it",
            ],
        ),
        row(
            "tags_duplicate_key",
            target(json!("env=prod,env=dev")),
            Input,
            &[
                "TargetAccountTags: the key `env` is given twice",
                "env=value1|value2",
            ],
        ),
        row(
            "tags_key_of_129_characters",
            target(json!("k".repeat(129))),
            Input,
            &["is 129 characters long; AWS Organizations allows at most 128"],
        ),
        row(
            "tags_value_of_257_characters",
            excluded(json!(format!("env={}", "v".repeat(257)))),
            Input,
            &[
                "ExcludedAccountTags: the value",
                "is 257 characters long; AWS Organizations allows at most 256",
            ],
        ),
        row(
            "tags_51_terms",
            target(json!(many.join(","))),
            Input,
            &["TargetAccountTags: 51 terms; at most 50", "target it"],
        ),
        row(
            "tags_with_an_escape_character",
            target(json!("env=pr\u{1b}od")),
            Input,
            &["TargetAccountTags: `pr\\u{1b}od` holds `\\u{1b}`"],
        ),
        row(
            "tags_a_list",
            target(json!(["env=prod"])),
            Input,
            &[
                "TargetAccountTags",
                "a list",
                "env=prod|staging,team=payments",
            ],
        ),
        row(
            "tags_one_megabyte",
            excluded(json!("a".repeat(MB))),
            Input,
            &["ExcludedAccountTags: the value is 1048576 bytes long; at most 65536"],
        ),
    ]
}
