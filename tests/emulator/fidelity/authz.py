"""What IAM authorizes each request against, and how each service says no.

`request_for` turns one AWS request into an `iam.Request`: the action `service:Action`, the
resource ARNs the Service Authorization Reference lists for that action (its "Resource types"
column, ARN formats from each service's "Resource types defined by ..." table), and the
condition keys the request carries. An action that supports no resource type is authorized
against "*". `denied` writes the service's AccessDenied answer in its own protocol.

Where AWS's documents leave the ARN open, `config["iam_target_account"]` chooses, and the
tests run both: which account the `stackset-target` ARNs of a delegated administrator's call
carry ("management", the StackSet's owner, or "caller").
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from . import iam, orgs, query
from .stacksets import Engine

PARTITION = "aws"
JSON = "application/x-amz-json-1.1"

# Authorized also against each deployment target and each resource type of the template
# (Service Authorization Reference, AWS CloudFormation: resource types stackset-target, type).
STACKSET_ACTIONS_WITH_TARGETS = {"CreateStackInstances", "UpdateStackInstances", "DeleteStackInstances"}

# Always allowed: "No permissions are required to perform this operation" (STS API
# reference, GetCallerIdentity).
UNAUTHORIZED_ACTIONS = {("sts", "GetCallerIdentity")}

# Each JSON-protocol service's X-Amz-Target prefix (botocore's service models).
_TARGET_PREFIXES = ("AWSOrganizationsV20161128.", "AWSEvents.", "ServiceQuotasV20190624.",
                    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.", "AmazonSQS.")

_RESOURCE_TYPE = re.compile(r"""["']?Type["']?\s*:\s*["']?(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)""")


def action_name(action: str | None) -> str:
    action = action or ""
    for prefix in _TARGET_PREFIXES:
        if action.startswith(prefix):
            return action[len(prefix):]
    return action.rsplit(".", 1)[-1]


def request_for(service: str, action: str | None, params: dict[str, Any], region: str, caller: str,
                engine: Engine, config: dict[str, Any]) -> iam.Request | None:
    """The IAM request, or None when IAM authorizes nothing (GetCallerIdentity)."""
    name = action_name(action)
    if (service, name) in UNAUTHORIZED_ACTIONS:
        return None
    act = f"{service}:{name}"
    if service == "cloudformation":
        return iam.Request(act, _cloudformation(name, params, region, caller, engine, config))
    if service == "organizations":
        return iam.Request(act, _organizations(name, params, caller))
    if service == "events" and name == "PutEvents":
        return None  # authorized entry by entry: see `put_events_requests`
    if service == "servicequotas" and name == "GetServiceQuota":
        return iam.Request(act, [f"arn:{PARTITION}:servicequotas:{region}:{caller}:"
                                 f"{params.get('ServiceCode')}/{params.get('QuotaCode')}"])
    if service == "cloudtrail" and name in ("GetTrailStatus", "GetEventSelectors"):
        trail = str(params.get("Name") or params.get("TrailName") or "")
        arn = trail if trail.startswith("arn:") else f"arn:{PARTITION}:cloudtrail:{region}:{caller}:trail/{trail}"
        return iam.Request(act, [arn])
    if service == "iam" and name == "GetRole":
        return iam.Request(act, [f"arn:{PARTITION}:iam::{caller}:role/{params.get('RoleName')}"])
    if service == "iam" and name in ("GetPolicy", "GetPolicyVersion"):
        # Resource type `policy`, the policy's ARN (Service Authorization Reference, "Actions,
        # resources, and condition keys for AWS Identity and Access Management": GetPolicy,
        # GetPolicyVersion).
        return iam.Request(act, [str(params.get("PolicyArn"))])
    if service == "iam" and name == "GetOpenIDConnectProvider":
        return iam.Request(act, [str(params.get("OpenIDConnectProviderArn"))])
    if service == "sqs" and params.get("QueueUrl"):
        # Every SQS action on a queue is authorized against the queue's ARN (Service
        # Authorization Reference, Amazon SQS: resource type "queue",
        # arn:${Partition}:sqs:${Region}:${Account}:${QueueName}); the URL ends /<account>/<name>.
        account_id, queue = str(params["QueueUrl"]).rstrip("/").split("/")[-2:]
        return iam.Request(act, [f"arn:{PARTITION}:sqs:{region}:{account_id}:{queue}"])
    if service == "sts" and name == "AssumeRole":
        return iam.Request(act, [str(params.get("RoleArn"))])
    # ListOpenIDConnectProviders, DescribeTrails, ...: no resource type.
    return iam.Request(act, ["*"])


def put_events_requests(params: dict[str, Any], region: str, caller: str) -> list[iam.Request]:
    """PutEvents is authorized for each entry, against the entry's bus, with the entry's
    `events:source` and `events:detail-type` (EventBridge user guide, "Using IAM policy
    conditions in Amazon EventBridge")."""
    out = []
    for entry in params.get("Entries") or []:
        bus = str(entry.get("EventBusName") or "default")
        arn = bus if bus.startswith("arn:") else f"arn:{PARTITION}:events:{region}:{caller}:event-bus/{bus}"
        context = {"events:source": [str(entry.get("Source"))]}
        if entry.get("DetailType") is not None:
            context["events:detail-type"] = [str(entry.get("DetailType"))]
        out.append(iam.Request("events:PutEvents", [arn], context))
    return out


def _cloudformation(name: str, params: dict[str, Any], region: str, caller: str,
                    engine: Engine, config: dict[str, Any]) -> list[str]:
    if name == "DescribeStacks":
        return [_stack_arn(str(params.get("StackName") or ""), region, caller)]
    stack_set = params.get("StackSetName")
    if stack_set is None:
        return ["*"]  # DescribeOrganizationsAccess, ListStackSets, ...
    delegated = params.get("CallAs") == "DELEGATED_ADMIN"
    owner = caller
    if delegated:
        be = orgs.org_backend_for(caller)
        owner = be.org.master_account_id if be is not None else caller
    ss = engine.stack_sets.get((region, stack_set)) or next(
        (s for (r, _), s in engine.stack_sets.items() if r == region and s.stack_set_id == stack_set), None)
    # A StackSet that does not exist is authorized by its name (AWS then answers
    # StackSetNotFoundException to an allowed caller).
    sid = ss.stack_set_id if ss is not None else f"{stack_set}:"
    out = [f"arn:{PARTITION}:cloudformation:{region}:{owner}:stackset/{sid}"]
    if name in STACKSET_ACTIONS_WITH_TARGETS:
        target_owner = owner if config.get("iam_target_account", "management") == "management" else caller
        regions = _members(params, "Regions") or [region]
        targets = _members(params, "DeploymentTargets.OrganizationalUnitIds") + _members(params, "DeploymentTargets.Accounts") + _members(params, "Accounts")
        for r in regions:
            out += [f"arn:{PARTITION}:cloudformation:{r}:{target_owner}:stackset-target/{sid}/{t}" for t in targets]
            if name != "DeleteStackInstances" and ss is not None:
                out += [f"arn:{PARTITION}:cloudformation:{r}:{caller}:type/resource/{t.replace('::', '-')}"
                        for t in sorted(set(_RESOURCE_TYPE.findall(ss.template_body or "")))]
    return out


def _members(params: dict[str, Any], name: str) -> list[str]:
    """`name.member.N` values of a flat awsQuery request, in order."""
    pat = re.compile(re.escape(name) + r"\.member\.(\d+)$")
    found = sorted((int(m.group(1)), v) for k, v in params.items() if (m := pat.match(k)))
    return [v for _, v in found]


def _stack_arn(name: str, region: str, caller: str) -> str:
    if name.startswith("arn:"):
        return name
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[caller][region]
    stack = next((s for s in backend.stacks.values() if s.name == name), None)
    return stack.stack_id if stack is not None else f"arn:{PARTITION}:cloudformation:{region}:{caller}:stack/{name}/*"


def _organizations(name: str, params: dict[str, Any], caller: str) -> list[str]:
    be = orgs.org_backend_for(caller)
    if be is None:
        return ["*"]
    org_id, mgmt = be.org.id, be.org.master_account_id

    def arn(ident: str) -> str:
        if ident.startswith("r-"):
            return f"arn:{PARTITION}:organizations::{mgmt}:root/{org_id}/{ident}"
        if ident.startswith("ou-"):
            return f"arn:{PARTITION}:organizations::{mgmt}:ou/{org_id}/{ident}"
        return f"arn:{PARTITION}:organizations::{mgmt}:account/{org_id}/{ident}"

    ident = {
        "DescribeAccount": "AccountId",
        "ListAccountsForParent": "ParentId",
        "ListOrganizationalUnitsForParent": "ParentId",
        "ListChildren": "ParentId",
        "ListParents": "ChildId",
        "DescribeOrganizationalUnit": "OrganizationalUnitId",
        "ListTagsForResource": "ResourceId",
    }.get(name)
    if ident and params.get(ident):
        return [arn(str(params[ident]))]
    return ["*"]


def denied(service: str, message: str) -> tuple[int, str, str]:
    """(HTTP status, body, content type) of the service's AccessDenied error."""
    if service in ("cloudformation", "iam", "sts"):
        # awsQuery services: <Code>AccessDenied</Code>, HTTP 403.
        return 403, query.error_xml("AccessDenied", message, str(uuid.uuid4())), "text/xml"
    # JSON services: AccessDeniedException (each model's shape of that name).
    return 400, json.dumps({"__type": "AccessDeniedException", "Message": message}), JSON
