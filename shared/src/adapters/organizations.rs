//! AWS Organizations, read-only.
//!
//! Every List call is read until its NextToken is null, never until a short or empty page:
//! "Organizations might return fewer results than the maximum even when there are more results
//! available" and List operations "can occasionally return an empty set of results even when
//! there are more results available" (AWS Organizations API reference, MaxResults and every
//! List operation). The `*_page` methods return one page and its token; their callers page on.

use aws_sdk_organizations::types::{OrganizationFeatureSet, ParentType};

use crate::core::{Account, AccountId, AccountState, OrgNode, Tags};
use crate::ports::{AwsError, AwsResult, OrgInfo, OrganizationsApi, Page, ParentRef};

use super::errors::classify;

pub struct SdkOrganizations {
    client: aws_sdk_organizations::Client,
}

impl SdkOrganizations {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_organizations::Client::new(conf),
        }
    }
}

fn bad(action: &'static str, what: &str) -> AwsError {
    AwsError::Other {
        service: "organizations",
        action,
        message: format!("unexpected response: {what}"),
    }
}

fn state_of(a: &aws_sdk_organizations::types::Account) -> AccountState {
    #[allow(deprecated)]
    match (a.state(), a.status()) {
        (Some(s), _) => AccountState::parse(s.as_str()),
        (None, Some(s)) => AccountState::parse(s.as_str()),
        (None, None) => AccountState::Unknown("none".into()),
    }
}

impl OrganizationsApi for SdkOrganizations {
    async fn describe_organization(&self) -> AwsResult<OrgInfo> {
        let out = self
            .client
            .describe_organization()
            .send()
            .await
            .map_err(|e| classify("organizations", "DescribeOrganization", e))?;
        let org = out
            .organization()
            .ok_or_else(|| bad("DescribeOrganization", "no organization"))?;
        let mgmt = org.master_account_id().unwrap_or_default();
        Ok(OrgInfo {
            id: org.id().unwrap_or_default().to_owned(),
            management_account_id: AccountId::parse(mgmt)
                .map_err(|_| bad("DescribeOrganization", "management account ID"))?,
            all_features: org.feature_set() == Some(&OrganizationFeatureSet::All),
        })
    }

