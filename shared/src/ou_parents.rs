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
//!
//! Within one invocation (`begin_invocation` starts one) it also remembers:
//! - an OU's name (`DescribeOrganizationalUnit`): an OU can be renamed
//!   (`UpdateOrganizationalUnit`), so a name is never older than the invocation; names only
//!   say where an account is, they decide nothing;
//! - what the event's triage read of an account (its parent, its tags), while `hand_over` is
//!   on, for the one read that follows it: the first read after the triage takes each answer
//!   once, so a read after a change (which must see the organization as it is then) and every
//!   settle round read again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// OU names, for this invocation.
    names: Mutex<HashMap<String, String>>,
    /// While on, an account's parent and tags read are kept for the next read of them.
    handing_over: AtomicBool,
    /// Accounts' parents and tags the triage read, each answered once to the read after it.
    handed_parents: Mutex<HashMap<String, ParentRef>>,
    handed_tags: Mutex<HashMap<AccountId, Tags>>,
}

impl<O> OuParents<O> {
    pub fn new(inner: O) -> Self {
        Self {
            inner,
            known: Mutex::new(HashMap::new()),
            organization: Mutex::new(None),
            names: Mutex::new(HashMap::new()),
            handing_over: AtomicBool::new(false),
            handed_parents: Mutex::new(HashMap::new()),
            handed_tags: Mutex::new(HashMap::new()),
        }
    }

    /// A new invocation: what was remembered for the last one only (OU names, answers not
    /// handed over) is forgotten.
    pub fn begin_invocation(&self) {
        self.handing_over.store(false, Ordering::Relaxed);
        self.names.lock().map(|mut m| m.clear()).ok();
        self.handed_parents.lock().map(|mut m| m.clear()).ok();
        self.handed_tags.lock().map(|mut m| m.clear()).ok();
    }

    /// While `on`, an account's parent and tags read through this instance are kept for the
    /// next read of them (the triage's, for the read that follows it).
    pub fn hand_over(&self, on: bool) {
        self.handing_over.store(on, Ordering::Relaxed);
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
            if let Some(p) = self
                .handed_parents
                .lock()
                .ok()
                .and_then(|mut h| h.remove(child))
            {
                return Ok(p);
            }
            let p = self.inner.parent_of(child).await?;
            if self.handing_over.load(Ordering::Relaxed) {
                if let Ok(mut h) = self.handed_parents.lock() {
                    h.insert(child.to_owned(), p.clone());
                }
            }
            return Ok(p);
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
        if let Some(n) = self.names.lock().ok().and_then(|k| k.get(ou).cloned()) {
            return Ok(n);
        }
        let n = self.inner.ou_name(ou).await?;
        if let Ok(mut k) = self.names.lock() {
            k.insert(ou.to_owned(), n.clone());
        }
        Ok(n)
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
        if let Some(t) = self
            .handed_tags
            .lock()
            .ok()
            .and_then(|mut h| h.remove(account))
        {
            return Ok(t);
        }
        let t = self.inner.tags_of(account).await?;
        if self.handing_over.load(Ordering::Relaxed) {
            if let Ok(mut h) = self.handed_tags.lock() {
                h.insert(account.clone(), t.clone());
            }
        }
        Ok(t)
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
        ou_names: AtomicU32,
        tag_reads: AtomicU32,
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
            let n = self.ou_names.fetch_add(1, Ordering::Relaxed);
            Ok(format!("Prod-{n}"))
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
            let n = self.tag_reads.fetch_add(1, Ordering::Relaxed);
            Ok(Tags::from([("read".to_owned(), n.to_string())]))
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

    #[tokio::test]
    async fn what_the_triage_read_of_an_account_is_handed_to_the_next_read_once_and_no_further() {
        let org = OuParents::new(Tree::default());
        let a = AccountId::parse("111111111111").unwrap();
        org.begin_invocation();
        org.hand_over(true);
        let triage_tags = org.tags_of(&a).await.unwrap();
        org.parent_of(a.as_str()).await.unwrap();
        org.hand_over(false);
        // The read after the triage: the same answers, no call.
        assert_eq!(org.tags_of(&a).await.unwrap(), triage_tags);
        org.parent_of(a.as_str()).await.unwrap();
        assert_eq!(org.inner.tag_reads.load(Ordering::Relaxed), 1);
        assert_eq!(org.inner.list_parents.load(Ordering::Relaxed), 1);
        // The read after a change: asked again, and not kept.
        assert_ne!(org.tags_of(&a).await.unwrap(), triage_tags);
        org.parent_of(a.as_str()).await.unwrap();
        org.tags_of(&a).await.unwrap();
        assert_eq!(org.inner.tag_reads.load(Ordering::Relaxed), 3);
        assert_eq!(org.inner.list_parents.load(Ordering::Relaxed), 2);
        // A hand-over the read never took is gone with the invocation.
        org.hand_over(true);
        org.tags_of(&a).await.unwrap();
        org.hand_over(false);
        org.begin_invocation();
        org.tags_of(&a).await.unwrap();
        assert_eq!(org.inner.tag_reads.load(Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn an_ous_name_is_remembered_for_one_invocation_only() {
        let org = OuParents::new(Tree::default());
        org.begin_invocation();
        let first = org.ou_name("ou-ab12-11111111").await.unwrap();
        assert_eq!(org.ou_name("ou-ab12-11111111").await.unwrap(), first);
        assert_eq!(org.inner.ou_names.load(Ordering::Relaxed), 1);
        // Renamed between invocations: the next one asks again.
        org.begin_invocation();
        assert_ne!(org.ou_name("ou-ab12-11111111").await.unwrap(), first);
        assert_eq!(org.inner.ou_names.load(Ordering::Relaxed), 2);
    }
}
