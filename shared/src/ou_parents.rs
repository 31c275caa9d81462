//! Remembers the parent of each OU, for the life of a warm Lambda instance.
//!
//! An OU's parent never changes: the AWS Organizations API moves accounts (`MoveAccount`) and
//! has no action that moves an OU (`UpdateOrganizationalUnit` renames it; an OU is created
//! under its parent and deleted there). So `ListParents` of an OU gives the same answer for as
//! long as the OU exists, and a deleted OU, which holds no account, is never asked about
//! again. An account's parent is never remembered: accounts move.
//!
//! A decorator over `OrganizationsApi`: an event about one account then costs its own
//! `ListParents` (and `DescribeAccount`), not the whole chain of OUs above it, once this
//! instance has walked that chain.
//!
//! It remembers `DescribeOrganization` too, once the organization has all features enabled:
//! an organization's ID and its management account never change (AWS Organizations User Guide,
//! "Terminology and concepts": which account is the management account cannot be changed), and
//! enabling all features is one-way ("Enabling all features for an organization with AWS
//! Organizations": an organization with all features cannot go back to consolidated billing
//! only), so that answer never goes stale. An event's read and the read after its change then
//! cost one call less each.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::core::{Account, AccountId, AccountState, OrgNode, Tags};
use crate::ports::{AwsResult, OrgInfo, OrganizationsApi, Page, ParentRef};

/// `inner`, with `ListParents` of OUs answered from memory after the first time.
#[derive(Debug, Default)]
pub struct OuParents<O> {
    pub inner: O,
    known: Mutex<HashMap<String, ParentRef>>,
    /// `DescribeOrganization`, once it said all features are enabled.
    organization: Mutex<Option<OrgInfo>>,
}

impl<O> OuParents<O> {
    pub fn new(inner: O) -> Self {
        Self {
            inner,
            known: Mutex::new(HashMap::new()),
            organization: Mutex::new(None),
        }
    }

    /// How many OUs' parents are remembered.
    pub fn remembered(&self) -> usize {
        self.known.lock().map(|k| k.len()).unwrap_or(0)
    }
}

fn is_ou(id: &str) -> bool {
    id.starts_with("ou-")
}

