//! CloudFormation StackSets: one service-managed StackSet's instances and operations.
//!
//! This module holds the client (`CfnStackSets`), its construction and the `CallAs` it sends;
//! the submodules hold one concern each: the operations of ours the lists lag behind
//! (`own`), the paging of the lists (`lists`), conversions from SDK types (`convert`), the
//! operation preferences (`preferences`), the `StackSetReader` and `StackSetWriter` impls,
//! and `CfnStacks` (the deployment stack, `StackApi`).

use aws_sdk_cloudformation::types::CallAs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::ports::StackSetReader;

mod convert;
mod lists;
mod own;
mod preferences;
mod reader;
mod stacks;
mod writer;

pub use preferences::{preferences, Preferences, PREFERENCES};
pub use stacks::CfnStacks;

use own::Own;

pub struct CfnStackSets {
    client: aws_sdk_cloudformation::Client,
    /// `true`: every call sends `CallAs: DELEGATED_ADMIN`; else `SELF`.
    delegated: AtomicBool,
    /// The operations this process started (or found it had started: an ID that already
    /// exists) that the eventually consistent lists have not shown yet. `ListStackSetOperations`
    /// and `ListStackSetOperationResults` "provide eventually consistent reads", and
    /// `DescribeStackSetOperation` "strongly consistent reads" (CloudFormation API Reference):
    /// an operation of ours the list lags behind is described by its ID instead, so that no
    /// reader concludes "idle" or "no failures" from a list that has not caught up with it.
    own: Mutex<Vec<Own>>,
}

impl CfnStackSets {
    /// Calls as `SELF` until `set_call_as`.
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudformation::Client::new(conf),
            delegated: AtomicBool::new(false),
            own: Mutex::new(Vec::new()),
        }
    }

    /// The same, calling as `call_as` from the start.
    pub fn calling_as(conf: &aws_config::SdkConfig, call_as: crate::core::CallAs) -> Self {
        let s = Self::new(conf);
        s.set_call_as(call_as);
        s
    }

    /// The SDK's `CallAs` for the port's mode: the one value every operation below sends.
    fn call_as(&self) -> CallAs {
        if self.delegated.load(Ordering::Relaxed) {
            CallAs::DelegatedAdmin
        } else {
            CallAs::SelfValue
        }
    }
}
