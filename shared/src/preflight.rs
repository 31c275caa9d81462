//! Preflight: the seed's "Common Configuration Issues" as checks that fail with an error a
//! first-time user can act on, before anything changes.

use serde::{Deserialize, Serialize};

use crate::core::{decide, AccountId, Declared, DeployMode, ModeFacts, Registration};
use crate::engine::{Engine, EngineError};
use crate::ports::{
    AwsError, Clock, IdentityApi, OrgInfo, OrganizationsApi, StackSetApi, StackSetInfo,
};

pub use crate::core::STACKSETS_PRINCIPAL;

/// What the checks found out on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    pub organization: OrgInfo,
    pub caller: AccountId,
    pub mode: DeployMode,
    pub stack_set: StackSetInfo,
}

/// `DescribeOrganization`, with the project's words for "no organization" and "denied".
pub async fn organization<O: OrganizationsApi>(org: &O) -> Result<OrgInfo, EngineError> {
    org.describe_organization().await.map_err(|e| match e {
        AwsError::NoOrganization => crate::read::ReadError::NoOrganization.into(),
        AwsError::AccessDenied(m) => crate::read::ReadError::AccessDenied(m).into(),
        e => EngineError::Aws(e),
    })
}

/// `ListDelegatedAdministrators` for StackSets, read as a fact: a refusal (`AccessDenied`)
/// is what a member account that is no delegated administrator gets.
pub async fn registration<O: OrganizationsApi>(org: &O) -> Result<Registration, EngineError> {
    match org.delegated_admins(STACKSETS_PRINCIPAL).await {
        Ok(v) => Ok(Registration::Listed(v)),
        Err(AwsError::AccessDenied(m)) => Ok(Registration::Denied(m)),
        Err(e) => Err(EngineError::Aws(e)),
    }
}

/// Gathers the facts of the deployment mode: the caller (`GetCallerIdentity`), the
/// organization (`DescribeOrganization`) and, for a member account only, the delegated
/// administrators for StackSets (`ListDelegatedAdministrators`): two calls in the management
/// account, three elsewhere.
pub async fn mode_facts<O, I>(
    org: &O,
    identity: &I,
    declared: Declared,
) -> Result<(OrgInfo, ModeFacts), EngineError>
where
    O: OrganizationsApi,
    I: IdentityApi,
{
    let organization = organization(org).await?;
    let caller = identity.caller_account().await?;
    let registration = if caller == organization.management_account_id {
        Registration::NotAsked
    } else {
        registration(org).await?
    };
    let facts = ModeFacts {
        caller,
        management: organization.management_account_id.clone(),
        registration,
        declared,
    };
    Ok((organization, facts))
}

/// The deployment mode, decided from the facts (`core::decide`) and checked against the
/// declaration.
pub async fn deploy_mode<O, I>(
    org: &O,
    identity: &I,
    declared: Declared,
) -> Result<(OrgInfo, DeployMode), EngineError>
where
    O: OrganizationsApi,
    I: IdentityApi,
{
    let (organization, facts) = mode_facts(org, identity, declared).await?;
    Ok((organization, decide(&facts)?))
}

/// Runs the checks in the order a user would fix them: organization, deployment mode
/// (management account or registered delegated administrator, and the declared
/// `ManagementAccountId`), trusted access, StackSet (the engine's own `check_stack_set`).
/// The StackSet port calls with the decided `CallAs` from here on.
pub async fn preflight<O, S, C, I>(
    engine: &Engine<'_, O, S, C>,
    identity: &I,
    stack_set: &str,
    declared: Declared,
) -> Result<Preflight, EngineError>
where
    O: OrganizationsApi,
    S: StackSetApi,
    C: Clock,
    I: IdentityApi,
{
    let (organization, mode) = deploy_mode(engine.org, identity, declared).await?;
    engine.stacksets.set_call_as(mode.call_as);
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
        caller: mode.caller.clone(),
        mode,
        stack_set,
    })
}
