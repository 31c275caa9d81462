//! Preflight: the seed's "Common Configuration Issues" as checks that fail with an error a
//! first-time user can act on, before anything changes.

use serde::{Deserialize, Serialize};

use crate::core::{decide, AccountId, CallAs, Declared, DeployMode, ModeFacts, Registration};
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

/// An error of `DescribeOrganization`, with the project's words for "no organization" and
/// "denied".
pub fn organization_error(e: AwsError) -> EngineError {
    match e {
        AwsError::NoOrganization => crate::read::ReadError::NoOrganization.into(),
        AwsError::AccessDenied(m) => crate::read::ReadError::AccessDenied(m).into(),
        e => EngineError::Aws(e),
    }
}

/// `ListDelegatedAdministrators` for StackSets, read as a fact: a refusal (`AccessDenied`)
/// is what a member account that is no delegated administrator gets.
pub async fn registration<O: OrganizationsApi>(org: &O) -> Result<Registration, AwsError> {
    match org.delegated_admins(STACKSETS_PRINCIPAL).await {
        Ok(v) => Ok(Registration::Listed(v)),
        Err(AwsError::AccessDenied(m)) => Ok(Registration::Denied(m)),
        Err(e) => Err(e),
    }
}

/// Whether StackSets' trusted access is on (`ListAWSServiceAccessForOrganization`).
pub async fn trusted_access<O: OrganizationsApi>(org: &O) -> Result<bool, AwsError> {
    org.service_access_enabled(STACKSETS_PRINCIPAL).await
}

/// Whether [`read_mode`] asks for the delegated administrators in the management account too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Only in a member account: the management account cannot be its own delegated
    /// administrator, so its mode needs no listing (one call saved).
    MemberOnly,
    /// Everywhere: `orgscope doctor` tells the management account what the other mode needs.
    Always,
}

/// The facts of the deployment mode as AWS answered them, each call's own result: the caller
/// (`GetCallerIdentity`), the organization (`DescribeOrganization`) and the delegated
/// administrators for StackSets (`ListDelegatedAdministrators`, `Registration::NotAsked` when
/// [`Listing::MemberOnly`] did not ask it).
#[derive(Debug, Clone, PartialEq)]
pub struct ModeReading {
    pub caller: Result<AccountId, AwsError>,
    pub organization: Result<OrgInfo, AwsError>,
    pub registration: Result<Registration, AwsError>,
}

/// Why a [`ModeReading`] gives no [`ModeFacts`]: the first read that failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Unread {
    Organization(AwsError),
    Caller(AwsError),
    /// A member account whose listing failed.
    Registration(AwsError),
}

impl From<Unread> for EngineError {
    fn from(u: Unread) -> Self {
        match u {
            Unread::Organization(e) => organization_error(e),
            Unread::Caller(e) | Unread::Registration(e) => EngineError::Aws(e),
        }
    }
}

impl ModeReading {
    /// Whether the caller is the organization's management account (`false` when either is
    /// unknown).
    pub fn in_management(&self) -> bool {
        matches!((&self.caller, &self.organization), (Ok(c), Ok(o)) if *c == o.management_account_id)
    }

    /// The facts [`decide`] takes, by the one rule: in the management account the listing is
    /// not a fact of its mode (`NotAsked`, whatever was read); in a member account it is.
    pub fn facts(&self, declared: Declared) -> Result<ModeFacts, Unread> {
        let organization = self.organization.clone().map_err(Unread::Organization)?;
        let caller = self.caller.clone().map_err(Unread::Caller)?;
        let registration = if caller == organization.management_account_id {
            Registration::NotAsked
        } else {
            self.registration.clone().map_err(Unread::Registration)?
        };
        Ok(ModeFacts {
            caller,
            management: organization.management_account_id,
            registration,
            declared,
        })
    }

