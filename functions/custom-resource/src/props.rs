//! The custom resource's properties, as CloudFormation sends them (strings or lists of
//! strings), parsed into the domain's words.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::core::{parse_regions, parse_stack_set_name, LeavePolicy, RawList, Scope, ScopeError};

/// An example `TargetAccountTags` value, for the message when it is not a string.
pub const TARGET_TAGS_EXAMPLE: &str = "env=prod|staging,team=payments";
/// An example `ExcludedAccountTags` value.
pub const EXCLUDED_TAGS_EXAMPLE: &str = "port:exclude=true";

/// `TargetAccountTags` and `ExcludedAccountTags` of `props` (absent: empty), checked by the
/// one parse every entry point uses ([`Scope::with_tag_parameters`], through
/// [`shared::core::tag_parameters`]): the custom resource's preflight runs it before the
/// StackSet changes.
pub fn tag_filter(props: &Value) -> Result<shared::core::TagFilter, ScopeError> {
    let target = text(props, "TargetAccountTags", TARGET_TAGS_EXAMPLE)?.unwrap_or_default();
    let excluded = text(props, "ExcludedAccountTags", EXCLUDED_TAGS_EXAMPLE)?.unwrap_or_default();
    shared::core::tag_parameters(&target, &excluded)
}

/// Validated `ResourceProperties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Props {
    pub scope: Scope,
    pub stack_set: String,
    pub regions: BTreeSet<String>,
    pub on_leave: LeavePolicy,
}

fn text(
    props: &Value,
    key: &'static str,
    example: &'static str,
) -> Result<Option<String>, ScopeError> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ScopeError::NotAString {
            field: key,
            got: shared::core::scope::kind(key, other).into(),
            example,
        }),
    }
}

fn list(props: &Value, key: &'static str) -> Result<Option<RawList>, ScopeError> {
    match props.get(key) {
        None => Ok(None),
        Some(v) => RawList::from_json(key, v).map(Some),
    }
}

