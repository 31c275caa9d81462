//! The CloudFormation custom resource behind `Custom::PortStackSetInstances`: deploys the
//! role's StackSet instances to exactly the accounts in scope, and always answers. The same
//! function backs `Custom::PortPreflight` (checks only, before the StackSet exists) and `Custom::PortAlarmWindow` (the alarms'
//! period, from the schedule).

pub mod alarm_window;
pub mod aws;
pub mod handler;
pub mod payload;
pub mod preflight_only;
pub mod props;
pub mod recording;
pub mod response;
