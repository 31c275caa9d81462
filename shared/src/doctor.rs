//! `orgscope doctor`: the seed's "Common Configuration Issues" and Troubleshooting as a
//! checklist. Pure: the CLI gathers the facts (read-only AWS calls), this module decides
//! PASS / WARN / FAIL, the one-line explanation, and the exact fix.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::mode::other_mode_needs;
use crate::core::policy_eval::allows;
use crate::core::regions::{enable_region_command, is_opt_in};
use crate::core::{
    decide, known_cloudformation_document, region_allowed, AccountId, AccountScope, CallAs,
    Declared, Expansion, ModeFacts, OrgTree, Reason, Registration, RolePolicies, RolePolicy, Scope,
    TargetId, CLOUD_CONTROL_READ, DELEGATED_ADMIN_REGIONS, STACK_INSTANCE_QUOTA,
    STACK_INSTANCE_QUOTA_CODE, STACK_INSTANCE_QUOTA_SERVICE,
};
use crate::ports::{
    issuer_of, AdvancedSelector, FieldSelector, OidcProvider, OrgInfo, Role, StackSetInfo, Trail,
    TrailSelectors,
};

/// Port's OIDC issuer (the template's default `OIDCProviderUrl`).
pub const PORT_OIDC_URL: &str =
    "https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4";
/// The audience (client ID) Port's tokens carry.
pub const PORT_AUDIENCE: &str = "sts.amazonaws.com";
/// The only region whose EventBridge sees AWS Organizations events (`core::regions`).
pub use crate::core::regions::EVENTS_REGION;
/// The tag every Port resource of the stack carries.
pub const INTEGRATION_TAG: &str = "port:integration";

/// The role name the template uses when `CustomRoleName` is empty.
pub fn default_role_name(integration: &str) -> String {
    format!("PortIntegrationRole-{integration}")
}

/// `PASS`, `WARN` or `FAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable machine name, e.g. `trusted-access`, `target-ou:ou-abcd-12345678`.
    pub id: String,
    pub status: Status,
    pub title: String,
    /// One line: what was found.
    pub detail: String,
    /// The exact fix, when there is something to do.
    pub fix: Option<String>,
}

