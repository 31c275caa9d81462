"""Organization events on their way to org-events, as template.yaml sets them up: the rules'
patterns (EventBridge user guide, "Amazon EventBridge event patterns"), the queue and its
dead-letter queue (SQS developer guide, "Using dead-letter queues in Amazon SQS"), and the test
bed's virtual clock for the 5,420 s visibility timeout (fidelity/events_queue.py)."""

from __future__ import annotations

import copy
import json
import pathlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION
from fidelity import eventbridge, events_queue

EVENTS = pathlib.Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


# ---------------------------------------------------------------- the matcher

def test_a_pattern_array_matches_any_of_its_values_and_every_key_must_match():
    p = {"source": ["aws.organizations"], "detail": {"eventName": ["MoveAccount", "CloseAccount"]}}
    ev = {"source": "aws.organizations", "detail": {"eventName": "CloseAccount", "other": 1}}
    assert eventbridge.matches(p, ev)
    assert not eventbridge.matches(p, {**ev, "source": "aws.controltower"})
    assert not eventbridge.matches(p, {**ev, "detail": {"eventName": "UpdateOrganizationalUnit"}})
    # A key of the pattern missing from the event: no match.
    assert not eventbridge.matches(p, {"source": "aws.organizations"})
    assert not eventbridge.matches(p, {"source": "aws.organizations", "detail": "MoveAccount"})
    # Exact and case-sensitive.
    assert not eventbridge.matches(p, {**ev, "detail": {"eventName": "closeaccount"}})


def test_an_array_in_the_event_matches_when_it_shares_a_value_with_the_pattern():
    p = {"resources": ["arn:a", "arn:b"]}
    assert eventbridge.matches(p, {"resources": ["arn:x", "arn:b"]})
    assert not eventbridge.matches(p, {"resources": ["arn:x"]})
    assert not eventbridge.matches({"n": [1]}, {"n": True})


@pytest.mark.parametrize("pattern, named", [
    ({"detail": {"eventName": [{"prefix": "Move"}]}}, "prefix"),
    ({"source": [{"anything-but": "aws.s3"}]}, "anything-but"),
    ({"detail": {"x": [{"exists": True}]}}, "exists"),
    ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, "$or"),
    ({"source": "aws.organizations"}, "write ['aws.organizations']"),
    ({"source": []}, "empty array"),
])
def test_a_pattern_the_test_bed_does_not_implement_is_refused_by_name(pattern, named):
    with pytest.raises(eventbridge.PatternError, match=named.replace("$", r"\$").replace("[", r"\[")):
        eventbridge.matches(pattern, {"source": "aws.organizations"})


def test_a_rule_of_the_template_with_an_operator_is_refused_naming_the_rule():
    t = copy.deepcopy(events_queue._template())
    t["Resources"]["AccountCreatedRule"]["Properties"]["EventPattern"]["detail"]["eventName"] = [{"prefix": "Create"}]
    with pytest.raises(eventbridge.PatternError, match="AccountCreatedRule.EventPattern.detail.eventName: content-filter operator prefix"):
        events_queue.rules(t, "123456789012", REGION)


# ---------------------------------------------------------------- the template's rules

WANT = {
    "move-account.json": ["OrganizationsApiCallsRule"],
    "remove-account.json": ["OrganizationsApiCallsRule"],
    "close-account.json": ["OrganizationsApiCallsRule"],
    "create-ou.json": ["OrganizationsApiCallsRule"],
    "delete-ou.json": ["OrganizationsApiCallsRule"],
    "tag-resource.json": ["OrganizationsApiCallsRule"],
    "untag-resource.json": ["OrganizationsApiCallsRule"],
    "account-joined-organization.json": ["AccountMembershipRule"],
    "account-departed-organization.json": ["AccountMembershipRule"],
    "create-account-result.json": ["AccountCreatedRule"],
    "create-account-result-failed.json": ["AccountCreatedRule"],
    "controltower-create-managed-account.json": ["ControlTowerAccountRule"],
    "controltower-update-managed-account.json": ["ControlTowerAccountRule"],
    # Not organization events: the schedule invokes the function directly, the others are
    # CloudFormation's requests and the function's own change event.
    "scheduled.json": [],
    "port-role-scope-changed.json": [],
    "cfn-create.json": [],
}


def test_the_four_rules_are_read_from_the_template_with_the_queue_as_their_one_target():
    s = events_queue.settings()
    assert sorted(r["rule"] for r in s["rules"]) == [
        "AccountCreatedRule", "AccountMembershipRule", "ControlTowerAccountRule", "OrganizationsApiCallsRule"]
    assert all(r["targets"] == 1 for r in s["rules"])