impl Props {
    /// Parses and validates; `ServiceToken`, `ServiceTimeout` and unknown keys are ignored.
    pub fn parse(props: &Value, default_region: &str) -> Result<Self, ScopeError> {
        let ous = list(props, "TargetOUIds")?.ok_or(ScopeError::Missing {
            field: "TargetOUIds",
            help: "Give the OU IDs (ou-abcd-12345678) or the root ID (r-abcd) to deploy to.",
        })?;
        let mode = text(props, "AccountScope", "DIFFERENCE")?.ok_or(ScopeError::Missing {
            field: "AccountScope",
            help: "Use ALL, INTERSECTION or DIFFERENCE.",
        })?;
        let accounts = list(props, "TargetAccountIds")?.unwrap_or(RawList::Text(String::new()));
        // Absent (a stack deployed before they existed): no tag filter.
        let scope = Scope::parse(&ous, &mode, &accounts)?.with_tags(tag_filter(props)?);
        let stack_set = parse_stack_set_name(
            &text(props, "StackSetName", "Port-Integration-v3")?.unwrap_or_default(),
        )?;
        let regions = parse_regions(
            &list(props, "Regions")?.unwrap_or(RawList::Text(String::new())),
            default_region,
        )?;
        let on_leave = text(props, "OnAccountLeavesScope", "DELETE")?
            .unwrap_or_default()
            .parse()?;
        Ok(Self {
            scope,
            stack_set,
            regions,
            on_leave,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_strings_and_lists_and_ignores_service_keys() {
        let p = Props::parse(
            &json!({
                "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x",
                "ServiceTimeout": "3600",
                "TargetOUIds": ["ou-abcd-12345678", "r-ab12"],
                "AccountScope": "difference",
                "TargetAccountIds": "012345678901",
                "StackSetName": "Port-Integration-v3",
                "Unknown": {"x": 1}
            }),
            "us-east-1",
        )
        .unwrap();
        assert_eq!(p.scope.targets.len(), 2);
        assert_eq!(p.regions.iter().next().unwrap(), "us-east-1");
        assert_eq!(p.on_leave, LeavePolicy::Delete);
    }

    fn with_tags(target: Value, excluded: Value) -> Result<Props, ScopeError> {
        let mut p = json!({"TargetOUIds": "r-ab12", "AccountScope": "ALL", "StackSetName": "S"});
        for (k, v) in [
            ("TargetAccountTags", target),
            ("ExcludedAccountTags", excluded),
        ] {
            if !v.is_null() {
                p[k] = v;
            }
        }
        Props::parse(&p, "us-east-1")
    }

    #[test]
    fn absent_or_empty_tag_properties_are_no_filter() {
        let absent = with_tags(Value::Null, Value::Null).unwrap();
        let empty = with_tags(json!(""), json!("")).unwrap();
        assert!(!absent.scope.tags.is_set());
        assert_eq!(
            absent, empty,
            "an empty parameter is today's scope, exactly"
        );
    }

    #[test]
    fn tag_properties_narrow_the_scope_as_the_one_parse_reads_them() {
        let p = with_tags(json!("env=prod|staging, team"), json!("port:exclude=true")).unwrap();
        let expected = Scope::parse(&"r-ab12".into(), "ALL", &"".into())
            .unwrap()
            .with_tag_parameters("env=prod|staging,team", "port:exclude=true")
            .unwrap();
        assert_eq!(p.scope, expected);
        assert_eq!(p.scope.tags.target.to_string(), "env=prod|staging,team");
        assert_eq!(p.scope.tags.excluded.to_string(), "port:exclude=true");
    }

    #[test]
    fn a_bad_tag_term_gets_the_shared_message_here_and_in_the_preflight_check() {
        let base = Scope::parse(&"r-ab12".into(), "ALL", &"".into()).unwrap();
        for (target, excluded) in [("env=prod,=x", ""), ("", "port:exclude=tr#ue"), ("a,a", "")] {
            let shared = base
                .clone()
                .with_tag_parameters(target, excluded)
                .unwrap_err();
            let here = with_tags(json!(target), json!(excluded)).unwrap_err();
            assert_eq!(here, shared, "{target} / {excluded}");
            let props = json!({"TargetAccountTags": target, "ExcludedAccountTags": excluded});
            assert_eq!(tag_filter(&props).unwrap_err(), shared);
        }
        let e = with_tags(json!("env=prod,=x"), json!("")).unwrap_err();
        assert!(
            e.to_string().contains("TargetAccountTags: the term `=x`"),
            "{e}"
        );
    }

    #[test]
    fn a_tag_property_that_is_not_a_string_is_named_with_an_example() {
        let e = with_tags(json!(["env=prod"]), Value::Null).unwrap_err();
        assert!(e.to_string().contains("TargetAccountTags"), "{e}");
        assert!(
            e.to_string().contains("env=prod|staging,team=payments"),
            "{e}"
        );
    }

    #[test]
    fn missing_required_properties_are_named() {
        let e = Props::parse(&json!({"AccountScope": "ALL"}), "us-east-1").unwrap_err();
        assert!(e.to_string().contains("TargetOUIds is required"), "{e}");
        let e = Props::parse(
            &json!({"TargetOUIds": "r-ab12", "AccountScope": "ALL"}),
            "us-east-1",
        )
        .unwrap_err();
        assert!(e.to_string().contains("StackSetName is required"), "{e}");
    }

    #[test]
    fn a_number_instead_of_a_string_says_to_quote_account_ids() {
        let e = Props::parse(
            &json!({"TargetOUIds": "r-ab12", "AccountScope": "DIFFERENCE", "TargetAccountIds": [12345678901_u64], "StackSetName": "S"}),
            "us-east-1",
        )
        .unwrap_err();
        assert!(e.to_string().contains("leading zeros"), "{e}");
    }
}
