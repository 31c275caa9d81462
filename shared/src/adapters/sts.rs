//! `sts:GetCallerIdentity`.

use crate::core::AccountId;
use crate::ports::{AwsError, AwsResult, IdentityApi};

use super::errors::classify;

pub struct SdkIdentity {
    client: aws_sdk_sts::Client,
}

impl SdkIdentity {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_sts::Client::new(conf),
        }
    }
}

impl IdentityApi for SdkIdentity {
    async fn caller_account(&self) -> AwsResult<AccountId> {
        let out = self
            .client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("sts", "GetCallerIdentity", e))?;
        let id = out.account().unwrap_or_default();
        AccountId::parse(id).map_err(|_| AwsError::Other {
            service: "sts",
            action: "GetCallerIdentity",
            message: format!("unexpected account `{id}`"),
        })
    }
}
