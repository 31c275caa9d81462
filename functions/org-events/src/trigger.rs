//! What an EventBridge event is about, read from its JSON. Pure: no AWS, no clock.
//!
//! An event is a hint to look again, never the truth about the tree: the handler reads the
//! organization as it is now. Only what decides *whether* to look is taken from the payload.

use serde::Serialize;
use serde_json::Value;
use shared::core::AccountId;

use crate::time::parse_rfc3339;

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
    /// `AcceptHandshake` (invitation), `CreateAccountResult` SUCCEEDED, Control Tower
    /// `CreateManagedAccount` / `UpdateManagedAccount` SUCCEEDED. `ou` when the event names it.
    AccountJoined {
        account: AccountId,
        ou: Option<String>,
        via: String,
    },
    /// `RemoveAccountFromOrganization`, `LeaveOrganization`, `CloseAccount`.
    AccountLeft { account: AccountId, via: String },
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

fn ignored(why: impl Into<String>) -> Trigger {
    Trigger::Ignored { why: why.into() }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::trim).filter(|x| !x.is_empty())
}

fn account_at(v: &Value, path: &[&str]) -> Result<AccountId, Trigger> {
    let raw = s(v, path).ok_or_else(|| ignored(format!("malformed: no {}", path.join("."))))?;
    AccountId::parse(raw).map_err(|_| {
        ignored(format!(
            "malformed: {} is not an account ID",
            path.join(".")
        ))
    })
}

/// Reads an EventBridge event.
pub fn classify(event: &Value) -> Classified {
    let event_time = s(event, &["detail", "eventTime"])
        .or_else(|| s(event, &["time"]))
        .and_then(parse_rfc3339);
    let event_id = s(event, &["id"]).map(str::to_owned);
    let trigger = match classify_inner(event) {
        Ok(t) | Err(t) => t,
    };
    Classified {
        trigger,
        event_time,
        event_id,
    }
}

fn classify_inner(event: &Value) -> Result<Trigger, Trigger> {
    if !event.is_object() {
        return Err(ignored("malformed: the event is not a JSON object"));
    }
    let source = s(event, &["source"]).unwrap_or_default();
    let detail_type = s(event, &["detail-type"]).unwrap_or_default();
    if detail_type == "Scheduled Event" && matches!(source, "aws.events" | "aws.scheduler") {
        return Ok(Trigger::Schedule);
    }
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| {
            ignored(format!(
                "unknown event (source `{source}`, detail-type `{detail_type}`) without detail"
            ))
        })?;
    let name = s(detail, &["eventName"]).unwrap_or_default();
    if let Some(code) = s(detail, &["errorCode"]) {
        return Err(ignored(format!(
            "{name} failed with {code}: nothing changed"
        )));
    }
    match (source, detail_type) {
        ("aws.organizations", "AWS API Call via CloudTrail") => org_api_call(name, detail),
        ("aws.organizations", "AWS Service Event via CloudTrail")
            if name == "CreateAccountResult" =>
        {
            create_account_result(detail)
        }
        ("aws.controltower", "AWS Service Event via CloudTrail")
            if matches!(name, "CreateManagedAccount" | "UpdateManagedAccount") =>
        {
            control_tower(name, detail)
        }
        _ => Err(ignored(format!(
            "unknown event (source `{source}`, detail-type `{detail_type}`, eventName `{name}`)"
        ))),
    }
}

fn org_api_call(name: &str, d: &Value) -> Result<Trigger, Trigger> {
    let req = &["requestParameters"];
    let at = |k: &'static str| [req[0], k];
    match name {
        "MoveAccount" => Ok(Trigger::AccountMoved {
            account: account_at(d, &at("accountId"))?,
            from: s(d, &at("sourceParentId"))
                .ok_or_else(|| ignored("malformed: no requestParameters.sourceParentId"))?
                .to_owned(),
            to: s(d, &at("destinationParentId"))
                .ok_or_else(|| ignored("malformed: no requestParameters.destinationParentId"))?
                .to_owned(),
        }),
        "AcceptHandshake" => accept_handshake(d),
        "RemoveAccountFromOrganization" | "CloseAccount" => Ok(Trigger::AccountLeft {
            account: account_at(d, &at("accountId"))?,
            via: name.into(),
        }),
        // The member account calls LeaveOrganization itself: it is the caller.
        "LeaveOrganization" => Ok(Trigger::AccountLeft {
            account: account_at(d, &["userIdentity", "accountId"])
                .or_else(|_| account_at(d, &["recipientAccountId"]))?,
            via: name.into(),
        }),
        "CreateOrganizationalUnit" => Ok(Trigger::OuChanged {
            ou: s(d, &["responseElements", "organizationalUnit", "id"]).map(str::to_owned),
            parent: s(d, &at("parentId")).map(str::to_owned),
            created: true,
        }),
        "DeleteOrganizationalUnit" => Ok(Trigger::OuChanged {
            ou: Some(
                s(d, &at("organizationalUnitId"))
                    .ok_or_else(|| ignored("malformed: no requestParameters.organizationalUnitId"))?
                    .to_owned(),
            ),
            parent: None,
            created: false,
        }),
        other => Err(ignored(format!(
            "Organizations call `{other}` does not change which accounts are in scope"
        ))),
    }
}

