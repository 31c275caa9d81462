"""Organization events reach org-events through a queue, in batches: four EventBridge rules ->
OrgEventsQueue (SQS standard) -> OrgEventsQueueMapping (event source mapping, 20 s batching
window, at most 2 batches at once) -> the function. A burst is reconciled once per batch,
not once per event, so the function stays within Organizations' few calls per second. The
schedule still invokes the function directly."""

import json
import re

import pytest

import cfn
from conftest import REQUIRED
from test_deploy import dependencies, depends_on
from test_permissions import function_statements, granted

QUEUE = "OrgEventsQueue"
DLQ = "FailedInvocationsQueue"
MAPPING = "OrgEventsQueueMapping"
FUNCTION = "OrgEventsFunction"
RULES = ("OrganizationsApiCallsRule", "AccountMembershipRule", "AccountCreatedRule", "ControlTowerAccountRule")
QUEUE_ARN = {"Fn::GetAtt": [QUEUE, "Arn"]}
# What the Lambda developer guide lists for an SQS event source ("Using Lambda with Amazon
# SQS", execution role permissions).
CONSUME = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def res(template, name):
    return template["Resources"][name]


def props(template, name):
    return cfn.plain(res(template, name)["Properties"])


def function_timeout(template):
    p = template["Resources"][FUNCTION]["Properties"]
    return p.get("Timeout", template["Globals"]["Function"]["Timeout"])


