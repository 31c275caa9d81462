//! IAM, read-only: Port's OIDC provider and the integration role in the signed-in account.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use serde_json::Value;

use crate::ports::{issuer_of, AwsError, AwsResult, IamApi, OidcProvider, Role};

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

    async fn policy_document(&self, arn: &str) -> AwsResult<Option<Value>> {
        let policy = match self.client.get_policy().policy_arn(arn).send().await {
            Ok(o) => o,
            Err(e) if e.code() == Some(NO_SUCH_ENTITY) => return Ok(None),
            Err(e) => return Err(classify("iam", "GetPolicy", e)),
        };
        let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else {
            return Ok(None);
        };
        let got = match self
            .client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.code() == Some(NO_SUCH_ENTITY) => return Ok(None),
            Err(e) => return Err(classify("iam", "GetPolicyVersion", e)),
        };
        let raw = got
            .policy_version()
            .and_then(|v| v.document())
            .unwrap_or("{}");
        decode_policy(raw)
            .map(Some)
            .map_err(|message| AwsError::Other {
                service: "iam",
                action: "GetPolicyVersion",
                message,
            })
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); some emulators return them plain.
fn decode_policy(raw: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str(raw) {
        return Ok(v);
    }
    let decoded = percent_decode(raw)?;
    serde_json::from_str(&decoded).map_err(|e| format!("trust policy is not JSON: {e}"))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| format!("trust policy is not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_decode_encoded_or_plain() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        assert_eq!(decode_policy(plain).unwrap()["Version"], "2012-10-17");
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(decode_policy(enc).unwrap()["Version"], "2012-10-17");
        assert!(decode_policy("%7B%2").is_err());
    }
}