@pytest.mark.parametrize("name", sorted(WANT))
def test_each_sample_event_reaches_the_queue_through_exactly_the_rule_meant_for_it(emu, name):
    emu.post("/events/queue")
    out = emu.post("/events/put", {"event": sample(name)})
    assert out["matched"] == WANT[name], out
    assert len(out["message_ids"]) == len(WANT[name])


@pytest.mark.parametrize("event_name", ["AttachPolicy", "UpdateOrganizationalUnit", "AcceptHandshake"])
def test_an_organizations_call_the_rules_leave_out_never_reaches_the_queue(emu, event_name):
    s = emu.post("/events/queue")
    ev = sample("move-account.json")
    ev["detail"]["eventName"] = event_name
    assert emu.post("/events/put", {"event": ev}) == {"matched": [], "message_ids": []}
    sqs = emu.client("sqs")
    url = emu.endpoint + s["queue"]["url_path"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_an_event_that_is_not_an_object_is_refused(emu):
    emu.post("/events/queue")
    with pytest.raises(AssertionError, match="a JSON object"):
        emu.post("/events/put", {"event": "MoveAccount"})


# ---------------------------------------------------------------- the queue

def test_the_queues_carry_the_templates_settings(emu):
    s = emu.post("/events/queue")
    assert s["queue"]["visibility_timeout"] == 5420
    assert s["queue"]["max_receive_count"] == 5
    sqs = emu.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=emu.endpoint + s["queue"]["url_path"],
                                     AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "5420"
    assert attrs["MessageRetentionPeriod"] == "86400"
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": s["dead_letter_queue"]["arn"], "maxReceiveCount": 5}
    dlq = sqs.get_queue_attributes(QueueUrl=emu.endpoint + s["dead_letter_queue"]["url_path"],
                                   AttributeNames=["QueueArn", "MessageRetentionPeriod"])["Attributes"]
    assert dlq == {"QueueArn": s["dead_letter_queue"]["arn"], "MessageRetentionPeriod": "1209600"}
    assert s["mapping"] == {"logical_id": "OrgEventsQueueMapping", "batch_size": 1000,
                            "maximum_batching_window_seconds": 20, "maximum_concurrency": 2,
                            "function_response_types": ["ReportBatchItemFailures"]}


def test_a_message_never_deleted_is_received_max_receive_count_times_then_dead_lettered(emu):
    s = emu.post("/events/queue")
    emu.post("/events/put", {"event": sample("move-account.json")})
    sqs = emu.client("sqs")
    url, dlq = emu.endpoint + s["queue"]["url_path"], emu.endpoint + s["dead_letter_queue"]["url_path"]
    counts = []
    for _ in range(5):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
        counts.append([m["Attributes"]["ApproximateReceiveCount"] for m in got])
        # In flight for the visibility timeout: not received again until it passes.
        assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        assert emu.post("/events/elapse") == {"visible_again": 1}
    assert counts == [["1"], ["2"], ["3"], ["4"], ["5"]]
    # The sixth receive finds it received 5 times: it moves to the dead-letter queue.
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    # What FailedInvocationsAlarm watches: the CloudWatch metric ApproximateNumberOfMessagesVisible
    # is the queue's ApproximateNumberOfMessages attribute, "the number of messages available
    # for retrieval" (SQS developer guide, "Available CloudWatch metrics for Amazon SQS").
    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"
    body = sqs.receive_message(QueueUrl=dlq)["Messages"][0]["Body"]
    assert json.loads(body)["detail"]["eventName"] == "MoveAccount"


def test_the_functions_role_reads_and_deletes_on_the_queue_and_nothing_else(emu, sample):
    s = emu.post("/events/queue")
    creds = emu.post("/principal/template", {"function": "OrgEventsFunction", "account_id": "123456789012",
                                             "parameters": {"StackSetName": "Port-Integration-v3"}})
    sqs = boto3.client("sqs", endpoint_url=emu.endpoint, region_name=REGION,
                       aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
                       aws_session_token=creds["session_token"], config=Config(retries={"total_max_attempts": 1}))
    url, dlq = emu.endpoint + s["queue"]["url_path"], emu.endpoint + s["dead_letter_queue"]["url_path"]
    emu.post("/events/put", {"event": sample_event_move()})
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    for call in (lambda: sqs.send_message(QueueUrl=url, MessageBody="{}"),
                 lambda: sqs.receive_message(QueueUrl=dlq)):
        with pytest.raises(ClientError) as e:
            call()
        assert "not authorized to perform: sqs:" in e.value.response["Error"]["Message"]


def sample_event_move() -> dict:
    return sample("move-account.json")
