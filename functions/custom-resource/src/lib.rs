//! The CloudFormation custom resource behind `Custom::PortStackSetInstances`: deploys the
//! role's StackSet instances to exactly the accounts in scope, and always answers.

pub mod aws;
pub mod handler;
pub mod props;
pub mod recording;
pub mod response;
