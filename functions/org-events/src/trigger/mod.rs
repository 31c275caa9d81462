//! What an EventBridge event is about. Pure: no AWS, no clock.
//!
//! The envelope is `aws_lambda_events`' `EventBridgeEvent`; its `detail` is then read into the
//! typed detail of its kind (an Organizations API call, `CreateAccountResult`, a membership
//! event, a Control Tower lifecycle event, the schedule). Each kind declares only the fields
//! it uses, so an unrelated field of an unexpected shape never rejects an event.
//!
//! An event is a hint to look again, never the truth about the tree: the handler reads the
//! organization as it is now. Only what decides *whether* to look is taken from the payload.

mod detail;
mod kinds;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::DateTime;
use serde::Serialize;
use serde_json::Value;
use shared::core::AccountId;

use detail::Head;
use kinds::{classify_envelope, epoch, ignored};

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
    /// `TagResource` / `UntagResource` on an account (`requestParameters.resourceId` an
    /// account ID): its tags changed, so the tag filter may now keep it or drop it. The same
    /// calls on an OU, a root or a policy are ignored: Organizations does not inherit tags.
    AccountTagsChanged { account: AccountId, via: String },
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
            Self::AccountTagsChanged { .. } => "account_tags_changed",
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
            | Self::AccountLeft { account, .. }
            | Self::AccountTagsChanged { account, .. } => Some(account),
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

#[cfg(test)]
mod tests;
