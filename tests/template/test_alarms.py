"""The alarms an operator expects, and where they notify (issue 14)."""

import re

import pytest

import cfn
from conftest import REQUIRED

ALARMS = ("FailedInvocationsAlarm", "AccountsFailedAlarm", "ScheduledReconcileAlarm", "EventsQueueAgeAlarm")
# The names the functions print (shared::metrics); the alarms must read exactly these.
NAMESPACE = "PortAwsIntegration"


def metrics_source() -> str:
    return (cfn.ROOT / "shared" / "src" / "metrics.rs").read_text()


def rust_const(text: str, name: str) -> str:
    m = re.search(rf'pub const {name}: &str = "([^"]+)";', text)
    assert m, f"{name} not found in shared/src/metrics.rs"
    return m.group(1)


def props(template, name):
    return template["Resources"][name]["Properties"]


def evaluator(template, **params):
    return cfn.Evaluator(template, {**REQUIRED, **params})


def test_the_alarms_read_the_metrics_the_functions_print(template):
    src = metrics_source()
    assert rust_const(src, "NAMESPACE") == NAMESPACE
    assert rust_const(src, "INTEGRATION_DIMENSION") == "IntegrationIdentifier"
    for alarm, const in (
        ("AccountsFailedAlarm", "ACCOUNTS_FAILED"),
        ("ScheduledReconcileAlarm", "SCHEDULED_RECONCILE_SUCCEEDED"),
    ):
        p = props(template, alarm)
        assert p["Namespace"] == NAMESPACE
        assert p["MetricName"] == rust_const(src, const)
        assert cfn.plain(p["Dimensions"]) == [
            {"Name": "IntegrationIdentifier", "Value": {"Ref": "IntegrationIdentifier"}}
        ]


def test_both_functions_get_the_integration_identifier_for_the_dimension(template):
    src = metrics_source()
    env_name = rust_const(src, "INTEGRATION_ENV")
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        env = cfn.plain(props(template, fn)["Environment"]["Variables"])
        assert env[env_name] == {"Ref": "IntegrationIdentifier"}, fn


# Lambda's application log levels, most detail first (Lambda API reference, LoggingConfig:
# "TRACE is the highest level and FATAL is the lowest").
LAMBDA_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


@pytest.mark.parametrize("function", ["CustomResourceFunction", "OrgEventsFunction"])
def test_the_metrics_lines_pass_lambdas_log_level_filter_at_every_log_level(template, function):
    """The alarms read metrics the functions print as log lines, and Lambda's log-level filter
    (ApplicationLogLevel) applies to those lines: it reads a line without a `level` field, such
    as the EMF line, at shared::metrics::LAMBDA_LEVEL (INFO). So for every LogLevel the
    template allows, Lambda's filter must pass that level (else ScheduledReconcileAlarm stays
    in ALARM and AccountsFailedAlarm sees nothing) and the level the function writes at (else
    LogLevel DEBUG would show nothing more); the function applies LogLevel itself (LOG_LEVEL).
    The functions' tests run the real binaries under this filter at every LogLevel."""
    metrics_level = rust_const(metrics_source(), "LAMBDA_LEVEL")
    assert metrics_level == "INFO"
    allowed = template["Parameters"]["LogLevel"]["AllowedValues"]
    assert allowed == ["ERROR", "WARN", "INFO", "DEBUG"]
    for log_level in allowed:
        ev = evaluator(template, LogLevel=log_level)
        p = props(template, function)
        lc = ev.eval(p["LoggingConfig"])
        assert lc["LogFormat"] == "JSON"
        app = lc["ApplicationLogLevel"]
        rank = LAMBDA_LEVELS.index
        assert rank(app) <= rank(metrics_level), (log_level, app)
        assert rank(app) <= rank(log_level), (log_level, app)
        assert ev.eval(p["Environment"]["Variables"])["LOG_LEVEL"] == log_level