    /// The `CallAs` of the mode the facts decide, the declaration aside (`ManagementAccountId`
    /// unknown): how a check that runs outside the stack reads the StackSet. `None` when the
    /// facts decide no mode.
    pub fn call_as(&self) -> Option<CallAs> {
        let facts = self.facts(Declared::Unknown).ok()?;
        decide(&facts).ok().map(|m| m.call_as)
    }
}

/// Gathers the facts of the deployment mode, the one function the preflight, the custom
/// resource's `Custom::PortPreflight`, `orgscope doctor`, `status` and `plan` use: the caller
/// and the organization together, then, for a member account only under
/// [`Listing::MemberOnly`], the delegated administrators for StackSets: two calls in the
/// management account, three elsewhere (three everywhere under [`Listing::Always`]).
pub async fn read_mode<O, I>(org: &O, identity: &I, listing: Listing) -> ModeReading
where
    O: OrganizationsApi,
    I: IdentityApi,
{
    let (caller, organization) =
        tokio::join!(identity.caller_account(), org.describe_organization());
    let mut reading = ModeReading {
        caller,
        organization,
        registration: Ok(Registration::NotAsked),
    };
    if listing == Listing::Always || !reading.in_management() {
        reading.registration = registration(org).await;
    }
    reading
}

/// The facts of the deployment mode ([`read_mode`], [`ModeReading::facts`]).
pub async fn mode_facts<O, I>(
    org: &O,
    identity: &I,
    declared: Declared,
) -> Result<(OrgInfo, ModeFacts), EngineError>
where
    O: OrganizationsApi,
    I: IdentityApi,
{
    let reading = read_mode(org, identity, Listing::MemberOnly).await;
    let facts = reading.facts(declared)?;
    let organization = reading.organization.map_err(organization_error)?;
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
    if !trusted_access(engine.org).await? {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MANAGEMENT: &str = "111111111111";
    const MEMBER: &str = "222222222222";

    fn id(a: &str) -> AccountId {
        AccountId::parse(a).unwrap()
    }

    fn reading(caller: &str, registration: Result<Registration, AwsError>) -> ModeReading {
        ModeReading {
            caller: Ok(id(caller)),
            organization: Ok(OrgInfo {
                id: "o-abcd123456".into(),
                management_account_id: id(MANAGEMENT),
                all_features: true,
            }),
            registration,
        }
    }

    #[test]
    fn in_the_management_account_the_listing_is_not_a_fact_of_the_mode_even_when_it_failed() {
        let denied = Err(AwsError::Throttled("Rate exceeded".into()));
        let facts = reading(MANAGEMENT, denied)
            .facts(Declared::Unknown)
            .unwrap();
        assert_eq!(facts.registration, Registration::NotAsked);
        assert_eq!(
            reading(MANAGEMENT, Ok(Registration::Listed(vec![id(MEMBER)]))).call_as(),
            Some(CallAs::Self_)
        );
    }

    #[test]
    fn in_a_member_account_a_failed_listing_leaves_the_mode_unread_and_a_listing_decides_it() {
        let failed = reading(MEMBER, Err(AwsError::Throttled("Rate exceeded".into())));
        assert!(matches!(
            failed.facts(Declared::Unknown),
            Err(Unread::Registration(AwsError::Throttled(_)))
        ));
        assert_eq!(failed.call_as(), None);
        let listed = reading(MEMBER, Ok(Registration::Listed(vec![id(MEMBER)])));
        assert_eq!(listed.call_as(), Some(CallAs::DelegatedAdmin));
        let unlisted = reading(MEMBER, Ok(Registration::Denied("not allowed".into())));
        assert_eq!(unlisted.call_as(), None);
    }

    #[test]
    fn an_unreadable_organization_is_reported_before_the_caller() {
        let mut r = reading(MEMBER, Ok(Registration::NotAsked));
        r.organization = Err(AwsError::NoOrganization);
        r.caller = Err(AwsError::Throttled("x".into()));
        assert!(matches!(
            r.facts(Declared::Unknown),
            Err(Unread::Organization(AwsError::NoOrganization))
        ));
    }
}
