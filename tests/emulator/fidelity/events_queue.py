"""Organization events on their way to org-events: template.yaml's rules, its queue and the
queue's event source mapping settings, read from the template (never a hand-kept copy).

- `setup` creates OrgEventsQueue and its dead-letter queue in moto's SQS with the template's
  own attributes (VisibilityTimeout, MessageRetentionPeriod, RedrivePolicy) and answers the
  event source mapping's settings (BatchSize, MaximumBatchingWindowInSeconds,
  ScalingConfig.MaximumConcurrency, FunctionResponseTypes) for the poller that plays it
  (tests/src/esm.rs).
- `put` plays EventBridge: it applies every enabled rule of the template whose target is the
  queue to the event (fidelity/eventbridge.py), and sends the event, whole, as one message per
  matching rule's target, as EventBridge does for a target without input transformation
  (EventBridge user guide, "Amazon EventBridge targets": each matching rule delivers to each of
  its targets). An event no rule matches reaches nothing.
- `elapse` is the test bed's virtual clock: every message of the queue received and not
  deleted (in flight) becomes visible again, as it would once the visibility timeout (5,420 s
  here) has passed (SQS developer guide, "Amazon SQS visibility timeout"). Nothing else of the
  queue changes, so the receive count goes on (moto counts ApproximateReceiveCount) and moto's
  RedrivePolicy moves a message received `maxReceiveCount` times to the dead-letter queue on
  the next receive (SQS developer guide, "Using dead-letter queues in Amazon SQS": "When the
  ReceiveCount for a message exceeds the maxReceiveCount for a queue, Amazon SQS moves the
  message to a dead-letter queue").
"""

from __future__ import annotations

import json
import pathlib
import threading
from typing import Any

from moto.sqs.models import sqs_backends

from . import eventbridge, template_iam
from .template_iam import cfn

# Held by every SQS request (app.py) and by the functions below: see app.py on moto's SQS.
LOCK = threading.RLock()

QUEUE = "OrgEventsQueue"
MAPPING = "OrgEventsQueueMapping"
STACK_NAME = "port-aws-integration"


_CACHE: dict[tuple, Any] = {}


def _template(path: pathlib.Path | None = None) -> dict[str, Any]:
    path = path or cfn.TEMPLATE
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _CACHE:  # parsing takes a while; a burst puts hundreds of events
        _CACHE.clear()
        _CACHE[key] = cfn.plain(cfn.load(path))
    return _CACHE[key]


def _evaluator(template: dict, account: str, region: str) -> template_iam._Deployed:
    stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{STACK_NAME}/00000000-0000-4000-8000-000000000000"
    return template_iam._Deployed(template, {}, account, region, STACK_NAME, stack_id, {})


def queue_name(logical: str) -> str:
    """The name CloudFormation gives a queue without QueueName: `<stack>-<logical ID>-<suffix>`;
    the test bed leaves the suffix out (template_iam's ARNs do the same)."""
    return f"{STACK_NAME}-{logical}"


def _mapping(template: dict, queue_logical: str) -> tuple[str, dict[str, Any]]:
    for name, res in template["Resources"].items():
        if res["Type"] == "AWS::Lambda::EventSourceMapping" and \
                res["Properties"].get("EventSourceArn") == {"Fn::GetAtt": [queue_logical, "Arn"]}:
            return name, res["Properties"]
    raise ValueError(f"template.yaml has no AWS::Lambda::EventSourceMapping reading {queue_logical}")


def rules(template: dict, account: str, region: str, queue_logical: str = QUEUE) -> list[dict[str, Any]]:
    """The enabled rules of the default bus with a target that is the queue: name, pattern
    (checked: an operator the test bed does not implement is a PatternError naming it) and how
    many of its targets are the queue."""
    ev = _evaluator(template, account, region)
    arn = ev.eval({"Fn::GetAtt": [queue_logical, "Arn"]})
    out = []
    for name, res in template["Resources"].items():
        if res["Type"] != "AWS::Events::Rule":
            continue
        props = res["Properties"]
        if props.get("State", "ENABLED") != "ENABLED" or props.get("EventBusName", "default") != "default":
            continue
        if "EventPattern" not in props:
            continue  # a schedule
        targets = [t for t in props.get("Targets", []) if ev.eval(t["Arn"]) == arn]
        if not targets:
            continue
        for t in targets:
            if any(k in t for k in ("Input", "InputPath", "InputTransformer")):
                raise eventbridge.PatternError(f"{name}: target {t['Id']} transforms its input; the test "
                                               "bed sends the whole event only")
        pattern = ev.eval(props["EventPattern"])
        eventbridge.check(pattern, f"{name}.EventPattern")
        out.append({"rule": name, "pattern": pattern, "targets": len(targets)})
    return out


