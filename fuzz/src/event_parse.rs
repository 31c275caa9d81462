//! Event classification must never panic: arbitrary bytes → JSON → `classify`, which reads
//! the envelope as `aws_lambda_events`' `EventBridgeEvent` and the detail as the typed detail
//! of its kind.
//!
//! Besides the parsed value itself, the value is also grafted into the places of a real
//! `MoveAccount` / `CreateAccountResult` / membership / Control Tower event that
//! classification reads (`detail`, `requestParameters`, `serviceEventDetails`, `resources`,
//! `time`, `eventTime`), so the fuzzer reaches the deep branches without having to invent the
//! envelope.
use org_events::classify;
use serde_json::{json, Value};

fn check(v: &Value) {
    let c = classify(v);
    let _ = c.trigger.kind();
    let _ = c.trigger.account();
    let _ = serde_json::to_string(&c.trigger);
    let _ = format!("{c:?}");
}

/// One input: must return, never panic.
pub fn run(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check(&v);
    let as_str = v.as_str().map(str::to_owned);
    let api = |detail: Value| {
        json!({"source": "aws.organizations", "detail-type": "AWS API Call via CloudTrail",
               "time": as_str.clone().unwrap_or_default(), "detail": detail})
    };
    let svc = |source: &str, detail: Value| json!({"source": source, "detail-type": "AWS Service Event via CloudTrail", "detail": detail});
    for name in [
        "MoveAccount",
        "AcceptHandshake",
        "RemoveAccountFromOrganization",
        "LeaveOrganization",
        "CloseAccount",
        "CreateOrganizationalUnit",
        "DeleteOrganizationalUnit",
        "AccountJoinedOrganization",
        "AccountDepartedOrganization",
    ] {
        check(&api(
            json!({"eventName": name, "requestParameters": v.clone()}),
        ));
        check(&api(json!({"eventName": name, "eventTime": v.clone(),
            "requestParameters": {"accountId": v.clone(), "sourceParentId": "r-abcd",
                                  "destinationParentId": v.clone()},
            "userIdentity": v.clone(), "recipientAccountId": v.clone(),
            "responseElements": {"handshake": v.clone(), "organizationalUnit": v.clone()}})));
        check(&api(json!({"eventName": name,
            "responseElements": {"handshake": {"action": "INVITE", "parties": v.clone(),
                                               "resources": [v.clone()]}}})));
    }
    check(&svc(
        "aws.organizations",
        json!({"eventName": "CreateAccountResult",
        "serviceEventDetails": v.clone()}),
    ));
    for name in ["AccountJoinedOrganization", "AccountDepartedOrganization"] {
        check(&svc(
            "aws.organizations",
            json!({"eventName": name, "serviceEventDetails": v.clone(),
            "additionalEventData": {"account": v.clone()}, "resources": v.clone()}),
        ));
        check(&svc(
            "aws.organizations",
            json!({"eventName": name,
            "resources": [{"ARN": v.clone(), "type": "AWS::Organizations::Account"}]}),
        ));
        let mut e = svc("aws.organizations", json!({"eventName": name}));
        e["resources"] = json!([v.clone()]);
        e["time"] = v.clone();
        check(&e);
    }
    check(&svc(
        "aws.organizations",
        json!({"eventName": "CreateAccountResult",
        "serviceEventDetails": {"createAccountStatus": v.clone()}}),
    ));
    for name in ["CreateManagedAccount", "UpdateManagedAccount"] {
        check(&svc(
            "aws.controltower",
            json!({"eventName": name, "serviceEventDetails": v.clone()}),
        ));
        check(&svc(
            "aws.controltower",
            json!({"eventName": name, "serviceEventDetails": {
            "createManagedAccountStatus": {"state": "SUCCEEDED", "account": v.clone(),
                                           "organizationalUnit": v.clone()},
            "updateManagedAccountStatus": v.clone()}}),
        ));
    }
    if let Some(obj) = v.as_object() {
        let mut e = obj.clone();
        e.insert("source".into(), json!("aws.organizations"));
        check(&Value::Object(e));
    }
}
