//! IAM, read-only: Port's OIDC provider and the integration role in the signed-in account.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::doctor::{decode_policy, issuer_of, IamApi, OidcProvider, Role};
use crate::ports::{AwsError, AwsResult};

use super::errors::classify;

pub struct SdkIam {
    client: aws_sdk_iam::Client,
}

impl SdkIam {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_iam::Client::new(conf),
        }
    }
}

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

impl IamApi for SdkIam {
    async fn oidc_provider(&self, url: &str) -> AwsResult<Option<OidcProvider>> {
        let issuer = issuer_of(url).to_ascii_lowercase();
        let suffix = format!(":oidc-provider/{issuer}");
        let list = self
            .client
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| classify("iam", "ListOpenIDConnectProviders", e))?;
        let Some(arn) = list
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .find(|a| a.to_ascii_lowercase().ends_with(&suffix))
            .map(str::to_owned)
        else {
            return Ok(None);
        };
        let got = match self
            .client
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.code() == Some(NO_SUCH_ENTITY) => Ok(None),
            Err(e) => Err(classify("iam", "GetOpenIDConnectProvider", e)),
        }?;
        Ok(got.map(|o| OidcProvider {
            url: o.url().unwrap_or(&issuer).to_owned(),
            client_ids: o.client_id_list().to_vec(),
            tags: o
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
            arn: arn.clone(),
        }))
    }

    async fn role(&self, name: &str) -> AwsResult<Option<Role>> {
        let got = match self.client.get_role().role_name(name).send().await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.code() == Some(NO_SUCH_ENTITY) => Ok(None),
            Err(e) => Err(classify("iam", "GetRole", e)),
        }?;
        let Some(out) = got else {
            return Ok(None);
        };
        let Some(r) = out.role() else {
            return Ok(None);
        };
        let raw = r.assume_role_policy_document().unwrap_or("{}");
        let trust_policy = decode_policy(raw).map_err(|message| AwsError::Other {
            service: "iam",
            action: "GetRole",
            message,
        })?;
        Ok(Some(Role {
            name: r.role_name().to_owned(),
            arn: r.arn().to_owned(),
            trust_policy,
            tags: r
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
        }))
    }
}
