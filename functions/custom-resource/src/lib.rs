//! The CloudFormation custom resource behind `Custom::PortStackSetInstances`: deploys the
//! role's StackSet instances to exactly the accounts in scope, and always answers. The same
//! function backs `Custom::PortPreflight` (checks only, before the StackSet exists).

pub mod aws;
pub mod handler;
pub mod preflight_only;
pub mod props;
pub mod response;