def test_a_message_in_the_dead_letter_queue_raises_the_alarm(template):
    p = cfn.plain(props(template, "FailedInvocationsAlarm"))
    assert (p["Namespace"], p["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert p["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedInvocationsQueue", "QueueName"]}}
    ]
    assert (p["ComparisonOperator"], p["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert p["TreatMissingData"] == "notBreaching"


def test_organization_events_waiting_over_an_hour_in_the_queue_raise_the_alarm(template):
    """The events queue is not being consumed: the function fails on its batches (a failed
    batch comes back only after the 5,420 s visibility timeout) or does not run."""
    p = cfn.plain(props(template, "EventsQueueAgeAlarm"))
    assert (p["Namespace"], p["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert p["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["OrgEventsQueue", "QueueName"]}}
    ]
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == ("Maximum", "GreaterThanThreshold", 3600)
    assert (p["Period"], p["EvaluationPeriods"]) == (300, 1)
    # An empty queue reports no age.
    assert p["TreatMissingData"] == "notBreaching"
    # It fires before a failing batch is received again, and long before the dead-letter queue.
    queue = cfn.plain(props(template, "OrgEventsQueue"))
    assert p["Threshold"] < queue["VisibilityTimeout"]


@pytest.mark.parametrize("alarm", ALARMS)
def test_every_alarm_says_what_happened_and_what_to_do(template, alarm):
    ev = evaluator(template)
    desc = " ".join(ev.eval(props(template, alarm)["AlarmDescription"]).split())
    assert desc.startswith("Port integration aws-v3-multi: "), desc
    assert any(w in desc for w in ("Read ", "Run ", "run ", "see ")), desc
    assert len(desc) <= 1024, (alarm, len(desc))  # CloudWatch's limit


def test_accounts_failing_through_two_periods_of_one_interval_raise_the_alarm(template):
    p = cfn.plain(props(template, "AccountsFailedAlarm"))
    # Minimum > 0: every reconcile of the period still had a failed account.
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == (
        "Minimum", "GreaterThanThreshold", 0)
    window = {"Fn::GetAtt": ["PortAlarmWindow", "EvaluationPeriods"]}
    assert p["Period"] == {"Fn::GetAtt": ["PortAlarmWindow", "PeriodSeconds"]}
    assert p["EvaluationPeriods"] == window and p["DatapointsToAlarm"] == window


def test_no_scheduled_success_within_two_intervals_raises_the_alarm_even_without_any_line(template):
    p = cfn.plain(props(template, "ScheduledReconcileAlarm"))
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == ("Sum", "LessThanThreshold", 1)
    assert p["TreatMissingData"] == "breaching"
    window = {"Fn::GetAtt": ["PortAlarmWindow", "EvaluationPeriods"]}
    assert p["Period"] == {"Fn::GetAtt": ["PortAlarmWindow", "PeriodSeconds"]}
    assert p["EvaluationPeriods"] == window and p["DatapointsToAlarm"] == window


def test_the_alarm_window_is_computed_from_the_stacks_schedule(template):
    r = template["Resources"]["PortAlarmWindow"]
    assert r["Type"] == "Custom::PortAlarmWindow"
    p = cfn.plain(r["Properties"])
    assert p["ServiceToken"] == {"Fn::GetAtt": ["CustomResourceFunction", "Arn"]}
    assert p["ReconcileSchedule"] == {"Ref": "ReconcileSchedule"}
    handler = (cfn.ROOT / "functions" / "custom-resource" / "src" / "alarm_window.rs").read_text()
    assert 'pub const RESOURCE_TYPE: &str = "Custom::PortAlarmWindow";' in handler


def actions(template, ev, alarm):
    p = props(template, alarm)
    return [ev.eval(p[k]) for k in ("AlarmActions", "OKActions")]


@pytest.mark.parametrize("alarm", ALARMS)
def test_an_email_creates_a_topic_with_the_subscription_and_the_alarms_notify_it(template, alarm):
    ev = evaluator(template, NotificationEmail="platform@example.com")
    assert ev.condition("CreateNotificationTopic") and ev.condition("NotifyAlarms")
    assert actions(template, ev, alarm) == [["<Ref AlarmTopic>"], ["<Ref AlarmTopic>"]]
    sub = template["Resources"]["AlarmTopicEmail"]
    assert sub["Condition"] == "CreateNotificationTopic"
    assert template["Resources"]["AlarmTopic"]["Condition"] == "CreateNotificationTopic"
    assert (sub["Properties"]["Protocol"], ev.eval(sub["Properties"]["Endpoint"])) == (
        "email", "platform@example.com")


@pytest.mark.parametrize("alarm", ALARMS)
def test_an_existing_topic_is_notified_and_none_is_created(template, alarm):
    arn = "arn:aws:sns:us-east-1:123456789012:platform-alerts"
    ev = evaluator(template, NotificationTopicArn=arn)
    assert not ev.condition("CreateNotificationTopic") and ev.condition("NotifyAlarms")
    assert actions(template, ev, alarm) == [[arn], [arn]]


def test_without_email_or_topic_the_alarms_exist_and_notify_no_one(template):
    ev = evaluator(template)
    assert not ev.condition("NotifyAlarms") and not ev.condition("CreateNotificationTopic")
    for alarm in ALARMS:
        assert template["Resources"][alarm]["Type"] == "AWS::CloudWatch::Alarm"
        assert "Condition" not in template["Resources"][alarm]
        assert actions(template, ev, alarm) == ["<Ref AWS::NoValue>", "<Ref AWS::NoValue>"]


def test_email_and_topic_together_are_refused_before_anything_is_created(template):
    ev = evaluator(template, NotificationEmail="a@example.com",
                   NotificationTopicArn="arn:aws:sns:us-east-1:123456789012:t")
    assert ev.rules_failing() == ["OneNotificationTarget"]


@pytest.mark.parametrize(
    "name, value, ok",
    [
        ("NotificationEmail", "", True),
        ("NotificationEmail", "platform-team@example.com", True),
        ("NotificationEmail", "not an email", False),
        ("NotificationEmail", "a@b.com,c@d.com", False),
        ("NotificationTopicArn", "", True),
        ("NotificationTopicArn", "arn:aws:sns:us-east-1:123456789012:platform-alerts", True),
        ("NotificationTopicArn", "arn:aws:sqs:us-east-1:123456789012:queue", False),
        ("NotificationTopicArn", "platform-alerts", False),
    ],
)
def test_notification_parameters_refuse_what_is_not_an_address_or_a_topic(template, name, value, ok):
    pattern = template["Parameters"][name]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) is ok
    assert template["Parameters"][name]["Default"] == ""
