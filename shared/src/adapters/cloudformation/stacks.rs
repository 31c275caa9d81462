//! `CfnStacks`: `DescribeStacks` on the deployment stack (`StackApi`).

use crate::adapters::errors::classify;
use crate::ports::{AwsError, AwsResult};

use super::convert::ts;

/// `DescribeStacks` on one stack, by its ID: the deployment stack whose parameters are the
/// scope the custom resource applied.
pub struct CfnStacks {
    client: aws_sdk_cloudformation::Client,
}

impl CfnStacks {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudformation::Client::new(conf),
        }
    }
}

impl crate::ports::StackApi for CfnStacks {
    async fn describe_stack(&self, stack_id: &str) -> AwsResult<crate::ports::StackState> {
        // Retries are the SDK's (see `adapters::retry_config`).
        let out = self
            .client
            .describe_stacks()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStacks", e))
            .map_err(|e| match e {
                // AWS answers ValidationError "Stack with id X does not exist".
                AwsError::Validation(m) if m.contains("does not exist") => AwsError::NotFound {
                    what: format!("stack {stack_id}"),
                },
                other => other,
            })?;
        let s = out.stacks().first().ok_or_else(|| AwsError::NotFound {
            what: format!("stack {stack_id}"),
        })?;
        Ok(crate::ports::StackState {
            status: s
                .stack_status()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            parameters: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            changed_at: ts(s.last_updated_time().or(s.creation_time())),
        })
    }
}
