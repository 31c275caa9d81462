//! The events as AWS delivers them, each read as the trigger it is.

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

const SQS_BATCH: &str = include_str!("../../../../events/sqs-org-events-batch.json");

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
    let alone: Value = serde_json::from_str(batch["Records"][0]["body"].as_str().unwrap()).unwrap();
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

const TAG_RESOURCE: &str = include_str!("../../../../events/tag-resource.json");
const UNTAG_RESOURCE: &str = include_str!("../../../../events/untag-resource.json");

#[test]
fn a_tag_call_on_an_account_is_a_tag_change_of_that_account() {
    for (sample, via) in [
        (TAG_RESOURCE, "TagResource"),
        (UNTAG_RESOURCE, "UntagResource"),
    ] {
        let c = classify(&serde_json::from_str(sample).unwrap());
        assert_eq!(
            c.trigger,
            Trigger::AccountTagsChanged {
                account: acct("111111111111"),
                via: via.into(),
            }
        );
        assert_eq!(c.trigger.kind(), "account_tags_changed");
        assert_eq!(c.trigger.account(), Some(&acct("111111111111")));
        // Not a batch-wide event: only the account is looked at.
        assert!(!takes_whole_scope(&c.trigger));
    }
}

#[test]
fn a_tag_call_on_an_ou_a_root_or_a_policy_is_ignored_saying_why() {
    let cases = [
        ("TagResource", "ou-ab12-12345678", "does not inherit tags"),
        ("UntagResource", "ou-ab12-12345678", "does not inherit tags"),
        ("TagResource", "r-ab12", "does not inherit tags"),
        (
            "TagResource",
            "p-12abcdefg3",
            "a policy's tags do not decide",
        ),
        ("TagResource", "1234", "`1234` is not an account ID"),
    ];
    for (name, id, want) in cases {
        let c = classify(&call(
            name,
            json!({"resourceId": id, "tags": [{"key": "env", "value": "prod"}], "tagKeys": ["env"]}),
            Value::Null,
        ));
        match c.trigger {
            Trigger::Ignored { why } => {
                assert!(
                    why.contains(want) && why.contains(name),
                    "{name} {id}: {why}"
                )
            }
            other => panic!("{name} {id}: {other:?}"),
        }
    }
    let c = classify(&call("TagResource", json!({}), Value::Null));
    assert!(
        matches!(&c.trigger, Trigger::Ignored { why } if why.contains("missing field `resourceId`")),
        "{:?}",
        c.trigger
    );
}
