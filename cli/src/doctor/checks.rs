//! The checklist of `orgscope doctor`: the facts the CLI gathered (`Inputs`), every check in
//! the order a user would fix them, and the StackSet's size against its quota. Pure: the
//! runner (`super`) gathers the facts with read-only AWS calls; each check decides PASS / WARN /
//! FAIL, the one-line explanation, and the exact fix. The checks a deploy cannot go without
//! (deployment mode, trusted access, all features) are `shared::doctor`'s: the stack's
//! preflight runs them too.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::core::{
    known_cloudformation_document, AccountId, Declared, Expansion, OrgTree, RolePolicies,
    RolePolicy, Scope, TargetId, STACK_INSTANCE_QUOTA, STACK_INSTANCE_QUOTA_CODE,
    STACK_INSTANCE_QUOTA_SERVICE,
};
use shared::doctor::{before_stack_set, check, Check, Status};
use shared::ports::{AwsError, OidcProvider, OrgInfo, Role, StackSetInfo, Trail};
use shared::preflight::ModeReading;

use super::cloudtrail::*;
use super::oidc::*;
use super::region::*;
use super::role_policies::*;
use super::targets::*;

/// Port's OIDC issuer (the template's default `OIDCProviderUrl`).
pub const PORT_OIDC_URL: &str =
    "https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4";
/// The audience (client ID) Port's tokens carry.
pub const PORT_AUDIENCE: &str = "sts.amazonaws.com";
/// The only region whose EventBridge sees AWS Organizations events (`core::regions`).
pub use shared::core::regions::EVENTS_REGION;
/// The tag every Port resource of the stack carries.
pub const INTEGRATION_TAG: &str = "port:integration";

/// The role name the template uses when `CustomRoleName` is empty.
pub fn default_role_name(integration: &str) -> String {
    format!("PortIntegrationRole-{integration}")
}

/// An existing OU, for suggestions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownOu {
    pub id: String,
    pub name: String,
    /// `Root/Prod/EU (ou-...)`.
    pub path: String,
}

/// What the CLI found out about one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetFinding {
    /// The organization's root.
    Root,
    /// An existing OU, with its path.
    Found { path: String },
    /// Unknown here; the closest existing OUs (or the real root).
    NotFound { suggestions: Vec<KnownOu> },
}

/// Everything the checks need, gathered by the caller. `Err` holds why a fact could not be read.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub caller: Result<AccountId, String>,
    pub organization: Result<OrgInfo, String>,
    /// The delegated administrators for StackSets (`ListDelegatedAdministrators`).
    /// The deployment mode's facts as read (`shared::preflight::read_mode`).
    pub mode: ModeReading,
    /// The `ManagementAccountId` given (`--management-account-id`), if any.
    pub declared: Declared,
    pub trusted_access: Result<bool, AwsError>,
    pub region: Option<String>,
    /// The trails that record events in us-east-1 (`CloudTrailApi::trails`).
    pub trails: Result<Vec<Trail>, String>,
    pub scope: &'a Scope,
    pub targets: Vec<(TargetId, Result<TargetFinding, String>)>,
    /// The tree and expansion over the existing targets, listed accounts that are not in the
    /// organization left out (they are in `not_in_organization`).
    pub read: Result<(OrgTree, Expansion), String>,
    pub not_in_organization: BTreeSet<AccountId>,
    pub integration: String,
    pub role_name: String,
    pub oidc_url: String,
    /// The `CreateOIDCProvider` the stack is (or will be) deployed with.
    pub create_oidc_provider: bool,
    pub provider: Result<Option<OidcProvider>, String>,
    pub role: Result<Option<Role>, String>,
    pub stack_set_name: String,
    pub stack_set: Result<Option<StackSetInfo>, String>,
    /// The account's "Stack instances per stack set" (`QuotaApi::stack_instance_quota`), or
    /// why it could not be read.
    pub stack_instance_quota: Result<u64, String>,
    /// Port's role's policies and boundary, and what IAM says of them (issue 24).
    pub role_policies: RolePolicyFacts,
}

/// `PortRolePolicyArns` and `PortRolePermissionsBoundaryArn` as the stack is (or will be)
/// deployed with, checked, and the documents doctor read from IAM in the signed-in account.
#[derive(Debug, Clone)]
pub struct RolePolicyFacts {
    pub parsed: Result<RolePolicies, String>,
    /// `(ARN in the signed-in account, its document)` for each policy of [`to_read`]:
    /// `Ok(None)` when IAM has no such policy.
    pub documents: Vec<(String, Result<Option<Value>, String>)>,
    /// The partition and account the ARNs are in.
    pub partition: String,
    pub account: String,
}

