//! The custom resource's properties, as CloudFormation sends them (strings or lists of
//! strings), parsed into the domain's words.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::core::{parse_regions, parse_stack_set_name, LeavePolicy, RawList, Scope, ScopeError};

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
        let scope = Scope::parse(&ous, &mode, &accounts)?.with_tag_parameters(
            &text(props, "TargetAccountTags", "")?.unwrap_or_default(),
            &text(props, "ExcludedAccountTags", "")?.unwrap_or_default(),
        )?;
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