fn check(id: impl Into<String>, status: Status, title: &str, detail: String) -> Check {
    Check {
        id: id.into(),
        status,
        title: title.into(),
        detail,
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Whether these selectors record management write events, from every event source that
/// AWS Organizations uses (`organizations.amazonaws.com`).
pub fn records_management_writes(s: &TrailSelectors) -> bool {
    match s {
        TrailSelectors::Default => true,
        TrailSelectors::Classic(sel) => sel.iter().any(|e| {
            e.include_management_events && matches!(e.read_write_type.as_str(), "All" | "WriteOnly")
        }),
        TrailSelectors::Advanced(sel) => sel.iter().any(advanced_records_management_writes),
    }
}

fn advanced_records_management_writes(s: &AdvancedSelector) -> bool {
    let field = |name: &'static str| s.fields.iter().filter(move |f| f.field == name);
    let management = field("eventCategory").any(|f| f.equals.iter().any(|v| v == "Management"))
        && field("eventCategory").all(|f| {
            (f.equals.is_empty() || f.equals.iter().any(|v| v == "Management"))
                && !f.not_equals.iter().any(|v| v == "Management")
        });
    // readOnly = true (or != false) keeps only read events.
    let is = |v: &String, b: &str| v.eq_ignore_ascii_case(b);
    let only_reads = |f: &FieldSelector| {
        (!f.equals.is_empty() && f.equals.iter().all(|v| is(v, "true")))
            || f.not_equals.iter().any(|v| is(v, "false"))
    };
    let writes = !field("readOnly").any(only_reads);
    const SOURCE: &str = "organizations.amazonaws.com";
    let source = field("eventSource").all(|f| {
        (f.equals.is_empty() || f.equals.iter().any(|v| v == SOURCE))
            && !f.not_equals.iter().any(|v| v == SOURCE)
    });
    management && writes && source
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
    pub registration: Result<Registration, String>,
    /// The `ManagementAccountId` given (`--management-account-id`), if any.
    pub declared: Declared,
    pub trusted_access: Result<bool, String>,
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

/// The role's policies: they exist in the signed-in account (a customer managed policy must
/// exist in every account in scope: doctor can see this one), and together (within the
/// boundary) they allow Cloud Control's read actions, the minimum Port's guide lists.
fn role_policies(i: &Inputs<'_>) -> Vec<Check> {
    const T: &str = "Port role policies";
    let f = &i.role_policies;
    let acct = &f.account;
    let p = match &f.parsed {
        Err(e) => {
            return vec![check("role-policies", Status::Fail, T, e.clone()).fix(
                "Set PortRolePolicyArns (orgscope: --role-policy-arns) and \
                 PortRolePermissionsBoundaryArn (--role-permissions-boundary-arn) to valid \
                 values; the default is ReadOnlyAccess with no boundary.",
            )]
        }
        Ok(p) => p,
    };
    let mut out = Vec::new();
    let read: BTreeMap<&str, &Result<Option<Value>, String>> =
        f.documents.iter().map(|(a, d)| (a.as_str(), d)).collect();
    // The document of each policy, when known: None = unknown (missing or unreadable).
    let doc_of = |x: &RolePolicy| -> Option<Value> {
        if let RolePolicy::AwsManaged { path_and_name } = x {
            if let Some(d) = known_cloudformation_document(path_and_name) {
                return Some(d);
            }
        }
        match read.get(x.arn_in(&f.partition, acct).as_str()) {
            Some(Ok(Some(d))) => Some(d.clone()),
            _ => None,
        }
    };
    for x in p.all() {
        let arn = x.arn_in(&f.partition, acct);
        match read.get(arn.as_str()) {
            Some(Ok(None)) if x.is_customer_managed() => {
                let RolePolicy::CustomerManaged { path_and_name, .. } = x else {
                    unreachable!()
                };
                let (path, name) = match path_and_name.rsplit_once('/') {
                    Some((p, n)) => (format!("/{p}/"), n.to_string()),
                    None => ("/".to_string(), path_and_name.clone()),
                };
                out.push(
                    check(
                        format!("role-policy:{arn}"),
                        Status::Fail,
                        T,
                        format!(
                            "the customer managed policy {arn} does not exist in {acct}: Port's \
                             role takes the policy of that path and name from its own account, \
                             so every account in scope (and this one) needs it, or the role \
                             there is not created"
                        ),
                    )
                    .fix(format!(
                        "Create it in every account in scope, e.g. aws iam create-policy \
                         --policy-name {name} --path {path} --policy-document file://policy.json \
                         (or a StackSet of your own), or remove it from PortRolePolicyArns."
                    )),
                );
            }
            Some(Ok(None)) => out.push(
                check(
                    format!("role-policy:{arn}"),
                    Status::Fail,
                    T,
                    format!("IAM has no AWS managed policy {arn}"),
                )
                .fix(
                    "Check the name and path in the AWS Managed Policy Reference, or use a \
                     short name (ReadOnlyAccess, ViewOnlyAccess, SecurityAudit, \
                     AWSCloudFormationReadOnlyAccess).",
                ),
            ),
            Some(Err(e)) => out.push(
                check(
                    format!("role-policy:{arn}"),
                    Status::Warn,
                    T,
                    format!("could not read {arn} in {acct}: {e}"),
                )
                .fix(format!(
                    "Check it by hand: aws iam get-policy --policy-arn {arn}"
                )),
            ),
            _ => {}
        }
    }
    let policies: Vec<Option<Value>> = p.policies.iter().map(doc_of).collect();
    let boundary: Option<Option<Value>> = p.boundary.as_ref().map(doc_of);
    let known =
        policies.iter().all(Option::is_some) && boundary.as_ref().is_none_or(Option::is_some);
    let names: Vec<String> = p
        .policies
        .iter()
        .map(|x| x.arn_in(&f.partition, acct))
        .collect();
    if known {
        let docs: Vec<&Value> = policies.iter().flatten().collect();
        let missing: Vec<&str> = CLOUD_CONTROL_READ
            .iter()
            .copied()
            .filter(|a| {
                !allows(&docs, a)
                    || boundary
                        .as_ref()
                        .and_then(Option::as_ref)
                        .is_some_and(|b| !allows(&[b], a))
            })
            .collect();
        if !missing.is_empty() {
            out.push(
                check(
                    "role-cloud-control",
                    Status::Warn,
                    T,
                    format!(
                        "the role's policies{} do not allow {}: Port's guide lists Cloud \
                         Control's read actions (cloudformation:ListResources, \
                         cloudformation:GetResource) as the minimum, and without them Port \
                         cannot read any resource kind",
                        if p.boundary.is_some() {
                            " (within the boundary)"
                        } else {
                            ""
                        },
                        missing.join(" and ")
                    ),
                )
                .fix(
                    "Add AWSCloudFormationReadOnlyAccess to PortRolePolicyArns (it allows \
                     cloudformation:Get* and List*), or a policy of your own allowing \
                     cloudformation:ListResources and cloudformation:GetResource on *.",
                ),
            );
        }
    }
    if out.is_empty() {
        out.push(check(
            "role-policies",
            Status::Pass,
            T,
            format!(
                "{}{}; {}",
                names.join(", "),
                p.boundary
                    .as_ref()
                    .map(|b| format!(" within the boundary {}", b.arn_in(&f.partition, acct)))
                    .unwrap_or_default(),
                if known {
                    "they allow Cloud Control's read actions"
                } else {
                    "Cloud Control's read actions not checked (a policy could not be read)"
                }
            ),
        ));
    }
    out
}

/// Every check, in the order a user would fix them.
pub fn checks(i: &Inputs<'_>) -> Vec<Check> {
    let mut out = before_stack_set(
        &i.caller,
        &i.organization,
        &i.registration,
        &i.declared,
        &i.trusted_access,
    );
    out.extend([region(i), cloudtrail(&i.trails)]);
    out.extend(targets(i));
    out.extend(listed_accounts(i));
    out.push(oidc_provider(i));
    out.extend(member_oidc_providers(i));
    out.push(role(i));
    out.push(stack_set(i));
    out.push(scope(i));
    out.extend(stack_instance_quota(i));
    out.extend(role_policies(i));
    out
}

/// A warning when the scope needs more stack instances than the StackSet's quota allows:
/// past it, `CreateStackInstances` fails account by account, late. The quota is the
/// account's own (Service Quotas `GetServiceQuota`); when it cannot be read (no
/// `servicequotas:GetServiceQuota` permission, say), AWS's documented default is assumed and
/// the check says so.
fn stack_instance_quota(i: &Inputs<'_>) -> Option<Check> {
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

/// The checks without which CloudFormation cannot even create the StackSet: the deployment
/// mode (management account or registered delegated administrator), trusted access, all
/// features. The stack's preflight custom resource (`Custom::PortPreflight`) runs these before
/// the StackSet, so a first deploy from the wrong account fails with these words, not with
/// AWS's StackSet error.
pub fn before_stack_set(
    caller: &Result<AccountId, String>,
    organization: &Result<OrgInfo, String>,
    registration: &Result<Registration, String>,
    declared: &Declared,
    trusted: &Result<bool, String>,
) -> Vec<Check> {
    vec![
        deployment_mode(caller, organization, registration, declared),
        trusted_access(trusted),
        all_features(organization),
    ]
}

/// The FAIL checks as one text, each `<title>: <detail>. Fix: <fix>`, for a place that shows
/// a single message (a CloudFormation Reason). `None` when nothing failed.
pub fn failure_text(checks: &[Check]) -> Option<String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| match &c.fix {
            Some(fix) => format!("{}: {}. Fix: {fix}", c.title, c.detail),
            None => format!("{}: {}", c.title, c.detail),
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join(" | "))
}

/// How an Organizations read error reads in a check's detail.
pub fn organization_error(e: crate::ports::AwsError) -> String {
    use crate::ports::AwsError;
    use crate::read::ReadError;
    match e {
        AwsError::NoOrganization => ReadError::NoOrganization.to_string(),
        AwsError::AccessDenied(m) => ReadError::AccessDenied(m).to_string(),
        e => e.to_string(),
    }
}

/// Exit status: any FAIL.
pub fn has_failure(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

/// Which mode the deployment runs in and why (`core::mode::decide`), and what the other mode
/// would need.
fn deployment_mode(
    caller: &Result<AccountId, String>,
    organization: &Result<OrgInfo, String>,
    registration: &Result<Registration, String>,
    declared: &Declared,
) -> Check {
    const ID: &str = "deployment-mode";
    const T: &str = "Deployment mode";
    let org = match organization {
        Ok(o) => o,
        Err(e) => {
            return check(ID, Status::Fail, T, e.clone()).fix(
                "Sign in to your organization's management account (AWS Organizations > \
                 Settings shows it), or to a delegated administrator for CloudFormation \
                 StackSets, and run again.",
            )
        }
    };
    let caller = match caller {
        Ok(c) => c,
        Err(e) => {
            return check(
                ID,
                Status::Fail,
                T,
                format!("could not tell which account you are signed in to: {e}"),
            )
            .fix("Check your AWS credentials (`aws sts get-caller-identity`).")
        }
    };
    let in_management = *caller == org.management_account_id;
    let listed = match registration {
        Ok(r) => r.clone(),
        // The management account needs no listing to know its mode.
        Err(_) if in_management => Registration::NotAsked,
        Err(e) => {
            return check(
                ID,
                Status::Fail,
                T,
                format!(
                    "signed in to {caller}, a member account of organization {}; whether it is \
                     a delegated administrator for CloudFormation StackSets could not be read: \
                     {e}",
                    org.id
                ),
            )
            .fix("Allow organizations:ListDelegatedAdministrators to this identity and run again.")
        }
    };
    let facts = ModeFacts {
        caller: caller.clone(),
        management: org.management_account_id.clone(),
        registration: if in_management {
            Registration::NotAsked
        } else {
            listed.clone()
        },
        declared: declared.clone(),
    };
    match decide(&facts) {
        Ok(mode) => check(
            ID,
            Status::Pass,
            T,
            format!(
                "{} of organization {}. For the other mode: {}",
                mode.why(),
                org.id,
                other_mode_needs(&mode, &listed)
            ),
        ),
        Err(e) => check(ID, Status::Fail, T, e.problem()).fix(e.fix()),
    }
}

fn trusted_access(trusted: &Result<bool, String>) -> Check {
    const T: &str = "Trusted access";
    const FIX: &str = "aws cloudformation activate-organizations-access   (in the management \
                       account; or CloudFormation > StackSets > Activate trusted access)";
    match trusted {
        Ok(true) => check(
            "trusted-access",
            Status::Pass,
            T,
            "trusted access for CloudFormation StackSets is enabled in AWS Organizations".into(),
        ),
        Ok(false) => check(
            "trusted-access",
            Status::Fail,
            T,
            "trusted access for CloudFormation StackSets is off: service-managed StackSets \
             cannot deploy (\"You must enable organizations access\")"
                .into(),
        )
        .fix(FIX),
        Err(e) => check(
            "trusted-access",
            Status::Fail,
            T,
            format!("could not read the organization's service access: {e}"),
        )
        .fix(format!(
            "Run this from the management account or a delegated administrator for \
             CloudFormation StackSets; if access is off: {FIX}"
        )),
    }
}

fn all_features(organization: &Result<OrgInfo, String>) -> Check {
    const T: &str = "All features";
    match organization {
        Ok(o) if o.all_features => check(
            "all-features",
            Status::Pass,
            T,
            format!("organization {} has all features enabled", o.id),
        ),
        Ok(o) => check(
            "all-features",
            Status::Fail,
            T,
            format!(
                "organization {} has only consolidated billing: StackSets cannot deploy through \
                 AWS Organizations",
                o.id
            ),
        )
        .fix(
            "aws organizations enable-all-features   (or AWS Organizations > Settings; every \
             member account must accept)",
        ),
        Err(e) => check(
            "all-features",
            Status::Fail,
            T,
            format!("could not read the organization: {e}"),
        ),
    }
}

/// The `CallAs` the facts decide (the caller, the management account, the registration),
/// without the declared `ManagementAccountId`: the region rule follows where the stack runs.
/// `None` when the facts decide no mode (the deployment-mode check then FAILs and says why).
fn facts_call_as(i: &Inputs<'_>) -> Option<CallAs> {
    let caller = i.caller.as_ref().ok()?;
    let org = i.organization.as_ref().ok()?;
    if *caller == org.management_account_id {
        return Some(CallAs::Self_);
    }
    let facts = ModeFacts {
        caller: caller.clone(),
        management: org.management_account_id.clone(),
        registration: i.registration.as_ref().ok()?.clone(),
        declared: Declared::Unknown,
    };
    decide(&facts).ok().map(|m| m.call_as)
}

fn region(i: &Inputs<'_>) -> Check {
    region_check(i.region.as_deref(), facts_call_as(i))
}

/// The region check for a stack run in `region` in the mode `call_as` (`None`: undecided).
/// The management account: us-east-1 only, where Organizations' events reach EventBridge. A
/// delegated administrator: the regions where AWS lets one work, less GovCloud
/// ([`DELEGATED_ADMIN_REGIONS`], with its sources); the companion's rules forward the events
/// from us-east-1. The templates' rules refuse the same regions.
pub fn region_check(region: Option<&str>, call_as: Option<CallAs>) -> Check {
    const ID: &str = "region";
    const T: &str = "Region";
    let listed = DELEGATED_ADMIN_REGIONS.join(", ");
    let delegated_admin_regions = format!(
        "AWS lets a delegated administrator for CloudFormation StackSets work only in {listed} \
         (GovCloud left out: EventBridge cannot forward the management account's {EVENTS_REGION} \
         events there)"
    );
    let Some(r) = region else {
        let fix = match call_as {
            Some(CallAs::DelegatedAdmin) => format!(
                "export AWS_REGION=<the main stack's region>, one of {listed} (the companion's \
                 DelegatedAdminRegion)"
            ),
            _ => format!("export AWS_REGION={EVENTS_REGION}"),
        };
        return check(ID, Status::Fail, T, "no AWS region is configured".into()).fix(fix);
    };
    match call_as {
        // us-east-1 is right in both modes.
        Some(CallAs::Self_) | None if r == EVENTS_REGION => check(
            ID,
            Status::Pass,
            T,
            "us-east-1: AWS Organizations events (accounts joining or moving) reach the \
             stack's EventBridge rule here"
                .into(),
        ),
        Some(CallAs::Self_) => check(
            ID,
            Status::Fail,
            T,
            format!(
                "{r}: the template refuses regions other than us-east-1, because AWS \
                 Organizations events reach EventBridge only there and a stack in {r} would \
                 never see accounts join or move (the StackSet check below looks in {r})"
            ),
        )
        .fix(
            "Deploy the stack in us-east-1 and run doctor there: AWS_REGION=us-east-1 (IAM roles \
             are global: this does not limit the regions Port reads).",
        ),
        Some(CallAs::DelegatedAdmin) if region_allowed(CallAs::DelegatedAdmin, r) => {
            let here = format!(
                "{r}: a delegated administrator for CloudFormation StackSets may run the stack \
                 here; the companion stack's rules in the management account's {EVENTS_REGION} \
                 forward AWS Organizations events to this region's default event bus (set its \
                 DelegatedAdminRegion to {r})"
            );
            if !is_opt_in(r) {
                return check(ID, Status::Pass, T, here);
            }
            check(
                ID,
                Status::Warn,
                T,
                format!(
                    "{here}. {r} is an opt-in region (disabled by default): StackSets creates an \
                     instance only in an account where {r} is enabled, and only if the \
                     management account has it enabled too"
                ),
            )
            .fix(format!(
                "Enable {r} in the management account (`aws account enable-region \
                 --region-name {r}`, run there) and, from it, in every account in scope: `{}` \
                 (needs trusted access for AWS Account Management), or in each account's \
                 console: Account > AWS Regions.",
                enable_region_command(r)
            ))
        }
        Some(CallAs::DelegatedAdmin) => check(
            ID,
            Status::Fail,
            T,
            format!(
                "{r}: {delegated_admin_regions}; the template refuses {r} (the StackSet check \
                 below looks in {r})"
            ),
        )
        .fix(
            "Deploy the main stack in one of those regions, with the companion's \
             DelegatedAdminRegion set to the same one, and run doctor there: AWS_REGION=<region> \
             (IAM roles are global: this does not limit the regions Port reads).",
        ),
        None if region_allowed(CallAs::DelegatedAdmin, r) => check(
            ID,
            Status::Warn,
            T,
            format!(
                "{r}: only a stack deployed from a delegated administrator for CloudFormation \
                 StackSets may run here, and the Deployment mode check above found this account \
                 is neither that nor the management account; in the management account the \
                 stack runs in us-east-1 only"
            ),
        )
        .fix(
            "Run doctor from the account you deploy in: the management account with \
             AWS_REGION=us-east-1, or a registered delegated administrator.",
        ),
        None => check(
            ID,
            Status::Fail,
            T,
            format!(
                "{r}: the template refuses it in both modes: in the management account the \
                 stack runs in us-east-1 only (AWS Organizations events reach EventBridge only \
                 there); from a delegated administrator, {delegated_admin_regions}"
            ),
        )
        .fix(
            "Deploy the stack in us-east-1 and run doctor there: AWS_REGION=us-east-1 (IAM roles \
             are global: this does not limit the regions Port reads).",
        ),
    }
}

/// Whether AWS Organizations' API-call events reach EventBridge: a logging trail that records
/// management write events in us-east-1.
fn cloudtrail(trails: &Result<Vec<Trail>, String>) -> Check {
    const T: &str = "CloudTrail";
    const ID: &str = "cloudtrail";
    const CREATE: &str = "in us-east-1, `aws cloudtrail create-trail --name org-trail \
                          --s3-bucket-name <bucket> --is-multi-region-trail`, then `aws \
                          cloudtrail start-logging --name org-trail` (the bucket needs \
                          CloudTrail's bucket policy); or use an organization trail \
                          (`--is-organization-trail`)";
    const WITHOUT: &str = "AWS Organizations' API-call events (MoveAccount, \
                           RemoveAccountFromOrganization, CloseAccount, ...) never reach \
                           EventBridge: accounts that move, are removed or closed are enrolled or \
                           dropped only by the scheduled run (ReconcileSchedule, every 6 hours by \
                           default). New accounts (CreateAccountResult) still arrive at once: \
                           they need no trail";
    // Where AWS gives the management account no event at all, trail or not.
    const NO_EVENT: &str = " No event reaches this account when a member calls AcceptHandshake or \
                            LeaveOrganization itself (recorded in the member account; the stack \
                            acts on AccountJoinedOrganization / AccountDepartedOrganization \
                            instead), for Control Tower lifecycle events when Control Tower's \
                            home region is not us-east-1 (its CreateAccountResult and MoveAccount \
                            still arrive), or when an account's state changes without a call in \
                            this organization (AWS documents no Organizations event for that): \
                            the scheduled run covers these.";
    let trails = match trails {
        Ok(t) => t,
        Err(e) => {
            return check(
                ID,
                Status::Warn,
                T,
                format!(
                    "could not be checked ({e}): without a trail logging management events in \
                     {EVENTS_REGION}, {WITHOUT}.{NO_EVENT}"
                ),
            )
            .fix(format!(
                "Allow cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and \
                 cloudtrail:GetEventSelectors, or check by hand: aws cloudtrail describe-trails \
                 --region {EVENTS_REGION}. If there is none: {CREATE}"
            ))
        }
    };
    let covering: Vec<&Trail> = trails
        .iter()
        .filter(|t| t.multi_region || t.home_region == EVENTS_REGION)
        .collect();
    let describe = |t: &Trail| {
        if t.organization_trail {
            "organization trail"
        } else if t.multi_region {
            "multi-region"
        } else {
            "home region us-east-1"
        }
    };
    let good: Vec<&&Trail> = covering
        .iter()
        .filter(|t| t.logging && records_management_writes(&t.selectors))
        .collect();
    if let Some(t) = good.first() {
        let more = match good.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return check(
            ID,
            Status::Pass,
            T,
            format!(
                "trail {} ({}, logging){more} records management write events in \
                 {EVENTS_REGION}: accounts that move, are removed or closed reach the \
                 stack's EventBridge rule within minutes.{NO_EVENT}",
                t.name,
                describe(t)
            ),
        );
    }
    if covering.is_empty() {
        return check(
            ID,
            Status::Warn,
            T,
            format!("no trail logs management events in {EVENTS_REGION}, so {WITHOUT}.{NO_EVENT}"),
        )
        .fix(format!("Create a multi-region trail: {CREATE}"));
    }
    let why: Vec<String> = covering
        .iter()
        .map(|t| {
            let records = records_management_writes(&t.selectors);
            match (t.logging, records) {
                (false, true) => format!("trail {} is not logging", t.name),
                (false, false) => format!(
                    "trail {} is not logging and its event selectors leave out management \
                     write events",
                    t.name
                ),
                _ => format!(
                    "trail {}'s event selectors leave out management write events",
                    t.name
                ),
            }
        })
        .collect();
    let fix = match covering
        .iter()
        .find(|t| !t.logging && records_management_writes(&t.selectors))
    {
        Some(t) => format!(
            "aws cloudtrail start-logging --name {} --region {}   (or create a multi-region \
             trail: {CREATE})",
            t.name, t.home_region
        ),
        None => format!(
            "Record management events with ReadWriteType All or WriteOnly (aws cloudtrail \
             put-event-selectors), or create a multi-region trail: {CREATE}"
        ),
    };
    check(
        ID,
        Status::Warn,
        T,
        format!("{}, so {WITHOUT}.{NO_EVENT}", why.join("; ")),
    )
    .fix(fix)
}

fn targets(i: &Inputs<'_>) -> Vec<Check> {
    const T: &str = "Target OU";
    // Existing targets by path, then the unknown ones.
    let mut sorted: Vec<&(TargetId, Result<TargetFinding, String>)> = i.targets.iter().collect();
    sorted.sort_by_key(|(t, f)| match f {
        Ok(TargetFinding::Root) => (0, String::new()),
        Ok(TargetFinding::Found { path }) => (1, path.clone()),
        _ => (2, t.as_str().to_owned()),
    });
    sorted
        .into_iter()
        .map(|(t, f)| {
            let id = format!("target-ou:{t}");
            match f {
                Ok(TargetFinding::Root) => check(
                    id,
                    Status::Pass,
                    T,
                    format!("{t} is the root: the whole organization (every account in every OU)"),
                ),
                Ok(TargetFinding::Found { path }) => check(
                    id,
                    Status::Pass,
                    T,
                    format!("{path} exists; its child OUs are included"),
                ),
                Ok(TargetFinding::NotFound { suggestions }) => {
                    let kind = if t.is_root() { "root" } else { "OU" };
                    let hint = if suggestions.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ". Closest: {}",
                            suggestions
                                .iter()
                                .map(|s| s.path.clone())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    check(
                        id,
                        Status::Fail,
                        T,
                        format!("{kind} {t} does not exist in this organization{hint}"),
                    )
                    .fix(
                        "Copy the OU ID from AWS Organizations > AWS accounts (click the OU; the \
                         ID is under its name), or run `aws organizations \
                         list-organizational-units-for-parent --parent-id <root-id>`.",
                    )
                }
                Err(e) => check(id, Status::Fail, T, format!("could not look up {t}: {e}")),
            }
        })
        .collect()
}

fn listed_accounts(i: &Inputs<'_>) -> Vec<Check> {
    const T: &str = "Listed account";
    if i.scope.accounts.is_empty() {
        return vec![];
    }
    let mode = i.scope.mode;
    let (tree, exp) = match &i.read {
        Ok((tree, exp)) => (tree, exp),
        Err(e) => {
            return vec![check(
                "listed-accounts",
                Status::Fail,
                "Listed accounts",
                format!("could not look up the listed accounts: {e}"),
            )]
        }
    };
    let entries: BTreeMap<&AccountId, &crate::core::Entry> = exp
        .included
        .iter()
        .chain(&exp.skipped)
        .map(|e| (&e.id, e))
        .collect();
    let remove = "Remove it from --target-account-ids (TargetAccountIds).";
    // By name (then ID), the way a user reads a list of accounts.
    let mut listed: Vec<&AccountId> = i.scope.accounts.iter().collect();
    listed.sort_by_key(|a| {
        (
            entries.get(a).map(|e| e.name.clone()),
            a.as_str().to_owned(),
        )
    });
    listed
        .into_iter()
        .map(|a| {
            let id = format!("account:{a}");
            if i.not_in_organization.contains(a) {
                return check(
                    id,
                    Status::Fail,
                    T,
                    format!("{a} is not in this organization"),
                )
                .fix(
                    "Check for a typo (12 digits, comma-separated, e.g. \
                     111111111111,222222222222), or invite the account first.",
                );
            }
            let Some(e) = entries.get(a) else {
                return check(
                    id,
                    Status::Warn,
                    T,
                    format!("{a} was not found under the targets nor located elsewhere"),
                );
            };
            let who = format!("{a} ({})", e.name);
            if tree.management_account_id.as_ref() == Some(a) {
                return check(
                    id,
                    Status::Warn,
                    T,
                    format!(
                        "{who} is the management account: StackSets never deploy there (the \
                         stack's own role covers it), so listing it has no effect"
                    ),
                )
                .fix(remove);
            }
            match &e.reason {
                Reason::ListedUnderTarget { .. } => check(
                    id,
                    Status::Pass,
                    T,
                    format!("{who} in {}: in scope", e.ou_path),
                ),
                Reason::ExcludedByList => check(
                    id,
                    Status::Pass,
                    T,
                    format!("{who} in {}: excluded, as DIFFERENCE asks", e.ou_path),
                ),
                Reason::OutsideTargets { actual } => {
                    let (what, fix) = match mode {
                        AccountScope::Intersection => (
                            "INTERSECTION drops it: it gets no role",
                            "Add its OU to --target-ou-ids (TargetOUIds), or move the account \
                             into a target OU.",
                        ),
                        AccountScope::Difference => (
                            "DIFFERENCE would not deploy to it anyway, so listing it excludes \
                             nothing (a typo?)",
                            remove,
                        ),
                        AccountScope::All => ("ALL ignores the list", remove),
                    };
                    check(
                        id,
                        Status::Warn,
                        T,
                        format!("{who} lives in {actual}, outside every target OU; {what}"),
                    )
                    .fix(fix)
                }
                Reason::NotActive { state } => {
                    let what = match mode {
                        AccountScope::Intersection => {
                            "StackSets skip it, so INTERSECTION drops it until it is ACTIVE"
                        }
                        _ => "StackSets skip it anyway, so excluding it changes nothing",
                    };
                    check(
                        id,
                        Status::Warn,
                        T,
                        format!("{who} in {} is {state}, not ACTIVE: {what}", e.ou_path),
                    )
                    .fix(match mode {
                        AccountScope::Intersection => {
                            "Reactivate the account, or remove it from --target-account-ids."
                        }
                        _ => remove,
                    })
                }
                Reason::ManagementAccount => check(
                    id,
                    Status::Warn,
                    T,
                    format!(
                        "{who} is the management account: StackSets never deploy there (the \
                         stack's own role covers it), so listing it has no effect"
                    ),
                )
                .fix(remove),
                r => check(id, Status::Pass, T, format!("{who} in {}: {r}", e.ou_path)),
            }
        })
        .collect()
}

fn caller_or_mgmt(i: &Inputs<'_>) -> String {
    match &i.caller {
        Ok(a) => a.to_string(),
        Err(_) => "this account".into(),
    }
}

fn oidc_provider(i: &Inputs<'_>) -> Check {
    const T: &str = "OIDC provider";
    let acct = caller_or_mgmt(i);
    let issuer = issuer_of(&i.oidc_url);
    match &i.provider {
        Err(e) => check(
            "oidc-provider",
            Status::Warn,
            T,
            format!("could not read IAM in {acct}: {e}"),
        )
        .fix(format!(
            "Check it by hand: aws iam list-open-id-connect-providers (look for {issuer})"
        )),
        Ok(None) => check(
            "oidc-provider",
            Status::Pass,
            T,
            format!(
                "none for Port's issuer in {acct} yet: keep CreateOIDCProvider=true (the \
                 default)"
            ),
        ),
        Ok(Some(p)) => {
            let ours = p.tags.get(INTEGRATION_TAG) == Some(&i.integration);
            let aud = p.client_ids.iter().any(|c| c == PORT_AUDIENCE);
            if ours && aud {
                return check(
                    "oidc-provider",
                    Status::Pass,
                    T,
                    format!(
                        "Port's OIDC provider in {acct} was created by this integration's stack \
                         ({INTEGRATION_TAG}={})",
                        i.integration
                    ),
                );
            }
            let mut c = check(
                "oidc-provider",
                Status::Warn,
                T,
                format!(
                    "an OIDC provider for Port's URL already exists in {acct}: an account holds \
                     one per URL, so creating it again fails with EntityAlreadyExists{}",
                    if aud {
                        String::new()
                    } else {
                        format!("; it lacks the client ID {PORT_AUDIENCE}")
                    }
                ),
            );
            let mut fix = "Deploy with CreateOIDCProviderInManagementAccount=false: the \
                           management account's role reuses the existing provider, while \
                           CreateOIDCProvider=true (the default) still gives member accounts \
                           theirs (those that already hold one reuse it automatically). From a \
                           delegated administrator, deploy the management account's companion \
                           stack with CreateOIDCProvider=false."
                .to_owned();
            if !aud {
                fix.push_str(&format!(
                    " Then: aws iam add-client-id-to-open-id-connect-provider \
                     --open-id-connect-provider-arn {} --client-id {PORT_AUDIENCE}",
                    p.arn
                ));
            }
            c = c.fix(fix);
            c
        }
    }
}

/// With `CreateOIDCProvider=false` no member stack creates Port's provider: every member
/// account that does not already hold one gets a role whose trust names a provider that does
/// not exist. With `true` (the default) nothing to say: accounts that already hold one reuse
/// it (the engine retries them with the per-account override `CreateOIDCProvider=false`).
fn member_oidc_providers(i: &Inputs<'_>) -> Option<Check> {
    (!i.create_oidc_provider).then(|| {
        check(
            "oidc-provider-members",
            Status::Warn,
            "OIDC in members",
            "CreateOIDCProvider=false: no member account gets Port's OIDC provider from the \
             stack, so any account without one gets a role whose trust names a provider that \
             does not exist, and Port cannot assume it (nothing fails: the role is created)"
                .to_owned(),
        )
        .fix(
            "Deploy with CreateOIDCProvider=true (the default): member accounts that already \
             hold Port's provider reuse it automatically (a per-account override), the others \
             get one.",
        )
    })
}

fn role(i: &Inputs<'_>) -> Check {
    const T: &str = "IAM role";
    let acct = caller_or_mgmt(i);
    let name = &i.role_name;
    match &i.role {
        Err(e) => check(
            "role",
            Status::Warn,
            T,
            format!("could not read role {name} in {acct}: {e}"),
        )
        .fix(format!(
            "Check it by hand: aws iam get-role --role-name {name}"
        )),
        Ok(None) => check(
            "role",
            Status::Pass,
            T,
            format!("no role named {name} in {acct} yet: the stack creates it with Port's trust"),
        ),
        Ok(Some(r)) => {
            let why = trust_mismatch(&r.trust_policy, &i.oidc_url);
            let ours = r.tags.get(INTEGRATION_TAG) == Some(&i.integration);
            let other_name = format!(
                "Choose a free name: another --integration-identifier (role \
                 PortIntegrationRole-<id>) or CustomRoleName, or delete the old role: aws iam \
                 delete-role --role-name {name} (detach its policies first)."
            );
            if !why.is_empty() {
                check(
                    "role",
                    Status::Fail,
                    T,
                    format!(
                        "{name} already exists in {acct} and cannot be reused: {}. Port signs \
                         in only through its OIDC provider, and the stack must create the role \
                         with that trust itself",
                        why.join("; ")
                    ),
                )
                .fix(other_name)
            } else if ours {
                check(
                    "role",
                    Status::Pass,
                    T,
                    format!(
                        "{name} exists in {acct}, created by this integration's stack \
                         ({INTEGRATION_TAG}={}), and trusts Port's OIDC provider",
                        i.integration
                    ),
                )
            } else {
                check(
                    "role",
                    Status::Warn,
                    T,
                    format!(
                        "{name} already exists in {acct} and its trust matches Port's, but this \
                         integration's stack did not create it (no {INTEGRATION_TAG}={} tag): \
                         CloudFormation cannot adopt a role, so the stack fails with \"already \
                         exists\"",
                        i.integration
                    ),
                )
                .fix(other_name)
            }
        }
    }
}

fn stack_set(i: &Inputs<'_>) -> Check {
    const T: &str = "StackSet";
    let name = &i.stack_set_name;
    match &i.stack_set {
        Err(e) => check(
            "stack-set",
            Status::Fail,
            T,
            format!("could not describe StackSet {name}: {e}"),
        ),
        Ok(None) => check(
            "stack-set",
            Status::Warn,
            T,
            format!(
                "{name} does not exist in {} yet: the stack creates it (resource PortStackSet)",
                i.region.as_deref().unwrap_or("this region")
            ),
        )
        .fix(
            "Nothing to do before the first deploy. After it, check --stack-set-name \
             (StackSetName) and the region.",
        ),
        Ok(Some(s)) if !s.service_managed => check(
            "stack-set",
            Status::Fail,
            T,
            format!(
                "{name} uses self-managed permissions: this integration needs a service-managed \
                 StackSet, which deploys through AWS Organizations"
            ),
        )
        .fix(
            "Use the StackSet this stack creates (--stack-set-name), or delete this one and let \
             the stack create it.",
        ),
        Ok(Some(s)) if s.auto_deployment => check(
            "stack-set",
            Status::Fail,
            T,
            format!(
                "{name} has AutoDeployment on: StackSets then deploy to every account added to a \
                 target OU, ignoring INTERSECTION and DIFFERENCE"
            ),
        )
        .fix(format!(
            "CloudFormation > StackSets > {name} > Actions > Edit StackSet details > Automatic \
             deployment: Deactivated (or update the stack: its template keeps it off)."
        )),
        Ok(Some(s)) => check(
            "stack-set",
            Status::Pass,
            T,
            format!(
                "{name} exists ({}), service-managed, auto-deployment off",
                if s.status.is_empty() {
                    "status unknown"
                } else {
                    &s.status
                }
            ),
        ),
    }
}

fn scope(i: &Inputs<'_>) -> Check {
    const T: &str = "Scope";
    match &i.read {
        Err(e) => check(
            "scope",
            Status::Fail,
            T,
            format!("could not expand the scope: {e}"),
        ),
        Ok((_, e)) => {
            let n = e.included.len();
            let unknown = i
                .targets
                .iter()
                .filter(|(_, f)| {
                    !matches!(f, Ok(TargetFinding::Root | TargetFinding::Found { .. }))
                })
                .count();
            let mut why: BTreeMap<String, usize> = BTreeMap::new();
            for x in &e.skipped {
                let k = match &x.reason {
                    Reason::ManagementAccount => "management account".to_owned(),
                    Reason::NotActive { state } => state.to_string(),
                    Reason::NotListed => "not listed".into(),
                    Reason::ExcludedByList => "excluded by list".into(),
                    Reason::OutsideTargets { .. } => "outside targets".into(),
                    _ => "other".into(),
                };
                *why.entry(k).or_default() += 1;
            }
            let why: Vec<String> = why.into_iter().map(|(k, n)| format!("{n} {k}")).collect();
            let detail = format!(
                "{} mode: {n} account{} get{} Port's role through the StackSet; {} skipped{}{}",
                e.mode,
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
                e.skipped.len(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join(", "))
                },
                if unknown > 0 {
                    format!(
                        "; counting only the targets that exist ({unknown} target{} missing)",
                        if unknown == 1 { " is" } else { "s are" }
                    )
                } else {
                    String::new()
                }
            );
            if n == 0 {
                check("scope", Status::Warn, T, detail).fix(
                    "Check --target-ou-ids, --account-scope and --target-account-ids: the \
                     StackSet would deploy nowhere. `orgscope plan` shows why each account is \
                     out.",
                )
            } else {
                check("scope", Status::Pass, T, detail)
            }
        }
    }
}

/// Why a role's trust policy is not Port's; empty when it is. Port's trust: `Allow`,
/// `Principal.Federated` = the IAM OIDC provider for the issuer, `sts:AssumeRoleWithWebIdentity`,
/// and a `StringEquals` condition `<issuer>:aud` = `sts.amazonaws.com`.
pub fn trust_mismatch(doc: &Value, oidc_url: &str) -> Vec<String> {
    let issuer = issuer_of(oidc_url);
    let provider_suffix = format!(":oidc-provider/{issuer}");
    let statements: Vec<&Value> = match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => vec![],
    };
    let allow: Vec<&Value> = statements
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect();
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        }
    };
    let federated: Vec<&Value> = allow
        .iter()
        .copied()
        .filter(|s| {
            strings(&s["Principal"]["Federated"])
                .iter()
                .any(|p| p.ends_with(&provider_suffix))
        })
        .collect();
    if federated.is_empty() {
        let mut seen: Vec<String> = Vec::new();
        for s in &allow {
            match &s["Principal"] {
                Value::String(p) => seen.push(p.clone()),
                Value::Object(m) => {
                    for (k, v) in m {
                        for p in strings(v) {
                            seen.push(format!("{k} {p}"));
                        }
                    }
                }
                _ => {}
            }
        }
        seen.sort();
        seen.dedup();
        let who = if seen.is_empty() {
            "no one".to_owned()
        } else {
            seen.join(", ")
        };
        return vec![format!(
            "its trust policy allows {who}, not Port's OIDC provider for {issuer}"
        )];
    }
    let action_ok = |s: &&Value| {
        strings(&s["Action"])
            .iter()
            .any(|a| matches!(a.as_str(), "sts:AssumeRoleWithWebIdentity" | "sts:*" | "*"))
    };
    let with_action: Vec<&Value> = federated.iter().copied().filter(action_ok).collect();
    if with_action.is_empty() {
        return vec![format!(
            "it trusts Port's OIDC provider but does not allow sts:AssumeRoleWithWebIdentity \
             (it allows {})",
            federated
                .iter()
                .flat_map(|s| strings(&s["Action"]))
                .collect::<Vec<_>>()
                .join(", ")
        )];
    }
    let aud_key = format!("{issuer}:aud");
    let aud_ok = with_action.iter().any(|s| {
        ["StringEquals", "StringLike", "ForAnyValue:StringEquals"]
            .iter()
            .any(|op| {
                strings(&s["Condition"][op][&aud_key])
                    .iter()
                    .any(|v| v == PORT_AUDIENCE)
            })
    });
    if !aud_ok {
        return vec![format!(
            "its trust has no condition {aud_key} = {PORT_AUDIENCE}, the audience Port's \
             tokens carry"
        )];
    }
    vec![]
}

