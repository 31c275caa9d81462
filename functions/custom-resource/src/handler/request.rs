//! The CloudFormation request, read once: its kind, the fields every answer repeats, and the
//! properties.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as CfnRequest;
use serde_json::Value;

use crate::recording::Mutations;

/// CloudFormation's `RequestType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestType {
    Create,
    Update,
    Delete,
}

impl RequestType {
    /// The word CloudFormation sends (and the summary and metrics report).
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
        }
    }
}

/// What every step of a request needs from it.
pub(super) struct Common {
    pub(super) request_type: RequestType,
    pub(super) resource_type: String,
    pub(super) request_id: String,
    pub(super) response_url: String,
    pub(super) stack_id: String,
    pub(super) logical_resource_id: String,
    pub(super) physical_resource_id: Option<String>,
    pub(super) props: Value,
    pub(super) old_props: Option<Value>,
    /// The StackSet named by the properties, when they parse.
    pub(super) stack_set: Option<String>,
    /// What this request did to the StackSet, across invocations.
    pub(super) mutations: Mutations,
}

/// `Common` from one of the request variants (each its own type, with the same field names).
macro_rules! common_of {
    ($r:expr, $kind:expr, $physical:expr, $old_props:expr) => {
        Common {
            request_type: $kind,
            resource_type: $r.resource_type.clone(),
            request_id: $r.request_id.clone(),
            response_url: $r.response_url.clone(),
            stack_id: $r.stack_id.clone(),
            logical_resource_id: $r.logical_resource_id.clone(),
            physical_resource_id: $physical,
            props: $r.resource_properties.clone(),
            old_props: $old_props,
            stack_set: None,
            mutations: Mutations::default(),
        }
    };
}

/// The request's common fields; `None` for a `RequestType` this function does not know.
pub(super) fn common(req: &CfnRequest) -> Option<Common> {
    Some(match req {
        CfnRequest::Create(r) => common_of!(r, RequestType::Create, None, None),
        CfnRequest::Update(r) => common_of!(
            r,
            RequestType::Update,
            Some(r.physical_resource_id.clone()),
            Some(r.old_resource_properties.clone())
        ),
        CfnRequest::Delete(r) => common_of!(
            r,
            RequestType::Delete,
            Some(r.physical_resource_id.clone()),
            None
        ),
        _ => return None,
    })
}

/// A string field of a request that could not be parsed; empty when absent.
pub(super) fn str_field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
