//! `servicequotas:GetServiceQuota`: the StackSet's stack instance quota for `orgscope doctor`.

use crate::core::{STACK_INSTANCE_QUOTA_CODE, STACK_INSTANCE_QUOTA_SERVICE};
use crate::ports::{AwsError, AwsResult, QuotaApi};

use super::errors::classify;

pub struct SdkQuotas {
    client: aws_sdk_servicequotas::Client,
}

impl SdkQuotas {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_servicequotas::Client::new(conf),
        }
    }
}

impl QuotaApi for SdkQuotas {
    async fn stack_instance_quota(&self) -> AwsResult<u64> {
        let out = self
            .client
            .get_service_quota()
            .service_code(STACK_INSTANCE_QUOTA_SERVICE)
            .quota_code(STACK_INSTANCE_QUOTA_CODE)
            .send()
            .await
            .map_err(|e| classify("servicequotas", "GetServiceQuota", e))?;
        match out.quota().and_then(|q| q.value()) {
            Some(v) if v.is_finite() && v >= 0.0 => Ok(v as u64),
            other => Err(AwsError::Other {
                service: "servicequotas",
                action: "GetServiceQuota",
                message: format!("no usable value for {STACK_INSTANCE_QUOTA_CODE}: {other:?}"),
            }),
        }
    }
}