/// Edit distance (Levenshtein), by characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The existing OUs closest to `unknown` (at most `n`): by edit distance of the ID, or of the
/// name against the ID's middle part (`ou-prod-12345678` → `prod`, as in the seed's examples).
/// When some are close (at most 30% of the characters differ), only those.
pub fn suggest(unknown: &str, known: &[KnownOu], n: usize) -> Vec<KnownOu> {
    let lower = unknown.to_ascii_lowercase();
    let middle = lower.split('-').nth(1).unwrap_or("").to_owned();
    let norm = |d: usize, a: usize, b: usize| d as f64 / a.max(b).max(1) as f64;
    let mut scored: Vec<(f64, &KnownOu)> = known
        .iter()
        .map(|k| {
            let by_id = norm(levenshtein(&lower, &k.id), lower.len(), k.id.len());
            let name = k.name.to_ascii_lowercase();
            let by_name = if middle.is_empty() {
                1.0
            } else {
                norm(levenshtein(&middle, &name), middle.len(), name.len())
            };
            (by_id.min(by_name), k)
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.path.cmp(&b.1.path))
    });
    // Close matches (a typo, or the name in the ID) only; otherwise the nearest few.
    let close = scored.iter().filter(|(d, _)| *d <= 0.3).count();
    let take = if close > 0 { close.min(n) } else { n };
    scored
        .into_iter()
        .take(take)
        .map(|(_, k)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::EventSelector;
    use serde_json::json;

    const URL: &str = PORT_OIDC_URL;

    fn port_trust(account: &str) -> Value {
        let iss = issuer_of(URL);
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{account}:oidc-provider/{iss}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{iss}:aud"): "sts.amazonaws.com",
                format!("{iss}:sub"): "system:serviceaccount:org-x-port-oidc-sa"
            }}
        }]})
    }

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

    #[test]
    fn port_trust_matches() {
        assert!(trust_mismatch(&port_trust("123456789012"), URL).is_empty());
    }

    #[test]
    fn an_ec2_role_is_explained() {
        let doc = json!({"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}});
        let why = trust_mismatch(&doc, URL);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("Service ec2.amazonaws.com"), "{why:?}");
        assert!(why[0].contains("not Port's OIDC provider"), "{why:?}");
    }

    #[test]
    fn wrong_action_and_missing_audience_are_named() {
        let mut doc = port_trust("123456789012");
        doc["Statement"][0]["Action"] = json!("sts:AssumeRole");
        assert!(
            trust_mismatch(&doc, URL)[0].contains("does not allow sts:AssumeRoleWithWebIdentity")
        );
        let mut doc = port_trust("123456789012");
        doc["Statement"][0]["Condition"] = json!({});
        assert!(trust_mismatch(&doc, URL)[0].contains(":aud = sts.amazonaws.com"));
    }

    #[test]
    fn another_issuer_does_not_match() {
        let doc = port_trust("123456789012");
        let why = trust_mismatch(&doc, "https://token.actions.githubusercontent.com");
        assert!(why[0].contains("not Port's OIDC provider"), "{why:?}");
    }

    fn trail(name: &str, multi_region: bool, logging: bool, selectors: TrailSelectors) -> Trail {
        Trail {
            name: name.into(),
            arn: format!("arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}"),
            home_region: "us-east-1".into(),
            multi_region,
            organization_trail: false,
            logging,
            selectors,
        }
    }

    fn classic(include: bool, rw: &str) -> TrailSelectors {
        TrailSelectors::Classic(vec![EventSelector {
            include_management_events: include,
            read_write_type: rw.into(),
        }])
    }

    fn advanced(fields: &[(&str, &[&str], &[&str])]) -> TrailSelectors {
        TrailSelectors::Advanced(vec![AdvancedSelector {
            fields: fields
                .iter()
                .map(|(f, eq, ne)| FieldSelector {
                    field: (*f).into(),
                    equals: eq.iter().map(|s| (*s).to_owned()).collect(),
                    not_equals: ne.iter().map(|s| (*s).to_owned()).collect(),
                })
                .collect(),
        }])
    }

    #[test]
    fn a_logging_multi_region_trail_passes() {
        let c = cloudtrail(&Ok(vec![trail(
            "org-trail",
            true,
            true,
            TrailSelectors::Default,
        )]));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(
            c.detail.contains("org-trail (multi-region, logging)"),
            "{c:?}"
        );
        assert!(c.fix.is_none());
        // Even with a trail, some changes send the management account no event at all.
        for gap in [
            "AcceptHandshake or LeaveOrganization itself (recorded in the member account",
            "Control Tower's home region is not us-east-1",
            "the scheduled run covers these",
        ] {
            assert!(c.detail.contains(gap), "{gap}: {c:?}");
        }
        // A single-region trail whose home is us-east-1 counts too; one elsewhere does not.
        let c = cloudtrail(&Ok(vec![trail(
            "local",
            false,
            true,
            classic(true, "WriteOnly"),
        )]));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        let mut elsewhere = trail("eu", false, true, TrailSelectors::Default);
        elsewhere.home_region = "eu-west-1".into();
        assert_eq!(cloudtrail(&Ok(vec![elsewhere])).status, Status::Warn);
    }

    #[test]
    fn no_trail_warns_with_the_consequence_and_the_fix() {
        let c = cloudtrail(&Ok(vec![]));
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .detail
            .contains("no trail logs management events in us-east-1"));
        assert!(c.detail.contains("every 6 hours by default"), "{c:?}");
        assert!(
            c.detail
                .contains("(CreateAccountResult) still arrive at once"),
            "{c:?}"
        );
        let fix = c.fix.unwrap();
        assert!(fix.contains(
            "`aws cloudtrail create-trail --name org-trail --s3-bucket-name <bucket> \
             --is-multi-region-trail`, then `aws cloudtrail start-logging --name org-trail`"
        ));
        assert!(fix.contains("organization trail"));
    }

    #[test]
    fn a_stopped_trail_warns_and_names_start_logging() {
        let mut t = trail("audit", true, false, TrailSelectors::Default);
        t.home_region = "eu-west-1".into();
        let c = cloudtrail(&Ok(vec![t]));
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("trail audit is not logging"), "{c:?}");
        assert!(c
            .fix
            .unwrap()
            .starts_with("aws cloudtrail start-logging --name audit --region eu-west-1"));
    }

    #[test]
    fn selectors_without_management_writes_warn() {
        for s in [
            classic(false, "All"),
            classic(true, "ReadOnly"),
            advanced(&[("eventCategory", &["Data"], &[])]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("readOnly", &["true"], &[]),
            ]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("eventSource", &[], &["organizations.amazonaws.com"]),
            ]),
        ] {
            let c = cloudtrail(&Ok(vec![trail("t1", true, true, s.clone())]));
            assert_eq!(c.status, Status::Warn, "{s:?}");
            assert!(
                c.detail.contains("leave out management write events"),
                "{c:?}"
            );
            assert!(c.fix.unwrap().contains("put-event-selectors"));
        }
    }

    #[test]
    fn selectors_with_management_writes_pass() {
        for s in [
            TrailSelectors::Default,
            classic(true, "All"),
            classic(true, "WriteOnly"),
            advanced(&[("eventCategory", &["Management"], &[])]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("readOnly", &["false"], &[]),
            ]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("eventSource", &[], &["kms.amazonaws.com"]),
            ]),
        ] {
            assert!(records_management_writes(&s), "{s:?}");
            let c = cloudtrail(&Ok(vec![trail("t1", true, true, s.clone())]));
            assert_eq!(c.status, Status::Pass, "{s:?}");
        }
        // One good trail among bad ones is enough.
        let c = cloudtrail(&Ok(vec![
            trail("bad", true, true, classic(true, "ReadOnly")),
            trail("good", false, true, TrailSelectors::Default),
            trail("also", true, true, TrailSelectors::Default),
        ]));
        assert_eq!(c.status, Status::Pass);
        assert!(c
            .detail
            .contains("trail good (home region us-east-1, logging) (and 1 more)"));
    }

    #[test]
    fn access_denied_warns_that_it_could_not_be_checked() {
        let c = cloudtrail(&Err(
            "access denied: not authorized to cloudtrail:DescribeTrails".into(),
        ));
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.detail.starts_with("could not be checked (access denied"),
            "{c:?}"
        );
        assert!(c.fix.unwrap().contains("cloudtrail:DescribeTrails"));
    }

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("ou-ab12-aaaaaaaa", "ou-ab12-aaaaaaab"), 1);
    }

    #[test]
    fn suggestions_rank_by_id_then_name() {
        let k = |id: &str, name: &str| KnownOu {
            id: id.into(),
            name: name.into(),
            path: format!("Root/{name} ({id})"),
        };
        let known = vec![
            k("ou-ab12-11111111", "Staging"),
            k("ou-ab12-22222222", "Prod"),
            k("ou-ab12-33333333", "Sandbox"),
        ];
        assert_eq!(suggest("ou-ab12-22222223", &known, 1)[0].name, "Prod");
        assert_eq!(suggest("ou-prod-12345678", &known, 1)[0].name, "Prod");
        assert_eq!(suggest("ou-stag-99999999", &known, 1)[0].name, "Staging");
        assert_eq!(
            suggest("ou-ab12-22222223", &known, 3).len(),
            1,
            "only the close one"
        );
        assert_eq!(
            suggest("ou-zzzz-99999999", &known, 5).len(),
            3,
            "none close: nearest"
        );
    }

    // ------------------------------------------------------------------ region

    #[test]
    fn in_the_management_account_only_us_east_1_passes() {
        let c = region_check(Some("us-east-1"), Some(CallAs::Self_));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        let c = region_check(Some("us-east-2"), Some(CallAs::Self_));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("only there"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("AWS_REGION=us-east-1"));
    }

    #[test]
    fn a_delegated_administrator_in_us_east_2_passes_and_is_told_to_forward_there() {
        let c = region_check(Some("us-east-2"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(
            c.detail.starts_with(
                "us-east-2: a delegated administrator for CloudFormation StackSets may run the \
                 stack here"
            ),
            "{}",
            c.detail
        );
        assert!(
            c.detail
                .contains("set its DelegatedAdminRegion to us-east-2"),
            "{}",
            c.detail
        );
        assert_eq!(c.fix, None);
        // Every listed region but the opt-in one passes the same way.
        for r in DELEGATED_ADMIN_REGIONS.iter().filter(|r| !is_opt_in(r)) {
            let c = region_check(Some(r), Some(CallAs::DelegatedAdmin));
            assert_eq!(c.status, Status::Pass, "{r}: {c:?}");
        }
    }

    #[test]
    fn a_delegated_administrator_in_eu_south_1_fails_naming_the_regions_it_may_use() {
        let c = region_check(Some("eu-south-1"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.starts_with("eu-south-1: "), "{}", c.detail);
        assert!(
            c.detail.contains(&DELEGATED_ADMIN_REGIONS.join(", ")),
            "{}",
            c.detail
        );
        assert!(c.detail.contains("the template refuses eu-south-1"));
        let fix = c.fix.unwrap();
        assert!(fix.contains("DelegatedAdminRegion"), "{fix}");
        assert!(fix.contains("AWS_REGION=<region>"), "{fix}");
        // GovCloud is in AWS's StackSets list but out here, and says why.
        let c = region_check(Some("us-gov-west-1"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("GovCloud left out"), "{}", c.detail);
    }

    #[test]
    fn an_opt_in_region_warns_that_every_account_in_scope_must_enable_it() {
        let c = region_check(Some("il-central-1"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.detail.contains("il-central-1 is an opt-in region"),
            "{}",
            c.detail
        );
        let fix = c.fix.unwrap();
        assert!(fix.contains("every account in scope"), "{fix}");
        assert!(
            fix.contains(
                "`aws account enable-region --region-name il-central-1 --account-id <account ID>`"
            ),
            "{fix}"
        );
    }

    #[test]
    fn an_undecided_mode_passes_only_us_east_1_and_fails_regions_neither_mode_allows() {
        assert_eq!(region_check(Some("us-east-1"), None).status, Status::Pass);
        let c = region_check(Some("us-east-2"), None);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c
            .detail
            .contains("only a stack deployed from a delegated administrator"));
        let c = region_check(Some("eu-south-1"), None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("us-east-1 only"), "{}", c.detail);
        assert!(c.detail.contains(&DELEGATED_ADMIN_REGIONS.join(", ")));
    }

    #[test]
    fn no_region_fails_with_the_fix_of_the_mode() {
        let c = region_check(None, Some(CallAs::Self_));
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.fix.as_deref(), Some("export AWS_REGION=us-east-1"));
        let c = region_check(None, Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("us-east-2, us-west-1"));
    }
}
