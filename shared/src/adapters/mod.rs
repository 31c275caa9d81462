//! The AWS side: thin adapters from the SDK to the ports. Conversions from SDK types live
//! only here.

pub mod cloudformation;
pub mod cloudtrail;
pub mod errors;
pub mod iam;
pub mod organizations;
pub mod retry;
pub mod sts;

pub use cloudformation::{CfnStackSets, CfnStacks};
pub use organizations::SdkOrganizations;
pub use sts::SdkIdentity;

/// Loads the shared AWS configuration: standard credential chain, region, and
/// `AWS_ENDPOINT_URL` (which points every client at a local emulator when set).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}
