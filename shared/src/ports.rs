//! The small interfaces the engine talks through. Adapters implement them with the AWS SDK;
//! tests and benchmarks implement them in memory.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::core::{Account, AccountId, CallAs, OrgNode, StackInstance};

/// A failed AWS call, classified for the engine. Messages keep AWS's own words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AwsError {
    #[error("{what} was not found")]
    NotFound { what: String },
    #[error("another StackSet operation is in progress")]
    OperationInProgress,
    #[error("an operation with this OperationId already exists")]
    OperationIdExists,
    #[error("throttled by AWS: {0}")]
    Throttled(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("this account is not a member of an AWS organization")]
    NoOrganization,
    #[error(
        "{off}. Fix: {fix}. AWS said: {0}",
        off = crate::core::TRUSTED_ACCESS_OFF,
        fix = crate::core::TRUSTED_ACCESS_FIX
    )]
    TrustedAccessDisabled(String),
    #[error("AWS rejected the request: {0}")]
    Validation(String),
    #[error("{service} {action} failed: {message}")]
    Other {
        service: &'static str,
        action: &'static str,
        message: String,
    },
}

pub type AwsResult<T> = Result<T, AwsError>;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// `DescribeOrganization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInfo {
    pub id: String,
    pub management_account_id: AccountId,
    pub all_features: bool,
}

/// A parent as `ListParents` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    pub id: String,
    pub is_root: bool,
}

/// Read access to AWS Organizations. Each method is one API call.
pub trait OrganizationsApi: Send + Sync {
    fn describe_organization(&self) -> impl Future<Output = AwsResult<OrgInfo>> + Send;
    /// `ListOrganizationalUnitsForParent`; the child nodes carry `parent`.
    fn list_ous_page(
        &self,
        parent: &str,
        token: Option<String>,
    ) -> impl Future<Output = AwsResult<Page<OrgNode>>> + Send;
    /// `ListAccountsForParent`; accounts carry `parent`.
    fn list_accounts_page(
        &self,
        parent: &str,
        token: Option<String>,
    ) -> impl Future<Output = AwsResult<Page<Account>>> + Send;
    /// `ListAccounts`: one page of every account in the organization, whatever its OU. The
    /// accounts' `parent` is empty: `ListAccounts` does not say where an account is.
    fn list_all_accounts_page(
        &self,
        token: Option<String>,
    ) -> impl Future<Output = AwsResult<Page<Account>>> + Send;
    /// `ListParents` (an OU or account has exactly one parent).
    fn parent_of(&self, child: &str) -> impl Future<Output = AwsResult<ParentRef>> + Send;
    /// `DescribeOrganizationalUnit`: the name.
    fn ou_name(&self, ou: &str) -> impl Future<Output = AwsResult<String>> + Send;
    /// `DescribeAccount`; `NotFound` when the account is not in the organization.
    fn describe_account(
        &self,
        id: &AccountId,
    ) -> impl Future<Output = AwsResult<(String, crate::core::AccountState)>> + Send;
    /// `ListAWSServiceAccessForOrganization` contains `principal`.
    fn service_access_enabled(
        &self,
        principal: &str,
    ) -> impl Future<Output = AwsResult<bool>> + Send;
    /// `ListRoots`: the root IDs with names.
    fn roots(&self) -> impl Future<Output = AwsResult<Vec<OrgNode>>> + Send;
    /// `ListDelegatedAdministrators` for `principal`, every page: the registered accounts.
    /// `AccessDenied` when the caller is a member account that is no delegated administrator
    /// (only the management account and delegated administrators may list them).
    fn delegated_admins(
        &self,
        principal: &str,
    ) -> impl Future<Output = AwsResult<Vec<AccountId>>> + Send;
    /// `ListTagsForResource` with the account's ID as `ResourceId`, every page: the account's
    /// tags. Read only when the scope has a tag filter.
    fn tags_of(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = AwsResult<crate::core::Tags>> + Send;
}

/// `sts:GetCallerIdentity`.
pub trait IdentityApi: Send + Sync {
    fn caller_account(&self) -> impl Future<Output = AwsResult<AccountId>> + Send;
}

/// How a StackSet is set up (`DescribeStackSet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackSetInfo {
    pub name: String,
    pub arn: Option<String>,
    pub service_managed: bool,
    pub auto_deployment: bool,
    pub status: String,
}

/// DeploymentTargets for a service-managed StackSet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub ous: Vec<String>,
    pub accounts: Vec<AccountId>,
    /// `NONE`, `INTERSECTION`, `DIFFERENCE`.
    pub filter: String,
    /// Deletes only: `RetainStacks`, for instances of accounts StackSets cannot reach.
    #[serde(default)]
    pub retain_stacks: bool,
    /// Updates only: `ParameterOverrides` (key → value) for every instance the operation
    /// reaches. Empty: the parameter is left out, and AWS keeps each instance's overrides as
    /// they are (API reference, UpdateStackInstances: "To leave all parameters set to their
    /// present values, don't specify this property at all").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameter_overrides: BTreeMap<String, String>,
}

