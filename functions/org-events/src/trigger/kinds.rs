//! Which trigger an EventBridge event is: the schedule, an Organizations call, a membership
//! event, `CreateAccountResult` or a Control Tower lifecycle event; anything else, failed or
//! malformed is ignored with why.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::core::AccountId;

use super::detail::*;
use super::Trigger;

pub(super) fn ignored(why: impl Into<String>) -> Trigger {
    Trigger::Ignored { why: why.into() }
}

pub(super) fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The detail read as the kind `T`; a detail that does not fit is named with serde's words.
fn detail<T: DeserializeOwned>(name: &str, d: &Value) -> Result<T, Trigger> {
    serde_json::from_value(d.clone()).map_err(|e| ignored(format!("malformed {name} event: {e}")))
}

fn account(name: &str, field: &str, raw: &str) -> Result<AccountId, Trigger> {
    AccountId::parse(raw).map_err(|_| {
        ignored(format!(
            "malformed {name} event: {field} `{raw}` is not an account ID"
        ))
    })
}

pub(super) fn classify_envelope(
    e: &EventBridgeEvent<Value>,
    head: Option<Head>,
) -> Result<Trigger, Trigger> {
    let (source, detail_type) = (e.source.as_str(), e.detail_type.as_str());
    if detail_type == "Scheduled Event" && matches!(source, "aws.events" | "aws.scheduler") {
        return Ok(Trigger::Schedule);
    }
    let head = head.unwrap_or(Head {
        event_name: None,
        error_code: None,
        event_time: None,
    });
    let name = head.event_name.as_deref().unwrap_or_default();
    if let Some(code) = &head.error_code {
        return Err(ignored(format!(
            "{name} failed with {code}: nothing changed"
        )));
    }
    let d = &e.detail;
    match (source, detail_type, name) {
        // Membership events: matched by name, whatever their detail-type.
        ("aws.organizations", _, "AccountJoinedOrganization" | "AccountDepartedOrganization") => {
            membership(name, d, e.resources.as_deref().unwrap_or_default())
        }
        ("aws.organizations", "AWS API Call via CloudTrail", _) => org_api_call(name, d),
        ("aws.organizations", "AWS Service Event via CloudTrail", "CreateAccountResult") => {
            create_account_result(d)
        }
        (
            "aws.controltower",
            "AWS Service Event via CloudTrail",
            "CreateManagedAccount" | "UpdateManagedAccount",
        ) => control_tower(name, d),
        _ => Err(ignored(format!(
            "unknown event (source `{source}`, detail-type `{detail_type}`, eventName `{name}`)"
        ))),
    }
}

fn org_api_call(name: &str, d: &Value) -> Result<Trigger, Trigger> {
    match name {
        "MoveAccount" => {
            let m: MoveAccount = detail(name, d)?;
            let p = m.request_parameters;
            Ok(Trigger::AccountMoved {
                account: account(name, "requestParameters.accountId", &p.account_id)?,
                from: p.source_parent_id,
                to: p.destination_parent_id,
            })
        }
        "RemoveAccountFromOrganization" | "CloseAccount" => {
            let c: AccountCall = detail(name, d)?;
            Ok(Trigger::AccountLeft {
                account: account(
                    name,
                    "requestParameters.accountId",
                    &c.request_parameters.account_id,
                )?,
                via: name.into(),
            })
        }
        "CreateOrganizationalUnit" => {
            let c: CreateOu = detail(name, d)?;
            Ok(Trigger::OuChanged {
                ou: c.response_elements.and_then(|r| r.organizational_unit?.id),
                parent: c.request_parameters.and_then(|p| p.parent_id),
                created: true,
            })
        }
        "DeleteOrganizationalUnit" => {
            let c: DeleteOu = detail(name, d)?;
            Ok(Trigger::OuChanged {
                ou: Some(c.request_parameters.organizational_unit_id),
                parent: None,
                created: false,
            })
        }
        "TagResource" | "UntagResource" => tag_call(name, d),
        // Called by the member account, so recorded there: the management account learns of
        // the change from the membership event Organizations logs for it.
        "AcceptHandshake" | "LeaveOrganization" => Err(ignored(format!(
            "{name} is recorded in the member account that called it; this account acts on \
             the AccountJoinedOrganization / AccountDepartedOrganization event instead"
        ))),
        other => Err(ignored(format!(
            "Organizations call `{other}` does not change which accounts are in scope"
        ))),
    }
}

