//! `Custom::PortPreflight`: the same function, asked only to check. The stack's StackSet
//! depends on this resource, so that a deploy from a member account, or with StackSets'
//! trusted access off, fails with the project's message and its fix (the words of
//! `orgscope doctor`, from `shared::doctor`) before AWS's own StackSet error could. Create and
//! Update run the checks and change nothing; Delete does nothing.

use serde_json::Value;
use shared::core::{parse_role_policies, partition_of, Declared, RolePolicies};
use shared::doctor::{before_stack_set, failure_text};
use shared::ports::{IdentityApi, OrganizationsApi};
use shared::preflight::{read_mode, trusted_access, Listing};

/// The `ResourceType` that asks for the preflight only.
pub const RESOURCE_TYPE: &str = "Custom::PortPreflight";
/// Its PhysicalResourceId: there is nothing behind it.
pub const PHYSICAL_ID: &str = "orgscope-preflight";

/// Runs the checks (three read-only calls; a fourth, `ListDelegatedAdministrators`, outside
/// the management account). `declared` is the `ManagementAccountId` property. `Err` holds the
/// text for CloudFormation's Reason.
pub async fn run<O, I>(org: &O, identity: &I, declared: &Declared) -> Result<(), String>
where
    O: OrganizationsApi,
    I: IdentityApi,
{
    let (mode, trusted) = tokio::join!(
        read_mode(org, identity, Listing::MemberOnly),
        trusted_access(org),
    );
    let checks = before_stack_set(&mode, declared, &trusted);
    for c in &checks {
        tracing::info!(check = %c.id, status = c.status.as_str(), detail = %c.detail, "preflight");
    }
    match failure_text(&checks) {
        None => Ok(()),
        Some(text) => Err(format!(
            "Preflight failed, nothing was created: {text} (orgscope doctor runs the same checks \
             and more.)"
        )),
    }
}

/// The properties `TargetAccountTags` and `ExcludedAccountTags` (absent: no filter), parsed
/// as the custom resource parses them (`crate::props::tag_filter`, the one shared parse), so
/// a bad term fails here, before the StackSet changes, with the words it gets everywhere.
pub fn tag_filter(props: &Value) -> Result<(), String> {
    crate::props::tag_filter(props)
        .map(|_| ())
        .map_err(|e| format!("Preflight failed, nothing was changed: {e}"))
}

/// The properties `PortRolePolicyArns` and `PortRolePermissionsBoundaryArn` (the template's
/// parameters), checked by `shared::core::role_policies` in the stack's partition (from its
/// StackId). Absent, as in a stack deployed before they existed: the default, ReadOnlyAccess,
/// and no boundary. `Err` holds the text for CloudFormation's Reason, naming the bad value.
pub fn role_policies(props: &Value, stack_id: &str) -> Result<RolePolicies, String> {
    let text = |key: &str, default: &str| -> Result<String, String> {
        match props.get(key) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!(
                "Preflight failed, nothing was changed: {key} must be a string, got {other}."
            )),
        }
    };
    let policies = text(
        "PortRolePolicyArns",
        shared::core::role_policies::DEFAULT_POLICIES,
    )?;
    let boundary = text("PortRolePermissionsBoundaryArn", "")?;
    let partition = partition_of(stack_id).unwrap_or("aws");
    parse_role_policies(&policies, &boundary, partition)
        .map_err(|e| format!("Preflight failed, nothing was changed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STACK: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/port/1";

    #[test]
    fn a_bad_tag_term_fails_the_preflight_naming_it_and_absent_tags_pass() {
        assert_eq!(tag_filter(&json!({"StackSetName": "S"})), Ok(()));
        assert_eq!(
            tag_filter(&json!({"TargetAccountTags": "", "ExcludedAccountTags": ""})),
            Ok(())
        );
        let e = tag_filter(&json!({"ExcludedAccountTags": "port:exclude=true,=yes"})).unwrap_err();
        assert!(
            e.starts_with("Preflight failed, nothing was changed: ExcludedAccountTags: the term `=yes` has an empty key"),
            "{e}"
        );
    }

    #[test]
    fn absent_properties_are_the_default_read_only_access() {
        let p = role_policies(&json!({"StackSetName": "S"}), STACK).unwrap();
        assert_eq!(
            p.policies[0].arn_in("aws", "1"),
            "arn:aws:iam::aws:policy/ReadOnlyAccess"
        );
        assert_eq!(p.boundary, None);
    }

    #[test]
    fn a_bad_value_is_refused_naming_it_in_the_stacks_partition() {
        let e = role_policies(&json!({"PortRolePolicyArns": "ViewOnly"}), STACK).unwrap_err();
        assert!(
            e.starts_with("Preflight failed, nothing was changed:"),
            "{e}"
        );
        assert!(e.contains("`ViewOnly`"), "{e}");
        let gov = "arn:aws-us-gov:cloudformation:us-gov-west-1:123456789012:stack/port/1";
        let e = role_policies(
            &json!({"PortRolePolicyArns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
            gov,
        )
        .unwrap_err();
        assert!(e.contains("runs in aws-us-gov"), "{e}");
    }
}