/// `DescribeStackSetOperation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub action: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `STOPPING`, `STOPPED`, `QUEUED`.
    pub status: String,
    pub status_reason: Option<String>,
    pub started: Option<String>,
    pub ended: Option<String>,
    pub duration_secs: Option<f64>,
}

impl Operation {
    pub fn is_active(&self) -> bool {
        matches!(self.status.as_str(), "RUNNING" | "QUEUED" | "STOPPING")
    }
}

/// `ListStackSetOperationResults`: one account's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationResult {
    pub account: AccountId,
    pub region: String,
    pub status: String,
    pub status_reason: Option<String>,
}

/// The kind of change an operation makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    Delete,
    DetectDrift,
}

impl OpKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::DetectDrift => "drift",
        }
    }
}

/// Read one service-managed StackSet: how it is set up, its instances, its operations.
///
/// Every call carries the port's `CallAs` (AWS's `CallAs` parameter): `SELF` until
/// [`StackSetReader::set_call_as`] says otherwise. A delegated administrator must send
/// `DELEGATED_ADMIN` on every StackSet call, or AWS answers "StackSet ... not found".
pub trait StackSetReader: Send + Sync {
    /// The `CallAs` of every later call (reads and [`StackSetWriter::start`]); set once per
    /// request, from the deployment's declared mode (`core::Declared`), which the preflight
    /// has checked against the facts.
    fn set_call_as(&self, call_as: CallAs);
    /// `NotFound` when the StackSet does not exist.
    fn describe(&self, name: &str) -> impl Future<Output = AwsResult<StackSetInfo>> + Send;
    /// Every instance, all pages.
    fn instances(&self, name: &str) -> impl Future<Output = AwsResult<Vec<StackInstance>>> + Send;
    /// The instances of these accounts only: `ListStackInstances` with
    /// `StackInstanceAccount`, one call per account (a page holds every region of it).
    fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> impl Future<Output = AwsResult<Vec<StackInstance>>> + Send;
    fn operation(&self, name: &str, id: &str) -> impl Future<Output = AwsResult<Operation>> + Send;
    /// The `max` most recent operations, newest first by `CreationTimestamp`
    /// (`core::operations::newest_first`): every page of `ListStackSetOperations` is read, since
    /// AWS documents no order for it, and an operation this process started that the
    /// eventually consistent list does not show yet is described by its ID and included.
    fn recent_operations(
        &self,
        name: &str,
        max: i32,
    ) -> impl Future<Output = AwsResult<Vec<Operation>>> + Send;
    fn operation_results(
        &self,
        name: &str,
        id: &str,
    ) -> impl Future<Output = AwsResult<Vec<OperationResult>>> + Send;
}

/// Change one service-managed StackSet's instances: the one mutating call.
pub trait StackSetWriter: Send + Sync {
    /// Starts Create/Update/Delete (or a drift detection); returns the operation ID.
    fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> impl Future<Output = AwsResult<String>> + Send;
}

/// Read and change one service-managed StackSet: what the engine takes. Every type that is
/// both a [`StackSetReader`] and a [`StackSetWriter`] is one.
pub trait StackSetApi: StackSetReader + StackSetWriter {}

impl<T: StackSetReader + StackSetWriter> StackSetApi for T {}

/// A wrapper that intercepts writes only ([`StackSetWriter::start`]) and reads through what
/// it wraps: it implements this and [`StackSetWriter`], and is a [`StackSetReader`] by the
/// one forwarding below.
pub trait ReadsThrough: Send + Sync {
    type Reader: StackSetReader;
    fn reader(&self) -> &Self::Reader;
}

impl<T: ReadsThrough> StackSetReader for T {
    fn set_call_as(&self, call_as: CallAs) {
        self.reader().set_call_as(call_as)
    }
    fn describe(&self, name: &str) -> impl Future<Output = AwsResult<StackSetInfo>> + Send {
        self.reader().describe(name)
    }
    fn instances(&self, name: &str) -> impl Future<Output = AwsResult<Vec<StackInstance>>> + Send {
        self.reader().instances(name)
    }
    fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> impl Future<Output = AwsResult<Vec<StackInstance>>> + Send {
        self.reader().instances_of(name, accounts)
    }
    fn operation(&self, name: &str, id: &str) -> impl Future<Output = AwsResult<Operation>> + Send {
        self.reader().operation(name, id)
    }
    fn recent_operations(
        &self,
        name: &str,
        max: i32,
    ) -> impl Future<Output = AwsResult<Vec<Operation>>> + Send {
        self.reader().recent_operations(name, max)
    }
    fn operation_results(
        &self,
        name: &str,
        id: &str,
    ) -> impl Future<Output = AwsResult<Vec<OperationResult>>> + Send {
        self.reader().operation_results(name, id)
    }
}

