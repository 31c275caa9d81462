//! `Custom::PortPreflight`: the same function, asked only to check. The stack's StackSet
//! depends on this resource, so that a deploy from a member account, or with StackSets'
//! trusted access off, fails with the project's message and its fix (the words of
//! `orgscope doctor`, from `shared::doctor`) before AWS's own StackSet error could. Create and
//! Update run the checks and change nothing; Delete does nothing.

use shared::core::Declared;
use shared::doctor::{before_stack_set, failure_text, organization_error};
use shared::ports::{IdentityApi, OrganizationsApi};
use shared::preflight::{registration, STACKSETS_PRINCIPAL};

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
    let (caller, organization, trusted) = tokio::join!(
        identity.caller_account(),
        org.describe_organization(),
        org.service_access_enabled(STACKSETS_PRINCIPAL),
    );
    let in_management =
        matches!((&caller, &organization), (Ok(c), Ok(o)) if *c == o.management_account_id);
    let listed = if in_management {
        Ok(shared::core::Registration::NotAsked)
    } else {
        registration(org).await.map_err(|e| e.to_string())
    };
    let checks = before_stack_set(
        &caller.map_err(|e| e.to_string()),
        &organization.map_err(organization_error),
        &listed,
        declared,
        &trusted.map_err(organization_error),
    );
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