/// The ARNs (in `account`) doctor reads from IAM: every customer managed policy, and the AWS
/// managed ones it does not know by short name. The boundary is included.
pub fn to_read(p: &RolePolicies, partition: &str, account: &str) -> Vec<String> {
    p.all()
        .filter(|x| match x {
            RolePolicy::CustomerManaged { .. } => true,
            RolePolicy::AwsManaged { path_and_name } => {
                known_cloudformation_document(path_and_name).is_none()
            }
        })
        .map(|x| x.arn_in(partition, account))
        .collect()
}

/// Every check, in the order a user would fix them.
pub fn checks(i: &Inputs<'_>) -> Vec<Check> {
    let mut out = before_stack_set(&i.mode, &i.declared, &i.trusted_access);
    out.extend([region(i), cloudtrail(&i.trails)]);
    out.extend(targets(i));
    out.extend(listed_accounts(i));
    out.push(oidc_provider(i));
    out.extend(member_oidc_providers(i));
    out.push(role(i));
    out.push(stack_set(i));
    out.push(scope(i));
    out.extend(account_tags(i));
    out.extend(stack_instance_quota(i));
    out.extend(role_policies(i));
    out
}

/// A warning when the scope needs more stack instances than the StackSet's quota allows:
/// past it, `CreateStackInstances` fails account by account, late. The quota is the
/// account's own (Service Quotas `GetServiceQuota`); when it cannot be read (no
/// `servicequotas:GetServiceQuota` permission, say), AWS's documented default is assumed and
/// the check says so.
pub(super) fn stack_instance_quota(i: &Inputs<'_>) -> Option<Check> {
    let n = i.read.as_ref().ok()?.1.included.len();
    quota_check(n, &i.stack_instance_quota)
}

/// The quota check for a scope of `n` stack instances (one region: one per account) against
/// the quota read, or AWS's default when it could not be read.
pub fn quota_check(n: usize, quota: &Result<u64, String>) -> Option<Check> {
    let (limit, source) = match quota {
        Ok(q) => (*q as usize, format!("this account's quota of {q}")),
        Err(why) => (
            STACK_INSTANCE_QUOTA,
            format!(
                "AWS's default quota of {STACK_INSTANCE_QUOTA} (this account's could not be \
                 read: {why}; the CLI needs servicequotas:GetServiceQuota to read it)"
            ),
        ),
    };
    let how = format!(
        "In the management account, check and raise the quota before deploying: Service \
         Quotas > AWS services > AWS CloudFormation > Stack instances per stack set > Request \
         increase (at least {n}); or `aws service-quotas get-service-quota --service-code \
         {STACK_INSTANCE_QUOTA_SERVICE} --quota-code {STACK_INSTANCE_QUOTA_CODE}` to see it."
    );
    if n > limit {
        return Some(
            check(
                "stack-instance-quota",
                Status::Warn,
                "StackSet size",
                format!(
                    "the scope needs {n} stack instances (one per account), more than {source} \
                     stack instances per StackSet: the accounts past it fail with \
                     LimitExceededException"
                ),
            )
            .fix(how),
        );
    }
    // Within the default but unread: say what was assumed, without failing anything.
    quota.as_ref().err().map(|_| {
        check(
            "stack-instance-quota",
            Status::Warn,
            "StackSet size",
            format!(
                "the scope needs {n} stack instances (one per account), within {source} stack \
                 instances per StackSet; an account whose quota was lowered could still refuse"
            ),
        )
        .fix(how)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::core::STACK_INSTANCE_QUOTA_CODE;

    #[test]
    fn a_scope_past_the_quota_read_from_service_quotas_warns_with_the_accounts_own_value() {
        let c = quota_check(2_100, &Ok(2_000)).expect("a warning");
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("2100 stack instances"), "{}", c.detail);
        assert!(
            c.detail.contains("this account's quota of 2000"),
            "{}",
            c.detail
        );
        let fix = c.fix.clone().unwrap_or_default();
        assert!(fix.contains("Service Quotas"), "{fix}");
        assert!(fix.contains(STACK_INSTANCE_QUOTA_CODE), "{fix}");
    }

    #[test]
    fn a_scope_within_the_quota_read_has_no_quota_check() {
        assert!(quota_check(2_000, &Ok(2_000)).is_none());
        assert!(quota_check(10_000, &Ok(STACK_INSTANCE_QUOTA as u64)).is_none());
    }

    #[test]
    fn an_unreadable_quota_falls_back_to_aws_default_and_says_so() {
        let denied = Err(
            "access denied: not authorized to perform servicequotas:GetServiceQuota".to_owned(),
        );
        let c = quota_check(10_000, &denied).expect("a note");
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.detail.contains("within AWS's default quota of 100000"),
            "{}",
            c.detail
        );
        assert!(
            c.detail.contains("servicequotas:GetServiceQuota"),
            "{}",
            c.detail
        );
        let c = quota_check(100_001, &denied).expect("a warning");
        assert!(
            c.detail.contains("more than AWS's default quota of 100000"),
            "{}",
            c.detail
        );
    }
}
