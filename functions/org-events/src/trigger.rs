//! What an EventBridge event is about. Pure: no AWS, no clock.
//!
//! The envelope is `aws_lambda_events`' `EventBridgeEvent`; its `detail` is then read into the
//! typed detail of its kind (an Organizations API call, `CreateAccountResult`, a membership
//! event, a Control Tower lifecycle event, the schedule). Each kind declares only the fields
//! it uses, so an unrelated field of an unexpected shape never rejects an event.
//!
//! An event is a hint to look again, never the truth about the tree: the handler reads the
//! organization as it is now. Only what decides *whether* to look is taken from the payload.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use shared::core::AccountId;

/// Why the function was invoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// The schedule: full reconcile, retries and drift repair.
    Schedule,
    /// `MoveAccount`.
    AccountMoved {
        account: AccountId,
        from: String,
        to: String,
    },
    /// `AccountJoinedOrganization` (invited or created), `CreateAccountResult` SUCCEEDED,
    /// Control Tower `CreateManagedAccount` / `UpdateManagedAccount` SUCCEEDED. `ou` when the
    /// event names it.
    AccountJoined {
        account: AccountId,
        ou: Option<String>,
        via: String,
    },
    /// `AccountDepartedOrganization`, `RemoveAccountFromOrganization`, `CloseAccount`.
    AccountLeft { account: AccountId, via: String },
    /// A membership event whose account this code could not find in it: the whole scope is
    /// looked at (AWS documents the event's fields, not where the account ID sits).
    MembershipChanged { via: String },
    /// `CreateOrganizationalUnit` / `DeleteOrganizationalUnit`.
    OuChanged {
        ou: Option<String>,
        parent: Option<String>,
        created: bool,
    },
    /// Unknown, malformed, a failed call or a FAILED result: changes nothing.
    Ignored { why: String },
}

impl Trigger {
    /// A short name for logs, summaries and operation-ID seeds.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::AccountMoved { .. } => "account_moved",
            Self::AccountJoined { .. } => "account_joined",
            Self::AccountLeft { .. } => "account_left",
            Self::MembershipChanged { .. } => "membership_changed",
            Self::OuChanged { created: true, .. } => "ou_created",
            Self::OuChanged { created: false, .. } => "ou_deleted",
            Self::Ignored { .. } => "ignored",
        }
    }

    /// The account the event is about, if any.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Self::AccountMoved { account, .. }
            | Self::AccountJoined { account, .. }
            | Self::AccountLeft { account, .. } => Some(account),
            _ => None,
        }
    }
}

/// A classified event: the trigger and when the change happened (seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub trigger: Trigger,
    pub event_time: Option<f64>,
    pub event_id: Option<String>,
}

impl Classified {
    /// An event this code does not act on, with why.
    fn ignored(why: impl Into<String>) -> Self {
        Self {
            trigger: ignored(why),
            event_time: None,
            event_id: None,
        }
    }
}

// ------------------------------------------------------------------ typed details

/// What every CloudTrail-delivered detail says about itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    #[serde(default, deserialize_with = "lenient_string")]
    event_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    error_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    event_time: Option<DateTime<Utc>>,
}

/// `MoveAccount`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveAccount {
    request_parameters: MoveAccountParameters,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveAccountParameters {
    account_id: String,
    source_parent_id: String,
    destination_parent_id: String,
}

/// `RemoveAccountFromOrganization`, `CloseAccount`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountCall {
    request_parameters: AccountParameter,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountParameter {
    account_id: String,
}

