//! Counts the AWS calls made through the ports, for the functions' metrics
//! (`OrganizationsCalls`, `CloudFormationCalls`). A decorator: it adds no call and changes no
//! answer. A listing the port returns whole (`StackSetReader::instances`, and
//! `OrganizationsApi::roots`, `parent_of`, `delegated_admins`, `service_access_enabled`,
//! `tags_of`) counts as one call,
//! whatever its number of pages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::core::{Account, AccountId, AccountState, OrgNode, StackInstance, Tags};
use crate::metrics::Calls;
use crate::ports::{
    AwsResult, OpKind, Operation, OperationResult, OrgInfo, OrganizationsApi, Page, ParentRef,
    StackSetInfo, StackSetReader, StackSetWriter, Targets,
};

/// Running totals, shared between the wrapped clients and the handler that reports them.
#[derive(Debug, Default)]
pub struct CallCounts {
    organizations: AtomicU64,
    cloudformation: AtomicU64,
}

impl CallCounts {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The totals so far; subtract an earlier snapshot for one invocation's calls.
    pub fn snapshot(&self) -> Calls {
        Calls {
            organizations: self.organizations.load(Ordering::Relaxed),
            cloudformation: self.cloudformation.load(Ordering::Relaxed),
        }
    }
}

/// A client whose calls are counted into `counts`.
#[derive(Debug, Clone)]
pub struct Counted<T> {
    pub inner: T,
    pub counts: Arc<CallCounts>,
}

impl<T> Counted<T> {
    pub fn new(inner: T, counts: Arc<CallCounts>) -> Self {
        Self { inner, counts }
    }
    fn org(&self) -> &T {
        self.counts.organizations.fetch_add(1, Ordering::Relaxed);
        &self.inner
    }
    fn cfn(&self) -> &T {
        self.counts.cloudformation.fetch_add(1, Ordering::Relaxed);
        &self.inner
    }
}

impl<T: OrganizationsApi> OrganizationsApi for Counted<T> {
    async fn describe_organization(&self) -> AwsResult<OrgInfo> {
        self.org().describe_organization().await
    }
    async fn list_ous_page(&self, parent: &str, token: Option<String>) -> AwsResult<Page<OrgNode>> {
        self.org().list_ous_page(parent, token).await
    }
    async fn list_accounts_page(
        &self,
        parent: &str,
        token: Option<String>,
    ) -> AwsResult<Page<Account>> {
        self.org().list_accounts_page(parent, token).await
    }
    async fn list_all_accounts_page(&self, token: Option<String>) -> AwsResult<Page<Account>> {
        self.org().list_all_accounts_page(token).await
    }
    async fn parent_of(&self, child: &str) -> AwsResult<ParentRef> {
        self.org().parent_of(child).await
    }
    async fn ou_name(&self, ou: &str) -> AwsResult<String> {
        self.org().ou_name(ou).await
    }
    async fn describe_account(&self, id: &AccountId) -> AwsResult<(String, AccountState)> {
        self.org().describe_account(id).await
    }
    async fn service_access_enabled(&self, principal: &str) -> AwsResult<bool> {
        self.org().service_access_enabled(principal).await
    }
    async fn roots(&self) -> AwsResult<Vec<OrgNode>> {
        self.org().roots().await
    }
    async fn delegated_admins(&self, principal: &str) -> AwsResult<Vec<AccountId>> {
        self.org().delegated_admins(principal).await
    }
    async fn tags_of(&self, account: &AccountId) -> AwsResult<Tags> {
        self.org().tags_of(account).await
    }
}

impl<T: StackSetReader> StackSetReader for Counted<T> {
    fn set_call_as(&self, call_as: crate::core::CallAs) {
        self.inner.set_call_as(call_as)
    }
    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        self.cfn().describe(name).await
    }
    async fn instances(&self, name: &str) -> AwsResult<Vec<StackInstance>> {
        self.cfn().instances(name).await
    }
    async fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> AwsResult<Vec<StackInstance>> {
        self.cfn().instances_of(name, accounts).await
    }
    async fn operation(&self, name: &str, id: &str) -> AwsResult<Operation> {
        self.cfn().operation(name, id).await
    }
    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        self.cfn().recent_operations(name, max).await
    }
    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        self.cfn().operation_results(name, id).await
    }
}

impl<T: StackSetWriter> StackSetWriter for Counted<T> {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        self.cfn()
            .start(name, kind, targets, regions, operation_id)
            .await
    }
}