/// The invited account is the `ACCOUNT` party of the handshake (the other is the
/// organization); failing that, the caller, who accepts in the member account.
fn accept_handshake(d: &Value) -> Result<Trigger, Trigger> {
    let hs = d
        .pointer("/responseElements/handshake")
        .ok_or_else(|| ignored("malformed: no responseElements.handshake"))?;
    if let Some(action) = s(hs, &["action"]) {
        if action != "INVITE" {
            return Err(ignored(format!(
                "handshake `{action}` is not an invitation: no account joined"
            )));
        }
    }
    let from_list = |key: &str| {
        hs.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| s(p, &["type"]) == Some("ACCOUNT"))
            .find_map(|p| s(p, &["id"]).and_then(|id| AccountId::parse(id).ok()))
    };
    let account = from_list("parties")
        .or_else(|| from_list("resources"))
        .or_else(|| account_at(d, &["userIdentity", "accountId"]).ok())
        .ok_or_else(|| ignored("malformed: the handshake names no account"))?;
    Ok(Trigger::AccountJoined {
        account,
        ou: None,
        via: "AcceptHandshake".into(),
    })
}

fn create_account_result(d: &Value) -> Result<Trigger, Trigger> {
    let st = d
        .pointer("/serviceEventDetails/createAccountStatus")
        .ok_or_else(|| ignored("malformed: no serviceEventDetails.createAccountStatus"))?;
    match s(st, &["state"]) {
        Some("SUCCEEDED") => Ok(Trigger::AccountJoined {
            account: account_at(st, &["accountId"])?,
            ou: None,
            via: "CreateAccountResult".into(),
        }),
        other => Err(ignored(format!(
            "CreateAccountResult with state {}: no account joined{}",
            other.unwrap_or("(none)"),
            s(st, &["failureReason"])
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ))),
    }
}

fn control_tower(name: &str, d: &Value) -> Result<Trigger, Trigger> {
    let key = if name == "CreateManagedAccount" {
        "createManagedAccountStatus"
    } else {
        "updateManagedAccountStatus"
    };
    let st = d
        .get("serviceEventDetails")
        .and_then(|x| x.get(key))
        .ok_or_else(|| ignored(format!("malformed: no serviceEventDetails.{key}")))?;
    match s(st, &["state"]) {
        Some("SUCCEEDED") => Ok(Trigger::AccountJoined {
            account: account_at(st, &["account", "accountId"])?,
            ou: s(st, &["organizationalUnit", "organizationalUnitId"]).map(str::to_owned),
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
                call(
                    "AcceptHandshake",
                    json!({"handshakeId": "h-1"}),
                    json!({"handshake": {"action": "INVITE", "state": "ACCEPTED", "parties": [
                        {"id": "o-abcdefghij", "type": "ORGANIZATION"},
                        {"id": "222222222222", "type": "ACCOUNT"}]}}),
                ),
                Trigger::AccountJoined {
                    account: acct("222222222222"),
                    ou: None,
                    via: "AcceptHandshake".into(),
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
                envelope(
                    "aws.organizations",
                    "AWS API Call via CloudTrail",
                    json!({"eventName": "LeaveOrganization",
                           "userIdentity": {"accountId": "444444444444"}}),
                ),
                Trigger::AccountLeft {
                    account: acct("444444444444"),
                    via: "LeaveOrganization".into(),
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
                envelope(
                    "aws.organizations",
                    "AWS Service Event via CloudTrail",
                    json!({"eventName": "CreateAccountResult", "serviceEventDetails": {
                        "createAccountStatus": {"state": "SUCCEEDED", "accountId": "555555555555"}}}),
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
    fn unknown_malformed_failed_and_unsuccessful_events_are_ignored() {
        let cases: Vec<(Value, &str)> = vec![
            (json!("hello"), "not a JSON object"),
            (json!({}), "unknown event"),
            (json!({"source": "aws.s3", "detail": {}}), "unknown event"),
            (
                call("MoveAccount", json!({"accountId": "12"}), Value::Null),
                "not an account ID",
            ),
            (
                call("MoveAccount", json!({}), Value::Null),
                "no requestParameters.accountId",
            ),
            (
                call("InviteAccountToOrganization", json!({}), Value::Null),
                "does not change",
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
                envelope(
                    "aws.organizations",
                    "AWS Service Event via CloudTrail",
                    json!({"eventName": "CreateAccountResult", "serviceEventDetails": {
                        "createAccountStatus": {"state": "FAILED", "failureReason": "EMAIL_ALREADY_EXISTS"}}}),
                ),
                "state FAILED",
            ),
            (
                call(
                    "AcceptHandshake",
                    json!({}),
                    json!({"handshake": {"action": "ENABLE_ALL_FEATURES"}}),
                ),
                "not an invitation",
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
    fn event_time_prefers_the_cloudtrail_time() {
        let c = classify(&call("MoveAccount", json!({}), Value::Null));
        assert_eq!(c.event_time, parse_rfc3339("2024-05-01T12:00:01Z"));
        assert_eq!(c.event_id.as_deref(), Some("e-1"));
    }
}