/// `CreateOrganizationalUnit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateOu {
    #[serde(default)]
    request_parameters: Option<CreateOuParameters>,
    #[serde(default)]
    response_elements: Option<CreateOuResponse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateOuParameters {
    #[serde(default)]
    parent_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateOuResponse {
    #[serde(default)]
    organizational_unit: Option<OuRef>,
}

#[derive(Debug, Deserialize)]
struct OuRef {
    #[serde(default)]
    id: Option<String>,
}

/// `DeleteOrganizationalUnit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOu {
    request_parameters: DeleteOuParameters,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOuParameters {
    organizational_unit_id: String,
}

/// `CreateAccountResult` (service event).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAccountResult {
    service_event_details: CreateAccountDetails,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAccountDetails {
    create_account_status: CreateAccountStatus,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAccountStatus {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
}

/// `AccountJoinedOrganization` / `AccountDepartedOrganization`: AWS documents `joinedMethod`
/// / `joinedTime` and `departedMethod` / `departedTime`, logged in the management account, but
/// not where the member's account ID sits; every place it plausibly does is read, leniently.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Membership {
    #[serde(default, deserialize_with = "lenient")]
    service_event_details: Option<MembershipDetails>,
    #[serde(default, deserialize_with = "lenient")]
    additional_event_data: Option<MembershipDetails>,
    #[serde(default, deserialize_with = "lenient")]
    request_parameters: Option<MembershipDetails>,
    #[serde(default, deserialize_with = "lenient")]
    resources: Option<Vec<ResourceRef>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MembershipDetails {
    #[serde(
        default,
        alias = "memberAccountId",
        deserialize_with = "lenient_string"
    )]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    account: Option<AccountRef>,
    #[serde(default, deserialize_with = "lenient_string")]
    joined_method: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    departed_method: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountRef {
    #[serde(default, alias = "id", deserialize_with = "lenient_string")]
    account_id: Option<String>,
}

/// CloudTrail's `resources` entries (`{"ARN": ..., "accountId": ..., "type": ...}`).
#[derive(Debug, Default, Deserialize)]
struct ResourceRef {
    #[serde(default, rename = "ARN", deserialize_with = "lenient_string")]
    arn: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    kind: Option<String>,
}

/// Control Tower `CreateManagedAccount` / `UpdateManagedAccount`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControlTower {
    service_event_details: ControlTowerDetails,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControlTowerDetails {
    #[serde(default)]
    create_managed_account_status: Option<ManagedAccountStatus>,
    #[serde(default)]
    update_managed_account_status: Option<ManagedAccountStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedAccountStatus {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    account: Option<ManagedAccount>,
    #[serde(default)]
    organizational_unit: Option<ManagedOu>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedAccount {
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedOu {
    #[serde(default)]
    organizational_unit_id: Option<String>,
}

/// A field that is read only if it has the expected shape.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient::<D, String>(d)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

/// A time that is not RFC 3339 counts as absent: it only tunes coalescing.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(lenient_string(d)?.and_then(|s| {
        DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }))
}

// ------------------------------------------------------------------ classification

fn ignored(why: impl Into<String>) -> Trigger {
    Trigger::Ignored { why: why.into() }
}