/// What a tag call is about, by the form of `resourceId` (AWS Organizations API Reference,
/// TagResource / UntagResource: an account ID of 12 digits, an OU `ou-…`, a root `r-…` or a
/// policy `p-…`). Only an account's own tags can change the scope: Organizations does not
/// inherit tags (ListTagsForResource on an account answers the account's tags alone), so an
/// OU's, a root's or a policy's tags are ignored here, before any AWS call.
fn tag_call(name: &str, d: &Value) -> Result<Trigger, Trigger> {
    let c: TagCall = detail(name, d)?;
    let id = c.request_parameters.resource_id.trim();
    let other = if id.starts_with("ou-") {
        Some("OU")
    } else if id.starts_with("r-") {
        Some("root")
    } else if id.starts_with("p-") {
        Some("policy")
    } else {
        None
    };
    match other {
        Some(kind @ ("OU" | "root")) => Err(ignored(format!(
            "{name} on {kind} {id}: Organizations does not inherit tags, so the tags of an OU \
             or a root never put the accounts under it in or out of scope; only an account's \
             own tags count"
        ))),
        Some(kind) => Err(ignored(format!(
            "{name} on {kind} {id}: a policy's tags do not decide which accounts are in scope"
        ))),
        None => Ok(Trigger::AccountTagsChanged {
            account: account(name, "requestParameters.resourceId", id)?,
            via: name.into(),
        }),
    }
}

fn membership(name: &str, d: &Value, envelope_resources: &[String]) -> Result<Trigger, Trigger> {
    let joined = name == "AccountJoinedOrganization";
    let m: Membership = serde_json::from_value(d.clone()).unwrap_or_default();
    let method = [&m.service_event_details, &m.additional_event_data]
        .into_iter()
        .flatten()
        .find_map(|x| {
            if joined {
                x.joined_method.clone()
            } else {
                x.departed_method.clone()
            }
        });
    let via = match method {
        Some(m) => format!("{name} ({m})"),
        None => name.to_owned(),
    };
    let from_details = [
        &m.service_event_details,
        &m.additional_event_data,
        &m.request_parameters,
    ]
    .into_iter()
    .flatten()
    .flat_map(|x| {
        [
            x.account_id.clone(),
            x.account.as_ref().and_then(|a| a.account_id.clone()),
        ]
    })
    .flatten();
    // ARNs of the account resource: `arn:aws:organizations::<mgmt>:account/o-…/<account>`.
    let arns = m
        .resources
        .iter()
        .flatten()
        .filter(|r| {
            r.kind
                .as_deref()
                .is_none_or(|k| k.eq_ignore_ascii_case("AWS::Organizations::Account"))
        })
        .filter_map(|r| r.arn.clone())
        .chain(envelope_resources.iter().cloned())
        .filter(|arn| arn.contains(":account/"))
        .filter_map(|arn| arn.rsplit('/').next().map(str::to_owned));
    let found = from_details
        .chain(arns)
        .find_map(|raw| AccountId::parse(&raw).ok());
    Ok(match found {
        Some(account) if joined => Trigger::AccountJoined {
            account,
            ou: None,
            via,
        },
        Some(account) => Trigger::AccountLeft { account, via },
        None => Trigger::MembershipChanged { via },
    })
}

fn create_account_result(d: &Value) -> Result<Trigger, Trigger> {
    let r: CreateAccountResult = detail("CreateAccountResult", d)?;
    let st = r.service_event_details.create_account_status;
    match st.state.as_deref() {
        Some("SUCCEEDED") => Ok(Trigger::AccountJoined {
            account: account(
                "CreateAccountResult",
                "serviceEventDetails.createAccountStatus.accountId",
                st.account_id.as_deref().unwrap_or_default(),
            )?,
            ou: None,
            via: "CreateAccountResult".into(),
        }),
        other => Err(ignored(format!(
            "CreateAccountResult with state {}: no account joined{}",
            other.unwrap_or("(none)"),
            st.failure_reason
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ))),
    }
}

fn control_tower(name: &str, d: &Value) -> Result<Trigger, Trigger> {
    let c: ControlTower = detail(name, d)?;
    let (key, st) = if name == "CreateManagedAccount" {
        (
            "createManagedAccountStatus",
            c.service_event_details.create_managed_account_status,
        )
    } else {
        (
            "updateManagedAccountStatus",
            c.service_event_details.update_managed_account_status,
        )
    };
    let st = st.ok_or_else(|| {
        ignored(format!(
            "malformed {name} event: no serviceEventDetails.{key}"
        ))
    })?;
    match st.state.as_deref() {
        Some("SUCCEEDED") => Ok(Trigger::AccountJoined {
            account: account(
                name,
                &format!("serviceEventDetails.{key}.account.accountId"),
                st.account
                    .and_then(|a| a.account_id)
                    .as_deref()
                    .unwrap_or_default(),
            )?,
            ou: st
                .organizational_unit
                .and_then(|o| o.organizational_unit_id),
            via: name.into(),
        }),
        other => Err(ignored(format!(
            "{name} with state {}: nothing changed",
            other.unwrap_or("(none)")
        ))),
    }
}
