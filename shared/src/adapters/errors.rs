//! SDK errors → `AwsError`, once, by error code.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ports::AwsError;

pub fn classify<E, R>(service: &'static str, action: &'static str, e: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default().to_owned();
    let msg = e.message().unwrap_or_default().to_owned();
    let lower = msg.to_ascii_lowercase();
    match code.as_str() {
        "ParentNotFoundException"
        | "ChildNotFoundException"
        | "AccountNotFoundException"
        | "OrganizationalUnitNotFoundException"
        | "StackSetNotFoundException"
        | "OperationNotFoundException"
        | "StackInstanceNotFoundException"
        // ListTagsForResource on an account that is not (or no longer) in the organization
        // (AWS Organizations API Reference, ListTagsForResource, Errors).
        | "TargetNotFoundException" => AwsError::NotFound {
            what: if msg.is_empty() { code } else { msg },
        },
        "TooManyRequestsException" | "Throttling" | "ThrottlingException" => {
            AwsError::Throttled(format!("{service} {action}: {code}"))
        }
        "OperationInProgressException" => AwsError::OperationInProgress,
        "OperationIdAlreadyExistsException" => AwsError::OperationIdExists,
        "AccessDeniedException" | "AccessDenied" => AwsError::AccessDenied(msg),
        "AWSOrganizationsNotInUseException" => AwsError::NoOrganization,
        "ValidationError" if lower.contains("organizations access") => {
            AwsError::TrustedAccessDisabled(msg)
        }
        "ValidationError" | "InvalidOperationException" => AwsError::Validation(msg),
        "" => AwsError::Other {
            service,
            action,
            message: format!("{}", DisplayErrorContext(&e)),
        },
        _ => AwsError::Other {
            service,
            action,
            message: format!("{code}: {msg}"),
        },
    }
}