/// The CloudFormation stack this integration was deployed with, as `DescribeStacks` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackState {
    /// `CREATE_COMPLETE`, `UPDATE_IN_PROGRESS`, `DELETE_COMPLETE`, ...
    pub status: String,
    /// Parameter key → value (NoEcho values come back masked, and none of the scope's are).
    pub parameters: std::collections::BTreeMap<String, String>,
    /// `LastUpdatedTime`, else `CreationTime` (RFC 3339), when AWS gives one.
    pub changed_at: Option<String>,
}

/// Read one CloudFormation stack by its stack ID (ARN). A deleted stack is still described by
/// its ID (status `DELETE_COMPLETE`); `NotFound` when AWS has no such stack at all.
pub trait StackApi: Send + Sync {
    fn describe_stack(&self, stack_id: &str) -> impl Future<Output = AwsResult<StackState>> + Send;
}

/// An IAM OIDC identity provider (`GetOpenIDConnectProvider`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProvider {
    pub arn: String,
    /// As IAM stores it: host and path, no scheme.
    pub url: String,
    pub client_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// An IAM role (`GetRole`), with its trust policy decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub trust_policy: Value,
    pub tags: BTreeMap<String, String>,
}

/// Read access to the management account's IAM. Each method is a few read-only calls.
pub trait IamApi: Send + Sync {
    /// The provider whose URL is `url` (with or without `https://`), if any.
    fn oidc_provider(
        &self,
        url: &str,
    ) -> impl Future<Output = AwsResult<Option<OidcProvider>>> + Send;
    /// The role named `name`, if any.
    fn role(&self, name: &str) -> impl Future<Output = AwsResult<Option<Role>>> + Send;
    /// The default version's document of the managed policy `arn` (`GetPolicy`, then
    /// `GetPolicyVersion`), or `None` when IAM has no such policy.
    fn policy_document(&self, arn: &str) -> impl Future<Output = AwsResult<Option<Value>>> + Send;
}

/// A CloudTrail trail as `DescribeTrails` lists it in us-east-1 (shadow trails included), with
/// its logging status and event selectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trail {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub organization_trail: bool,
    /// `GetTrailStatus` `IsLogging`.
    pub logging: bool,
    pub selectors: TrailSelectors,
}

/// Which events a trail records (`GetEventSelectors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrailSelectors {
    /// No selectors returned: CloudTrail's default, every management event, read and write.
    Default,
    Classic(Vec<EventSelector>),
    Advanced(Vec<AdvancedSelector>),
}

/// A classic event selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSelector {
    pub include_management_events: bool,
    /// `All`, `ReadOnly` or `WriteOnly`.
    pub read_write_type: String,
}

/// An advanced event selector: its field selectors (only `Equals` and `NotEquals` matter for
/// management events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvancedSelector {
    pub fields: Vec<FieldSelector>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub not_equals: Vec<String>,
}

/// Read access to CloudTrail. A few read-only calls per trail.
pub trait CloudTrailApi: Send + Sync {
    /// The trails that record events in `region`: those whose home region it is and the
    /// multi-region (and organization) trails, each with its status and selectors.
    fn trails(&self, region: &str) -> impl Future<Output = AwsResult<Vec<Trail>>> + Send;
}

/// Service Quotas: the value of a quota applied to this account and region.
pub trait QuotaApi: Send + Sync {
    /// `servicequotas:GetServiceQuota` for CloudFormation's "Stack instances per stack set"
    /// (service code `cloudformation`, quota code `core::STACK_INSTANCE_QUOTA_CODE`): AWS's
    /// default unless the account had it raised.
    fn stack_instance_quota(&self) -> impl Future<Output = AwsResult<u64>> + Send;
}

/// `https://host/path` → `host/path`, as IAM names providers.
pub fn issuer_of(url: &str) -> &str {
    let u = url.trim();
    let u = u.strip_prefix("https://").unwrap_or(u);
    u.trim_end_matches('/')
}

/// Time, for waiting: real in production, instant in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> std::time::Instant;
    fn sleep(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
    async fn sleep(&self, d: std::time::Duration) {
        tokio::time::sleep(d).await
    }
}

/// The change feed: puts one event on the default EventBridge bus (`PutEvents`). `Ok` only
/// when EventBridge accepted the entry (a 200 answer can still report it failed).
pub trait ChangeFeed: Send + Sync {
    fn publish(
        &self,
        event: &crate::core::ChangeEvent,
    ) -> impl Future<Output = AwsResult<()>> + Send;
}
