//! Seeding the organization and its accounts: the sample organization, account states and
//! moves, a delegated administrator, an existing OIDC provider, an S3 bucket.

use serde_json::json;

use crate::{Fixture, TestBed, REGION};

impl TestBed {
    /// Builds the sample organization (trusted access on).
    pub async fn sample(&self) -> Fixture {
        Fixture(
            self.control("fixture/sample", json!({"trusted_access": true}))
                .await,
        )
    }

    /// Sets an account's Organizations `State` (`SUSPENDED`, `CLOSED`, ...).
    pub async fn set_account_state(&self, account: &str, state: &str) {
        self.control(
            "account-state",
            json!({"account_id": account, "state": state}),
        )
        .await;
    }

    /// The account leaves the organization (`RemoveAccountFromOrganization`).
    pub async fn remove_account(&self, account: &str) {
        let conf = self.sdk_config().await;
        aws_sdk_organizations::Client::new(&conf)
            .remove_account_from_organization()
            .account_id(account)
            .send()
            .await
            .expect("RemoveAccountFromOrganization");
    }

    /// Moves an account, as a user would in the console.
    pub async fn move_account(&self, account: &str, from: &str, to: &str) {
        let conf = self.sdk_config().await;
        aws_sdk_organizations::Client::new(&conf)
            .move_account()
            .account_id(account)
            .source_parent_id(from)
            .destination_parent_id(to)
            .send()
            .await
            .expect("MoveAccount");
    }

    /// `RegisterDelegatedAdministrator` for StackSets, from the management account.
    pub async fn register_delegated_admin(&self, account: &str) {
        let conf = self.sdk_config().await;
        aws_sdk_organizations::Client::new(&conf)
            .register_delegated_administrator()
            .account_id(account)
            .service_principal(shared::core::STACKSETS_PRINCIPAL)
            .send()
            .await
            .expect("RegisterDelegatedAdministrator");
    }

    /// The account already holds Port's OIDC provider (from an earlier single-account
    /// install): no stack of the StackSet created it.
    pub async fn has_oidc_provider(&self, account: &str) {
        self.control("oidc-provider", json!({"account_id": account}))
            .await;
    }

    /// Creates an S3 bucket in `REGION` (CloudTrail's CreateTrail needs one to exist). A plain
    /// request: the emulator reads the service from the SigV4 credential scope and does not
    /// verify signatures, so no S3 client is needed.
    pub async fn create_bucket(&self, name: &str) {
        let r = self
            .http
            .put(format!("{}/{name}", self.endpoint))
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/s3/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .send()
            .await
            .expect("CreateBucket");
        let status = r.status();
        assert!(status.is_success(), "CreateBucket {name}: {status}");
    }
}