# ------------------------------------------------------------------ the rules
def test_four_rules_feed_the_queue_under_the_old_event_names(template):
    assert set(cfn.org_events_rules(template)) == set(RULES)
    # The names the events had as the function's SAM EventBridgeRule events.
    assert set(cfn.org_events_patterns(template)) == {
        "OrganizationsApiCalls", "AccountMembership", "AccountCreated", "ControlTowerAccount"}
    # And no other rule in the template (the schedule is the function's SAM event).
    assert {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"} == set(RULES)


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_sends_the_whole_event_to_the_queue_and_nowhere_else(template, rule):
    p = props(template, rule)
    assert p["EventBusName"] == "default"
    assert p["State"] == "ENABLED"
    assert "ScheduleExpression" not in p
    (target,) = p["Targets"]
    assert target["Arn"] == QUEUE_ARN
    # No Input, InputPath or InputTransformer: the body is the whole EventBridge event. No
    # RoleArn: an SQS target is authorized by the queue policy (EventBridge user guide).
    assert set(target) == {"Id", "Arn"}, target
    # No name of its own: CloudFormation generates it, whatever the stack name.
    assert "Name" not in p


def test_rule_descriptions_fit_eventbridge_with_the_longest_identifier(template):
    ev = cfn.Evaluator(template, {**REQUIRED, "IntegrationIdentifier": "A" * 44})
    for rule in RULES:
        desc = ev.eval(res(template, rule)["Properties"]["Description"])
        assert len(desc) <= 512, (rule, len(desc))


# ------------------------------------------------------------------ who may send
def queue_policy(template, ev):
    pol = res(template, "OrgEventsQueuePolicy")
    assert pol["Type"] == "AWS::SQS::QueuePolicy"
    assert cfn.plain(pol["Properties"]["Queues"]) == [{"Ref": QUEUE}]
    return cfn.statements(ev.eval(pol["Properties"]["PolicyDocument"]))


def test_only_eventbridge_for_the_four_rules_may_send_to_the_queue(template, ev):
    allows = [s for s in queue_policy(template, ev) if s["Effect"] == "Allow"]
    (st,) = allows
    assert st["Principal"] == {"Service": "events.amazonaws.com"}
    assert cfn.as_list(st["Action"]) == ["sqs:SendMessage"]
    assert cfn.as_list(st["Resource"]) == [f"<GetAtt {QUEUE}.Arn>"]
    assert set(st["Condition"]) == {"ArnEquals"}
    assert set(st["Condition"]["ArnEquals"]) == {"aws:SourceArn"}
    assert sorted(st["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(f"<GetAtt {r}.Arn>" for r in RULES)


def test_the_queue_refuses_requests_without_tls(template, ev):
    denies = [s for s in queue_policy(template, ev) if s["Effect"] == "Deny"]
    (st,) = denies
    assert st["Principal"] == "*"
    assert cfn.as_list(st["Action"]) == ["sqs:*"]
    assert cfn.as_list(st["Resource"]) == [f"<GetAtt {QUEUE}.Arn>"]
    assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ------------------------------------------------------------------ the queue
def test_the_queue_is_a_standard_queue_encrypted_at_rest(template):
    p = props(template, QUEUE)
    assert res(template, QUEUE)["Type"] == "AWS::SQS::Queue"
    # A batching window exists only for standard queues.
    assert "FifoQueue" not in p
    assert p["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in p


def test_the_visibility_timeout_is_six_function_timeouts_plus_the_batching_window(template):
    """Lambda developer guide, "Using Lambda with Amazon SQS": at least six times the
    function's timeout, plus MaximumBatchingWindowInSeconds; Lambda refuses a mapping whose
    function's timeout exceeds it."""
    window = props(template, MAPPING)["MaximumBatchingWindowInSeconds"]
    visibility = props(template, QUEUE)["VisibilityTimeout"]
    assert function_timeout(template) == 900
    assert visibility >= 6 * function_timeout(template) + window
    assert visibility <= 43200  # SQS's maximum, 12 hours


def test_a_message_failed_five_times_goes_to_the_dead_letter_queue(template):
    redrive = props(template, QUEUE)["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [DLQ, "Arn"]}
    # At least 5 (Lambda developer guide), so that throttled receives do not dead-letter it.
    assert redrive["maxReceiveCount"] >= 5


def test_the_queue_keeps_events_one_day_and_the_dead_letter_queue_longer(template):
    q = props(template, QUEUE)
    # Older events are covered by the scheduled full re-check.
    assert q["MessageRetentionPeriod"] == 86400
    # A standard queue's message keeps its enqueue time in the dead-letter queue: AWS
    # recommends a longer retention there (SQS developer guide, dead-letter queue retention).
    assert props(template, DLQ)["MessageRetentionPeriod"] > q["MessageRetentionPeriod"]


def test_a_failing_message_reaches_the_dead_letter_queue_before_it_expires(template):
    q = props(template, QUEUE)
    receives = q["RedrivePolicy"]["maxReceiveCount"]
    # Each failed receive hides the message for a visibility timeout before the next one.
    assert receives * q["VisibilityTimeout"] < q["MessageRetentionPeriod"]


# ------------------------------------------------------------------ the mapping
def test_the_mapping_batches_a_burst_and_runs_at_most_two_batches_at_once(template):
    m = res(template, MAPPING)
    assert m["Type"] == "AWS::Lambda::EventSourceMapping"
    p = cfn.plain(m["Properties"])
    assert p["EventSourceArn"] == QUEUE_ARN
    assert p["FunctionName"] == {"Ref": FUNCTION}
    assert p["Enabled"] is True
    # The window is what coalesces a burst (at most 300 s).
    assert p["MaximumBatchingWindowInSeconds"] == 20
    # A standard queue with a batching window allows up to 10,000.
    assert p["BatchSize"] == 1000 and p["BatchSize"] <= 10000
    # 2 is the least AWS allows, and it reserves no concurrency.
    assert p["ScalingConfig"] == {"MaximumConcurrency": 2}
    # Partial batch responses: the function answers the records it failed (a deleted target
    # OU's event) and Lambda returns only those; no filter.
    assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "FilterCriteria" not in p


def test_no_reserved_concurrency_bounds_the_function_the_mapping_does(template):
    for name, r in template["Resources"].items():
        if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            assert "ReservedConcurrentExecutions" not in r["Properties"], name
            assert "ProvisionedConcurrencyConfig" not in r["Properties"], name


def test_the_queue_is_not_a_sam_sqs_event(template):
    """A SAM "Type: SQS" event would attach AWSLambdaSQSQueueExecutionRole (SQS actions on
    every queue); the mapping is an explicit resource instead."""
    events = cfn.plain(props(template, FUNCTION)["Events"])
    assert [e["Type"] for e in events.values()] == ["Schedule"]


def test_the_mapping_waits_for_the_initial_enrollment_and_the_functions_role(template, transformed):
    assert cfn.as_list(res(template, MAPPING)["DependsOn"]) == ["PortStackSetInstances"]
    graph = dependencies(transformed)
    assert depends_on(graph, MAPPING, "PortStackSetInstances")
    # The role that holds ConsumeOrgEventsQueue (inline) exists before the mapping: Lambda
    # checks the role's SQS permissions when the mapping is created.
    assert depends_on(graph, MAPPING, f"{FUNCTION}Role")
    # The rules and the queue need nothing of the enrollment: events that arrive meanwhile
    # wait in the queue.
    for r in (*RULES, QUEUE, "OrgEventsQueuePolicy"):
        assert not depends_on(graph, r, "PortStackSetInstances"), r


# ------------------------------------------------------------------ permissions
def test_the_function_may_consume_this_queue_only(template, ev):
    sqs = {a: r for a, r in granted(function_statements(template, ev, FUNCTION)).items() if a.startswith("sqs:")}
    assert sqs == {a: {f"<GetAtt {QUEUE}.Arn>"} for a in CONSUME}
    # The custom resource has nothing to do with the queue.
    cr = granted(function_statements(template, ev, "CustomResourceFunction"))
    assert not [a for a in cr if a.startswith("sqs:")]


def role_statements(transformed, role):
    out = []
    for p in transformed["Resources"][role]["Properties"].get("Policies", []):
        out += cfn.statements(p["PolicyDocument"])
    return out


def test_after_the_transform_the_role_reads_this_queue_and_writes_only_the_dead_letter_queue(transformed):
    """What SAM generates for OrgEventsFunctionRole: no managed policy but basic logging, and
    SQS actions on the two queues by name, never '*'."""
    role = transformed["Resources"][f"{FUNCTION}Role"]
    # AWS's basic logging policy and this template's own ReconcilerPolicy; no
    # AWSLambdaSQSQueueExecutionRole.
    assert role["Properties"]["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        {"Ref": "ReconcilerPolicy"},
    ]
    sqs = {}
    for s in role_statements(transformed, f"{FUNCTION}Role"):
        for a in cfn.as_list(s["Action"]):
            if a.lower().startswith("sqs:"):
                sqs.setdefault(a, []).extend(json.dumps(r, sort_keys=True) for r in cfn.as_list(s["Resource"]))
    assert {a: sorted(r) for a, r in sqs.items()} == {
        **{a: [json.dumps(QUEUE_ARN)] for a in CONSUME},
        # Lambda's dead-letter queue for the schedule's asynchronous invocations.
        "sqs:SendMessage": [json.dumps({"Fn::GetAtt": [DLQ, "Arn"]})],
    }


def test_only_the_schedule_may_invoke_the_function(transformed):
    """SAM made a Lambda permission for each EventBridgeRule event; the rules now target the
    queue, so the schedule's rule is the only one left that invokes the function."""
    res_ = transformed["Resources"]
    perms = {
        n: r["Properties"] for n, r in res_.items()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["FunctionName"] == {"Ref": FUNCTION}
    }
    assert list(perms) == [f"{FUNCTION}ReconcilePermission"]
    (p,) = perms.values()
    assert p["Principal"] == "events.amazonaws.com"
    assert p["Action"] == "lambda:InvokeFunction"
    assert p["SourceArn"] == {"Fn::GetAtt": [f"{FUNCTION}Reconcile", "Arn"]}
    schedule = res_[f"{FUNCTION}Reconcile"]
    assert schedule["Type"] == "AWS::Events::Rule"
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
    # No event pattern rule targets the function; the four target the queue.
    invoking = [
        n for n, r in res_.items() if r["Type"] == "AWS::Events::Rule"
        and any(t["Arn"] == {"Fn::GetAtt": [FUNCTION, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert invoking == [f"{FUNCTION}Reconcile"]
    assert {n for n, r in res_.items() if r["Type"] == "AWS::Lambda::Permission"} == {f"{FUNCTION}ReconcilePermission"}
    # One event source mapping, ours.
    assert [n for n, r in res_.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"] == [MAPPING]


# ------------------------------------------------------------------ delegated administrator
@pytest.mark.parametrize("management_account_id", ["", "999988887777"])
def test_in_both_modes_the_rules_queue_and_mapping_exist(template, management_account_id):
    """From a delegated administrator the companion forwards the events to this account's
    default bus, where the same four rules send them to the queue."""
    ev = cfn.Evaluator(template, {**REQUIRED, "ManagementAccountId": management_account_id})
    for name in (*RULES, QUEUE, "OrgEventsQueuePolicy", MAPPING):
        assert cfn.present(ev, "Resources", name), (management_account_id, name)


def test_comments_no_longer_say_the_rules_invoke_the_function():
    text = cfn.TEMPLATE.read_text()
    assert not re.search(r"Type: EventBridgeRule", text)
    assert "OrgEventsFunction's events" not in cfn.MANAGEMENT_TEMPLATE.read_text()
