//! Preflight: the seed's "Common Configuration Issues" as checks that fail with an error a
//! first-time user can act on, before anything changes.

use serde::{Deserialize, Serialize};

use crate::core::AccountId;
use crate::engine::{Engine, EngineError};
use crate::ports::{
    AwsError, Clock, IdentityApi, OrgInfo, OrganizationsApi, StackSetApi, StackSetInfo,
};

/// The service principal of CloudFormation StackSets' trusted access in AWS Organizations.
pub const STACKSETS_PRINCIPAL: &str = "member.org.stacksets.cloudformation.amazonaws.com";

/// What the checks found out on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    pub organization: OrgInfo,
    pub caller: AccountId,
    pub stack_set: StackSetInfo,
}

/// Runs the checks in the order a user would fix them: organization, management account,
/// trusted access, StackSet (the engine's own `check_stack_set`).
pub async fn preflight<O, S, C, I>(
    engine: &Engine<'_, O, S, C>,
    identity: &I,
    stack_set: &str,
) -> Result<Preflight, EngineError>
where
    O: OrganizationsApi,
    S: StackSetApi,
    C: Clock,
    I: IdentityApi,
{
    let organization = engine
        .org
        .describe_organization()
        .await
        .map_err(|e| match e {
            AwsError::NoOrganization => crate::read::ReadError::NoOrganization.into(),
            AwsError::AccessDenied(m) => crate::read::ReadError::AccessDenied(m).into(),
            e => EngineError::Aws(e),
        })?;
    let caller = identity.caller_account().await?;
    if caller != organization.management_account_id {
        return Err(EngineError::NotManagementAccount {
            caller,
            management: organization.management_account_id,
        });
    }
    if !engine
        .org
        .service_access_enabled(STACKSETS_PRINCIPAL)
        .await?
    {
        return Err(EngineError::Aws(AwsError::TrustedAccessDisabled(format!(
            "{STACKSETS_PRINCIPAL} is not in the organization's enabled service access"
        ))));
    }
    let stack_set = engine.check_stack_set(stack_set).await?;
    Ok(Preflight {
        organization,
        caller,
        stack_set,
    })
}
