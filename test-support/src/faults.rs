//! Fakes for the functions' fault tests: a client that panics (a bug in the function), and
//! wrappers of a StackSet client that panic after a start or let another client take the
//! StackSet first.

use std::sync::atomic::{AtomicU32, Ordering};

use shared::core::{Account, AccountId, AccountState, CallAs, OrgNode, StackInstance};
use shared::ports::{
    AwsResult, OpKind, Operation, OperationResult, OrgInfo, OrganizationsApi, Page, ParentRef,
    ReadsThrough, StackSetInfo, StackSetReader, StackSetWriter, Targets,
};

/// An Organizations client that panics: stands for any bug in the function.
pub struct PanickingOrg;

impl OrganizationsApi for PanickingOrg {
    async fn describe_organization(&self) -> AwsResult<OrgInfo> {
        panic!("simulated bug")
    }
    async fn list_ous_page(&self, _: &str, _: Option<String>) -> AwsResult<Page<OrgNode>> {
        unreachable!()
    }
    async fn list_accounts_page(&self, _: &str, _: Option<String>) -> AwsResult<Page<Account>> {
        unreachable!()
    }
    async fn list_all_accounts_page(&self, _: Option<String>) -> AwsResult<Page<Account>> {
        panic!("simulated bug")
    }
    async fn parent_of(&self, _: &str) -> AwsResult<ParentRef> {
        unreachable!()
    }
    async fn ou_name(&self, _: &str) -> AwsResult<String> {
        unreachable!()
    }
    async fn describe_account(&self, _: &AccountId) -> AwsResult<(String, AccountState)> {
        unreachable!()
    }
    async fn service_access_enabled(&self, _: &str) -> AwsResult<bool> {
        unreachable!()
    }
    async fn roots(&self) -> AwsResult<Vec<OrgNode>> {
        unreachable!()
    }
    async fn delegated_admins(&self, _: &str) -> AwsResult<Vec<AccountId>> {
        unreachable!()
    }
    async fn tags_of(&self, _: &AccountId) -> AwsResult<shared::core::Tags> {
        unreachable!()
    }
}

/// A StackSet client (the real adapter, in the fault tests) with a bug that panics once an
/// operation has been started: `operation` panics, every other call goes to the client.
pub struct PanicsAfterStart<S>(pub S);

impl<S: StackSetReader> StackSetReader for PanicsAfterStart<S> {
    fn set_call_as(&self, call_as: CallAs) {
        self.0.set_call_as(call_as)
    }
    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        self.0.describe(name).await
    }
    async fn instances(&self, name: &str) -> AwsResult<Vec<StackInstance>> {
        self.0.instances(name).await
    }
    async fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> AwsResult<Vec<StackInstance>> {
        self.0.instances_of(name, accounts).await
    }
    async fn operation(&self, _: &str, _: &str) -> AwsResult<Operation> {
        panic!("simulated bug after the operation started")
    }
    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        self.0.recent_operations(name, max).await
    }
    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        self.0.operation_results(name, id).await
    }
}

impl<S: StackSetWriter> StackSetWriter for PanicsAfterStart<S> {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        self.0
            .start(name, kind, targets, regions, operation_id)
            .await
    }
}

/// A StackSet client (the real adapter, in the fault tests), but another client (`other`)
/// starts a drift detection on the StackSet just before each of the function's first `left`
/// mutating calls: AWS answers them `OperationInProgressException` for certain. Reads go
/// straight to the client.
pub struct Interloper<S> {
    pub inner: S,
    pub other: aws_sdk_cloudformation::Client,
    pub left: AtomicU32,
}

impl<S: StackSetReader> ReadsThrough for Interloper<S> {
    type Reader = S;
    fn reader(&self) -> &S {
        &self.inner
    }
}

impl<S: StackSetWriter> StackSetWriter for Interloper<S> {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        let n = self.left.load(Ordering::SeqCst);
        if n > 0 {
            self.left.store(n - 1, Ordering::SeqCst);
            self.other
                .detect_stack_set_drift()
                .stack_set_name(name)
                .operation_id(format!("someone-else-{n}"))
                .send()
                .await
                .expect("the StackSet is idle when the function calls");
        }
        self.inner
            .start(name, kind, targets, regions, operation_id)
            .await
    }
}