fn epoch(t: DateTime<Utc>) -> f64 {
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

/// The events of one invocation. The Organizations rules send their events to an SQS queue,
/// which hands them to the function in batches (each record's `body` is the whole EventBridge
/// event, as EventBridge puts it on a queue target); the schedule invokes the function
/// directly with one EventBridge event. Never empty: a batch without records is one ignored
/// event.
pub fn deliveries(event: &Value) -> Vec<Classified> {
    let Some(bodies) = sqs_bodies(event) else {
        return vec![classify(event)];
    };
    if bodies.is_empty() {
        return vec![Classified::ignored("an SQS delivery without records")];
    }
    bodies.iter().map(classify).collect()
}

/// The `messageId` of each record of an SQS delivery, in the order of [`deliveries`]; `None`
/// when the event is not an SQS delivery.
pub fn sqs_message_ids(event: &Value) -> Option<Vec<String>> {
    let records = event.get("Records")?.as_array()?;
    let from_sqs = |r: &Value| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
    if !records.iter().all(from_sqs) {
        return None;
    }
    Some(
        records
            .iter()
            .map(|r| {
                r.get("messageId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect(),
    )
}

/// Whether this event makes a batch read the whole scope: a deleted OU (a deleted target
/// fails the read by name) or a membership event without an account.
pub fn takes_whole_scope(t: &Trigger) -> bool {
    matches!(
        t,
        Trigger::OuChanged { created: false, .. } | Trigger::MembershipChanged { .. }
    )
}

/// The event a delivery is reported under: the schedule, else the first event that is not
/// ignored, else the first.
pub fn lead(batch: &[Classified]) -> Classified {
    batch
        .iter()
        .find(|e| e.trigger == Trigger::Schedule)
        .or_else(|| {
            batch
                .iter()
                .find(|e| !matches!(e.trigger, Trigger::Ignored { .. }))
        })
        .or(batch.first())
        .cloned()
        .unwrap_or_else(|| Classified::ignored("no event"))
}

/// The bodies of an SQS delivery (`Records[].eventSource` `aws:sqs`), each read as JSON; a body
/// that is not JSON stays a string, which `classify` ignores as malformed. `None`: not an SQS
/// delivery.
fn sqs_bodies(event: &Value) -> Option<Vec<Value>> {
    let records = event.get("Records")?.as_array()?;
    let from_sqs = |r: &Value| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
    if !records.iter().all(from_sqs) {
        return None;
    }
    let batch: SqsEvent = serde_json::from_value(event.clone()).ok()?;
    Some(
        batch
            .records
            .into_iter()
            .map(|m| {
                let body = m.body.unwrap_or_default();
                serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body))
            })
            .collect(),
    )
}

/// Reads an EventBridge event.
pub fn classify(event: &Value) -> Classified {
    let envelope = envelope(event);
    let event_id = event
        .get("id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let (trigger, event_time) = match envelope {
        Err(t) => (t, None),
        Ok(e) => {
            let head: Option<Head> = serde_json::from_value(e.detail.clone()).ok();
            let time = head
                .as_ref()
                .and_then(|h| h.event_time)
                .or(e.time)
                .map(epoch);
            let trigger = match classify_envelope(&e, head) {
                Ok(t) | Err(t) => t,
            };
            (trigger, time)
        }
    };
    Classified {
        trigger,
        event_time,
        event_id,
    }
}

/// The EventBridge envelope. A `time` that is not RFC 3339 is dropped rather than rejecting
/// the event (it only tunes coalescing).
fn envelope(event: &Value) -> Result<EventBridgeEvent<Value>, Trigger> {
    let Some(obj) = event.as_object() else {
        return Err(ignored("malformed: the event is not a JSON object"));
    };
    let source = obj
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let detail_type = obj
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut obj = obj.clone();
    if obj.get("time").is_some_and(|t| {
        t.as_str()
            .is_none_or(|s| DateTime::parse_from_rfc3339(s).is_err())
    }) {
        obj.remove("time");
    }
    if !obj.get("detail").is_some_and(Value::is_object) {
        return Err(ignored(format!(
            "unknown event (source `{source}`, detail-type `{detail_type}`) without detail"
        )));
    }
    serde_json::from_value(Value::Object(obj)).map_err(|e| {
        ignored(format!(
            "unknown event (source `{source}`, detail-type `{detail_type}`): not an EventBridge \
             event ({e})"
        ))
    })
}

fn classify_envelope(e: &EventBridgeEvent<Value>, head: Option<Head>) -> Result<Trigger, Trigger> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(source: &str, dt: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "e-1", "detail-type": dt, "source": source,
               "account": "123456789012", "time": "2024-05-01T12:00:00Z",
               "region": "us-east-1", "resources": [], "detail": detail})
    }

    fn call(name: &str, req: Value, resp: Value) -> Value {
        envelope(
            "aws.organizations",
            "AWS API Call via CloudTrail",
            json!({"eventName": name, "eventSource": "organizations.amazonaws.com",
                   "eventTime": "2024-05-01T12:00:01Z",
                   "userIdentity": {"accountId": "123456789012"},
                   "requestParameters": req, "responseElements": resp}),
        )
    }

    fn service(name: &str, details: Value) -> Value {
        envelope(
            "aws.organizations",
            "AWS Service Event via CloudTrail",
            json!({"eventName": name, "eventSource": "organizations.amazonaws.com",
                   "eventTime": "2024-05-01T12:00:01Z", "serviceEventDetails": details}),
        )
    }

    fn acct(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    #[test]
    fn each_shape_is_classified() {
        let cases: Vec<(Value, Trigger)> = vec![
            (
                call(
                    "MoveAccount",
                    json!({"accountId": "012345678901", "sourceParentId": "r-ab12",
                           "destinationParentId": "ou-ab12-12345678"}),
                    Value::Null,
                ),
                Trigger::AccountMoved {
                    account: acct("012345678901"),
                    from: "r-ab12".into(),
                    to: "ou-ab12-12345678".into(),
                },
            ),
            (
                service(
                    "AccountJoinedOrganization",
                    json!({"accountId": "222222222222", "joinedMethod": "Invited",
                           "joinedTime": "2024-05-01T12:00:00Z"}),
                ),
                Trigger::AccountJoined {
                    account: acct("222222222222"),
                    ou: None,
                    via: "AccountJoinedOrganization (Invited)".into(),
                },
            ),
            (
                service(
                    "AccountDepartedOrganization",
                    json!({"accountId": "444444444444", "departedMethod": "Left",
                           "departedTime": "2024-05-01T12:00:00Z"}),
                ),
                Trigger::AccountLeft {
                    account: acct("444444444444"),
                    via: "AccountDepartedOrganization (Left)".into(),
                },
            ),
            (
                call(
                    "CloseAccount",
                    json!({"accountId": "333333333333"}),
                    Value::Null,
                ),
                Trigger::AccountLeft {
                    account: acct("333333333333"),
                    via: "CloseAccount".into(),
                },
            ),
            (
                call(
                    "CreateOrganizationalUnit",
                    json!({"parentId": "r-ab12", "name": "New"}),
                    json!({"organizationalUnit": {"id": "ou-ab12-newnewne"}}),
                ),
                Trigger::OuChanged {
                    ou: Some("ou-ab12-newnewne".into()),
                    parent: Some("r-ab12".into()),
                    created: true,
                },
            ),
            (
                service(
                    "CreateAccountResult",
                    json!({"createAccountStatus": {"state": "SUCCEEDED", "accountId": "555555555555"}}),
                ),
                Trigger::AccountJoined {
                    account: acct("555555555555"),
                    ou: None,
                    via: "CreateAccountResult".into(),
                },
            ),
            (
                envelope(
                    "aws.controltower",
                    "AWS Service Event via CloudTrail",
                    json!({"eventName": "UpdateManagedAccount", "serviceEventDetails": {
                        "updateManagedAccountStatus": {"state": "SUCCEEDED",
                            "account": {"accountId": "666666666666"},
                            "organizationalUnit": {"organizationalUnitId": "ou-ab12-12345678"}}}}),
                ),
                Trigger::AccountJoined {
                    account: acct("666666666666"),
                    ou: Some("ou-ab12-12345678".into()),
                    via: "UpdateManagedAccount".into(),
                },
            ),
            (
                envelope("aws.events", "Scheduled Event", json!({})),
                Trigger::Schedule,
            ),
        ];
        for (event, want) in cases {
            assert_eq!(classify(&event).trigger, want, "{event}");
        }
    }

    #[test]
    fn membership_events_are_read_whatever_their_detail_type_and_account_field() {
        // As an API-call-typed event, with the account in the resources' ARN.
        let mut e = envelope(
            "aws.organizations",
            "AWS API Call via CloudTrail",
            json!({"eventName": "AccountJoinedOrganization",
                   "resources": [{"ARN": "arn:aws:organizations::123456789012:account/o-abcdefghij/777777777777",
                                  "type": "AWS::Organizations::Account"}]}),
        );
        assert_eq!(
            classify(&e).trigger,
            Trigger::AccountJoined {
                account: acct("777777777777"),
                ou: None,
                via: "AccountJoinedOrganization".into()
            }
        );
        // The account under serviceEventDetails.account.accountId.
        e["detail"] = json!({"eventName": "AccountDepartedOrganization",
                             "serviceEventDetails": {"account": {"accountId": "888888888888"},
                                                     "departedMethod": "Removed"}});
        assert_eq!(
            classify(&e).trigger,
            Trigger::AccountLeft {
                account: acct("888888888888"),
                via: "AccountDepartedOrganization (Removed)".into()
            }
        );
        // Nowhere to be found, or not an account ID: the whole scope is looked at.
        for details in [
            json!({"joinedMethod": "Created"}),
            json!({"accountId": 7}),
            json!("x"),
        ] {
            let e = service("AccountJoinedOrganization", details.clone());
            assert_eq!(
                classify(&e).trigger.kind(),
                "membership_changed",
                "{details}"
            );
        }
    }

    #[test]
    fn unknown_malformed_failed_and_unsuccessful_events_are_ignored() {
        let cases: Vec<(Value, &str)> = vec![
            (json!("hello"), "not a JSON object"),
            (json!({}), "unknown event"),
            (json!({"source": "aws.s3", "detail": {}}), "unknown event"),
            (
                call(
                    "MoveAccount",
                    json!({"accountId": "12", "sourceParentId": "r-ab12",
                                           "destinationParentId": "ou-ab12-12345678"}),
                    Value::Null,
                ),
                "`12` is not an account ID",
            ),
            (
                call("MoveAccount", json!({}), Value::Null),
                "malformed MoveAccount event: missing field `accountId`",
            ),
            (
                call(
                    "MoveAccount",
                    json!({"accountId": 12345678901u64}),
                    Value::Null,
                ),
                "malformed MoveAccount event: invalid type",
            ),
            (
                call("InviteAccountToOrganization", json!({}), Value::Null),
                "does not change",
            ),
            (
                call("AcceptHandshake", json!({}), Value::Null),
                "recorded in the member account",
            ),
            (
                call("LeaveOrganization", json!({}), Value::Null),
                "recorded in the member account",
            ),
            (
                envelope(
                    "aws.organizations",
                    "AWS API Call via CloudTrail",
                    json!({"eventName": "MoveAccount", "errorCode": "AccessDenied"}),
                ),
                "failed with AccessDenied",
            ),
            (
                service(
                    "CreateAccountResult",
                    json!({"createAccountStatus": {"state": "FAILED", "failureReason": "EMAIL_ALREADY_EXISTS"}}),
                ),
                "state FAILED: no account joined (EMAIL_ALREADY_EXISTS)",
            ),
            (
                envelope(
                    "aws.controltower",
                    "AWS Service Event via CloudTrail",
                    json!({"eventName": "CreateManagedAccount", "serviceEventDetails": {}}),
                ),
                "no serviceEventDetails.createManagedAccountStatus",
            ),
        ];
        for (event, want) in cases {
            match classify(&event).trigger {
                Trigger::Ignored { why } => assert!(why.contains(want), "{event}: {why}"),
                other => panic!("{event}: {other:?}"),
            }
        }
    }

    #[test]
    fn event_time_prefers_the_cloudtrail_time_and_a_bad_time_is_only_dropped() {
        let c = classify(&call(
            "MoveAccount",
            json!({"accountId": "012345678901", "sourceParentId": "r-ab12",
                   "destinationParentId": "ou-ab12-12345678"}),
            Value::Null,
        ));
        assert_eq!(c.event_time, Some(1_714_564_801.0));
        assert_eq!(c.event_id.as_deref(), Some("e-1"));
        let mut e = envelope("aws.events", "Scheduled Event", json!({}));
        e["time"] = json!("2024-05-01T14:00:00.5+02:00");
        assert_eq!(classify(&e).event_time, Some(1_714_564_800.5));
        // The fuzz target's finding: a multi-byte character where the offset's colon goes.
        for bad in ["2024-05-01T12:00:00+0é00", "yesterday", ""] {
            e["time"] = json!(bad);
            let c = classify(&e);
            assert_eq!(c.trigger, Trigger::Schedule, "{bad}");
            assert_eq!(c.event_time, None, "{bad}");
        }
    }

    const SQS_BATCH: &str = include_str!("../../../events/sqs-org-events-batch.json");

    #[test]
    fn an_sqs_batch_reads_as_the_eventbridge_events_its_records_carry_in_order() {
        let batch: Value = serde_json::from_str(SQS_BATCH).unwrap();
        let events = deliveries(&batch);
        let kinds: Vec<&str> = events.iter().map(|e| e.trigger.kind()).collect();
        assert_eq!(kinds, ["account_moved", "account_left", "ou_created"]);
        assert_eq!(
            events[0].trigger,
            Trigger::AccountMoved {
                account: AccountId::parse("111111111111").unwrap(),
                from: "ou-a1b2-11111111".into(),
                to: "ou-a1b2-22222222".into(),
            }
        );
        // Each record is the same as the event delivered on its own.
        let alone: Value =
            serde_json::from_str(batch["Records"][0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(events[0], classify(&alone));
    }

    #[test]
    fn an_sqs_batch_names_each_records_message_id_in_the_order_of_its_events() {
        let batch: Value = serde_json::from_str(SQS_BATCH).unwrap();
        let ids = sqs_message_ids(&batch).expect("an SQS delivery");
        assert_eq!(ids.len(), deliveries(&batch).len());
        assert_eq!(ids[0], "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert_eq!(ids[1], "2e1424d4-f796-459a-8184-9c92662be6da");
        let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert_eq!(sqs_message_ids(&scheduled), None);
    }

    #[test]
    fn only_a_deleted_ou_and_a_membership_event_without_an_account_take_the_whole_scope() {
        let batch: Value = serde_json::from_str(SQS_BATCH).unwrap();
        // A move, a closed account, a created OU: none.
        assert!(deliveries(&batch)
            .iter()
            .all(|e| !takes_whole_scope(&e.trigger)));
        assert!(takes_whole_scope(&Trigger::OuChanged {
            ou: Some("ou-a1b2-22222222".into()),
            parent: None,
            created: false,
        }));
        assert!(takes_whole_scope(&Trigger::MembershipChanged {
            via: "AccountJoinedOrganization".into()
        }));
    }

    #[test]
    fn an_eventbridge_event_invoked_directly_is_a_delivery_of_one() {
        let e = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
                       "source": "aws.events", "time": "2024-05-01T12:00:00Z",
                       "detail": {}});
        let events = deliveries(&e);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].trigger, Trigger::Schedule);
    }

    #[test]
    fn a_record_whose_body_is_not_json_is_ignored_and_the_others_are_read() {
        let mut batch: Value = serde_json::from_str(SQS_BATCH).unwrap();
        batch["Records"][1]["body"] = json!("not json {");
        let events = deliveries(&batch);
        assert_eq!(events.len(), 3);
        assert!(
            matches!(&events[1].trigger, Trigger::Ignored { why } if why.contains("not a JSON object")),
            "{:?}",
            events[1]
        );
        assert_eq!(events[0].trigger.kind(), "account_moved");
    }

    #[test]
    fn an_sqs_delivery_without_records_is_one_ignored_event() {
        let events = deliveries(&json!({"Records": []}));
        assert_eq!(events.len(), 1);
        assert!(
            matches!(&events[0].trigger, Trigger::Ignored { why } if why.contains("without records"))
        );
    }
}