impl<O: OrganizationsApi> OrganizationsApi for OuParents<O> {
    async fn describe_organization(&self) -> AwsResult<OrgInfo> {
        if let Some(o) = self.organization.lock().ok().and_then(|o| o.clone()) {
            return Ok(o);
        }
        let o = self.inner.describe_organization().await?;
        if o.all_features {
            if let Ok(mut k) = self.organization.lock() {
                *k = Some(o.clone());
            }
        }
        Ok(o)
    }
    async fn list_ous_page(&self, parent: &str, token: Option<String>) -> AwsResult<Page<OrgNode>> {
        self.inner.list_ous_page(parent, token).await
    }
    async fn list_accounts_page(
        &self,
        parent: &str,
        token: Option<String>,
    ) -> AwsResult<Page<Account>> {
        self.inner.list_accounts_page(parent, token).await
    }
    async fn list_all_accounts_page(&self, token: Option<String>) -> AwsResult<Page<Account>> {
        self.inner.list_all_accounts_page(token).await
    }
    async fn parent_of(&self, child: &str) -> AwsResult<ParentRef> {
        if !is_ou(child) {
            return self.inner.parent_of(child).await;
        }
        if let Some(p) = self.known.lock().ok().and_then(|k| k.get(child).cloned()) {
            return Ok(p);
        }
        let p = self.inner.parent_of(child).await?;
        if let Ok(mut k) = self.known.lock() {
            k.insert(child.to_owned(), p.clone());
        }
        Ok(p)
    }
    async fn ou_name(&self, ou: &str) -> AwsResult<String> {
        self.inner.ou_name(ou).await
    }
    async fn describe_account(&self, id: &AccountId) -> AwsResult<(String, AccountState)> {
        self.inner.describe_account(id).await
    }
    async fn service_access_enabled(&self, principal: &str) -> AwsResult<bool> {
        self.inner.service_access_enabled(principal).await
    }
    async fn roots(&self) -> AwsResult<Vec<OrgNode>> {
        self.inner.roots().await
    }
    async fn delegated_admins(&self, principal: &str) -> AwsResult<Vec<AccountId>> {
        self.inner.delegated_admins(principal).await
    }
    async fn tags_of(&self, account: &AccountId) -> AwsResult<Tags> {
        self.inner.tags_of(account).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Two OUs under the root and one account, counting `ListParents`.
    #[derive(Default)]
    struct Tree {
        list_parents: AtomicU32,
        describe_organization: AtomicU32,
        /// Consolidated billing only, until this many answers have been given.
        billing_only_answers: u32,
    }

    impl OrganizationsApi for Tree {
        async fn describe_organization(&self) -> AwsResult<OrgInfo> {
            let n = self.describe_organization.fetch_add(1, Ordering::Relaxed);
            Ok(OrgInfo {
                id: "o-ab12cd34ef".into(),
                management_account_id: AccountId::parse("123456789012").unwrap(),
                all_features: n >= self.billing_only_answers,
            })
        }
        async fn list_ous_page(&self, _: &str, _: Option<String>) -> AwsResult<Page<OrgNode>> {
            unimplemented!()
        }
        async fn list_accounts_page(&self, _: &str, _: Option<String>) -> AwsResult<Page<Account>> {
            unimplemented!()
        }
        async fn list_all_accounts_page(&self, _: Option<String>) -> AwsResult<Page<Account>> {
            unimplemented!()
        }
        async fn parent_of(&self, child: &str) -> AwsResult<ParentRef> {
            self.list_parents.fetch_add(1, Ordering::Relaxed);
            Ok(match child {
                "ou-ab12-22222222" => ParentRef {
                    id: "ou-ab12-11111111".into(),
                    is_root: false,
                },
                _ => ParentRef {
                    id: "r-ab12".into(),
                    is_root: true,
                },
            })
        }
        async fn ou_name(&self, _: &str) -> AwsResult<String> {
            unimplemented!()
        }
        async fn describe_account(&self, _: &AccountId) -> AwsResult<(String, AccountState)> {
            unimplemented!()
        }
        async fn service_access_enabled(&self, _: &str) -> AwsResult<bool> {
            unimplemented!()
        }
        async fn roots(&self) -> AwsResult<Vec<OrgNode>> {
            unimplemented!()
        }
        async fn delegated_admins(&self, _: &str) -> AwsResult<Vec<AccountId>> {
            unimplemented!()
        }
        async fn tags_of(&self, _: &AccountId) -> AwsResult<Tags> {
            unimplemented!()
        }
    }

    #[tokio::test]
    async fn an_ous_parent_is_asked_once_and_an_accounts_every_time() {
        let org = OuParents::new(Tree::default());
        for _ in 0..3 {
            let p = org.parent_of("ou-ab12-22222222").await.unwrap();
            assert_eq!(p.id, "ou-ab12-11111111");
            assert!(!p.is_root);
        }
        assert_eq!(org.inner.list_parents.load(Ordering::Relaxed), 1);
        assert_eq!(org.remembered(), 1);
        for _ in 0..3 {
            let p = org.parent_of("111111111111").await.unwrap();
            assert!(p.is_root);
        }
        assert_eq!(org.inner.list_parents.load(Ordering::Relaxed), 4);
        assert_eq!(
            org.remembered(),
            1,
            "an account's parent is never remembered"
        );
    }

    #[tokio::test]
    async fn the_organization_is_described_once_all_features_are_enabled_and_then_remembered() {
        let org = OuParents::new(Tree {
            billing_only_answers: 2,
            ..Tree::default()
        });
        // Consolidated billing only: asked each time (enabling all features changes it).
        for want in [false, false, true, true, true] {
            assert_eq!(
                org.describe_organization().await.unwrap().all_features,
                want
            );
        }
        assert_eq!(org.inner.describe_organization.load(Ordering::Relaxed), 3);
    }
}