    async fn list_ous_page(&self, parent: &str, token: Option<String>) -> AwsResult<Page<OrgNode>> {
        let out = self
            .client
            .list_organizational_units_for_parent()
            .parent_id(parent)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| classify("organizations", "ListOrganizationalUnitsForParent", e))?;
        Ok(Page {
            items: out
                .organizational_units()
                .iter()
                .map(|o| OrgNode {
                    id: o.id().unwrap_or_default().to_owned(),
                    name: o.name().unwrap_or_default().to_owned(),
                    parent: Some(parent.to_owned()),
                })
                .collect(),
            next: out.next_token().map(str::to_owned),
        })
    }

    async fn list_accounts_page(
        &self,
        parent: &str,
        token: Option<String>,
    ) -> AwsResult<Page<Account>> {
        let out = self
            .client
            .list_accounts_for_parent()
            .parent_id(parent)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| classify("organizations", "ListAccountsForParent", e))?;
        let mut items = Vec::new();
        for a in out.accounts() {
            let id = a.id().unwrap_or_default();
            items.push(Account {
                id: AccountId::parse(id).map_err(|_| bad("ListAccountsForParent", id))?,
                name: a.name().unwrap_or_default().to_owned(),
                state: state_of(a),
                parent: parent.to_owned(),
                tags: None,
            });
        }
        Ok(Page {
            items,
            next: out.next_token().map(str::to_owned),
        })
    }

    async fn list_all_accounts_page(&self, token: Option<String>) -> AwsResult<Page<Account>> {
        let out = self
            .client
            .list_accounts()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("organizations", "ListAccounts", e))?;
        let mut items = Vec::new();
        for a in out.accounts() {
            let id = a.id().unwrap_or_default();
            items.push(Account {
                id: AccountId::parse(id).map_err(|_| bad("ListAccounts", id))?,
                name: a.name().unwrap_or_default().to_owned(),
                state: state_of(a),
                parent: String::new(),
                tags: None,
            });
        }
        Ok(Page {
            items,
            next: out.next_token().map(str::to_owned),
        })
    }

    async fn parent_of(&self, child: &str) -> AwsResult<ParentRef> {
        // A List call: "These operations can occasionally return an empty set of results even
        // when there are more results available. The NextToken response parameter value is
        // null only when there are no more results to display." (AWS Organizations API
        // reference, ListParents). The one parent may come after an empty page.
        let mut token = None;
        loop {
            let out = self
                .client
                .list_parents()
                .child_id(child)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("organizations", "ListParents", e))?;
            if let Some(p) = out.parents().first() {
                return Ok(ParentRef {
                    id: p.id().unwrap_or_default().to_owned(),
                    is_root: p.r#type() == Some(&ParentType::Root),
                });
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Err(bad("ListParents", "no parent")),
            }
        }
    }

    async fn ou_name(&self, ou: &str) -> AwsResult<String> {
        let out = self
            .client
            .describe_organizational_unit()
            .organizational_unit_id(ou)
            .send()
            .await
            .map_err(|e| classify("organizations", "DescribeOrganizationalUnit", e))?;
        Ok(out
            .organizational_unit()
            .and_then(|o| o.name())
            .unwrap_or_default()
            .to_owned())
    }

    async fn describe_account(&self, id: &AccountId) -> AwsResult<(String, AccountState)> {
        let out = self
            .client
            .describe_account()
            .account_id(id.as_str())
            .send()
            .await
            .map_err(|e| classify("organizations", "DescribeAccount", e))?;
        let a = out
            .account()
            .ok_or_else(|| bad("DescribeAccount", "no account"))?;
        Ok((a.name().unwrap_or_default().to_owned(), state_of(a)))
    }

    async fn service_access_enabled(&self, principal: &str) -> AwsResult<bool> {
        let mut token = None;
        loop {
            let out = self
                .client
                .list_aws_service_access_for_organization()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| classify("organizations", "ListAWSServiceAccessForOrganization", e))?;
            if out
                .enabled_service_principals()
                .iter()
                .any(|p| p.service_principal() == Some(principal))
            {
                return Ok(true);
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(false),
            }
        }
    }

    async fn roots(&self) -> AwsResult<Vec<OrgNode>> {
        // Every page, until NextToken is null (ListRoots may answer an empty page first).
        let mut roots = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_roots()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("organizations", "ListRoots", e))?;
            roots.extend(out.roots().iter().map(|r| OrgNode {
                id: r.id().unwrap_or_default().to_owned(),
                name: r.name().unwrap_or("Root").to_owned(),
                parent: None,
            }));
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(roots),
            }
        }
    }

    async fn delegated_admins(&self, principal: &str) -> AwsResult<Vec<AccountId>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_delegated_administrators()
                .service_principal(principal)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("organizations", "ListDelegatedAdministrators", e))?;
            for a in page.delegated_administrators() {
                let id = a.id().unwrap_or_default();
                out.push(AccountId::parse(id).map_err(|_| bad("ListDelegatedAdministrators", id))?);
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    async fn tags_of(&self, account: &AccountId) -> AwsResult<Tags> {
        // `ResourceId` takes an account ID (12 digits), an OU, a root or a policy ID (AWS
        // Organizations API Reference, ListTagsForResource); a List call, so read until
        // NextToken is null.
        let mut tags = Tags::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_tags_for_resource()
                .resource_id(account.as_str())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("organizations", "ListTagsForResource", e))?;
            for t in page.tags() {
                tags.insert(t.key().to_owned(), t.value().to_owned());
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(tags),
            }
        }
    }
}