def settings(template_path: pathlib.Path | None = None, account: str = "123456789012",
             region: str = "us-east-1") -> dict[str, Any]:
    """The queue's, its dead-letter queue's and the mapping's settings, from the template."""
    key = ("settings", str(template_path), account, region)
    template = _template(template_path)
    if key in _CACHE:
        return json.loads(json.dumps(_CACHE[key]))
    out = _settings(template, account, region)
    _CACHE[key] = out
    return json.loads(json.dumps(out))


def _settings(template: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    res = template["Resources"]
    ev = _evaluator(template, account, region)
    props = res[QUEUE]["Properties"]
    redrive = props["RedrivePolicy"]
    dlq_arn = ev.eval(redrive["deadLetterTargetArn"])
    dlq_logical = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dlq_props = res[dlq_logical]["Properties"]
    mapping_name, mapping = _mapping(template, QUEUE)
    return {
        "queue": {
            "logical_id": QUEUE,
            "name": queue_name(QUEUE),
            "arn": ev.eval({"Fn::GetAtt": [QUEUE, "Arn"]}),
            "visibility_timeout": int(props["VisibilityTimeout"]),
            "message_retention_period": int(props["MessageRetentionPeriod"]),
            "max_receive_count": int(redrive["maxReceiveCount"]),
        },
        "dead_letter_queue": {
            "logical_id": dlq_logical,
            "name": queue_name(dlq_logical),
            "arn": dlq_arn,
            "message_retention_period": int(dlq_props["MessageRetentionPeriod"]),
        },
        "mapping": {
            "logical_id": mapping_name,
            "batch_size": int(mapping["BatchSize"]),
            "maximum_batching_window_seconds": int(mapping.get("MaximumBatchingWindowInSeconds", 0)),
            "maximum_concurrency": int((mapping.get("ScalingConfig") or {}).get("MaximumConcurrency", 1000)),
            "function_response_types": list(mapping.get("FunctionResponseTypes") or []),
        },
        "rules": rules(template, account, region),
    }


def setup(account: str, region: str) -> dict[str, Any]:
    """Creates both queues in moto (the dead-letter queue first: the redrive policy names it)
    and answers `settings` plus each queue's URL path."""
    with LOCK:
        return _setup(account, region)


def _setup(account: str, region: str) -> dict[str, Any]:
    s = settings(account=account, region=region)
    backend = sqs_backends[account][region]
    dlq = s["dead_letter_queue"]
    backend.create_queue(dlq["name"], MessageRetentionPeriod=str(dlq["message_retention_period"]))
    q = s["queue"]
    backend.create_queue(
        q["name"],
        VisibilityTimeout=str(q["visibility_timeout"]),
        MessageRetentionPeriod=str(q["message_retention_period"]),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq["arn"], "maxReceiveCount": q["max_receive_count"]}),
    )
    # moto's own check: the redrive policy found the dead-letter queue.
    assert backend.get_queue(q["name"]).dead_letter_queue is backend.get_queue(dlq["name"])
    q["url_path"] = f"/{account}/{q['name']}"
    dlq["url_path"] = f"/{account}/{dlq['name']}"
    return s


def put(event: Any, account: str, region: str) -> dict[str, Any]:
    """EventBridge's delivery of one event put on the default bus to the queue."""
    if not isinstance(event, dict):
        raise ValueError(f"an EventBridge event is a JSON object, got {event!r}")
    s = settings(account=account, region=region)
    backend = sqs_backends[account][region]
    name = s["queue"]["name"]
    if name not in backend.queues:
        raise ValueError(f"queue {name} does not exist: POST /_fidelity/events/queue first")
    matched, message_ids = [], []
    body = json.dumps(event)
    for r in s["rules"]:
        if eventbridge.matches(r["pattern"], event):
            matched.append(r["rule"])
            for _ in range(r["targets"]):
                with LOCK:
                    message_ids.append(backend.send_message(name, body).id)
    return {"matched": matched, "message_ids": message_ids}


def elapse(account: str, region: str) -> dict[str, Any]:
    """One visibility timeout passes: the queue's in-flight messages become visible again."""
    s = settings(account=account, region=region)
    n = 0
    with LOCK:
        queue = sqs_backends[account][region].get_queue(s["queue"]["name"])
        for m in list(queue._messages):
            if not m.visible:
                m.change_visibility(0)
                m.visible_at -= 1  # `visible` is "now > visible_at"
                n += 1
    return {"visible_again": n}
