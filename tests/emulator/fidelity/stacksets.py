"""CloudFormation StackSets as AWS documents them (the part moto gets wrong).

One engine per server; single tenant: stack sets live in the management account of the moto
organization, in the region of the request's SigV4 scope. All state is guarded by one lock;
operations finish lazily (``tick()``) once ``operation_seconds`` have passed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import orgs
from .query import QueryError

ACCOUNT_RE = re.compile(r"^\d{12}$")
OU_RE = re.compile(r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
SUSPENDED_REASON = "Account is suspended; skipped"
# AWS API reference, Create/Update/DeleteStackInstances: "The maximum number of
# organizational unit (OUs) supported by a ... operation is 50."
MAX_OUS = 50
MUTATING = {
    "CreateStackInstances",
    "UpdateStackInstances",
    "DeleteStackInstances",
    "UpdateStackSet",
    "DetectStackSetDrift",
    "DeleteStackSet",
}
ACTIVE_OP = ("RUNNING", "QUEUED", "STOPPING")
# Port's default OIDC issuer (the member template's OIDCProviderUrl default).
PORT_OIDC_URL = "https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4"
# The StackSets actions without a CallAs parameter (API reference): trusted access is the
# management account's alone.
NO_CALL_AS = {"ActivateOrganizationsAccess", "DeactivateOrganizationsAccess"}


def err(code: str, message: str) -> QueryError:
    return QueryError(code, message)


def now() -> float:
    return time.time()


@dataclass
class Instance:
    account: str
    region: str
    stack_set_id: str
    stack_id: str | None = None
    status: str = "OUTDATED"
    detailed_status: str = "PENDING"
    status_reason: str | None = None
    ou_id: str | None = None
    drift_status: str = "NOT_CHECKED"
    last_drift_check: float | None = None
    last_operation_id: str | None = None
    parameter_overrides: list[dict] = field(default_factory=list)
    out_of_band_drift: bool = False

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "StackSetId": self.stack_set_id,
            "Region": self.region,
            "Account": self.account,
            "StackId": self.stack_id,
            "Status": self.status,
            "StatusReason": self.status_reason,
            "StackInstanceStatus": {"DetailedStatus": self.detailed_status},
            "OrganizationalUnitId": self.ou_id,
            "DriftStatus": self.drift_status,
            "LastDriftCheckTimestamp": self.last_drift_check,
            "LastOperationId": self.last_operation_id,
        }
        return out

    def describe(self) -> dict[str, Any]:
        out = self.summary()
        out["ParameterOverrides"] = self.parameter_overrides
        return out


@dataclass
class Target:
    """One (account, region) an operation acts on, with its planned outcome."""

    account: str
    region: str
    ou_id: str | None
    outcome: str  # SUCCEEDED | FAILED | SKIPPED
    reason: str | None = None
    # (issuer URL, CreateOIDCProvider in effect) for the member stack of a CREATE/UPDATE.
    oidc: tuple[str, bool] | None = None
    result_status: str = "RUNNING"
    result_reason: str | None = None


@dataclass
class Operation:
    operation_id: str
    stack_set_name: str
    stack_set_id: str
    action: str  # CREATE | UPDATE | DELETE | DETECT_DRIFT
    preferences: dict[str, Any]
    deployment_targets: dict[str, Any] | None
    retain_stacks: bool | None
    created: float
    finish_at: float
    targets: list[Target]
    status: str = "RUNNING"
    ended: float | None = None
    status_reason: str | None = None
    admin_role: str | None = None
    exec_role: str | None = None
    drift_details: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "OperationId": self.operation_id,
            "Action": self.action,
            "Status": self.status,
            "CreationTimestamp": self.created,
            "EndTimestamp": self.ended,
            "StatusReason": self.status_reason,
            "OperationPreferences": self.preferences or None,
        }

    def describe(self) -> dict[str, Any]:
        out = {
            "OperationId": self.operation_id,
            "StackSetId": self.stack_set_id,
            "Action": self.action,
            "Status": self.status,
            "OperationPreferences": self.preferences,
            "RetainStacks": self.retain_stacks,
            "AdministrationRoleARN": self.admin_role,
            "ExecutionRoleName": self.exec_role,
            "CreationTimestamp": self.created,
            "EndTimestamp": self.ended,
            "DeploymentTargets": self.deployment_targets,
            "StatusReason": self.status_reason,
        }
        if self.drift_details is not None:
            out["StackSetDriftDetectionDetails"] = self.drift_details
        return out


@dataclass
class StackSet:
    name: str
    stack_set_id: str
    arn: str
    account: str
    region: str
    description: str | None
    template_body: str | None
    template_url: str | None
    parameters: list[dict]
    capabilities: list[str]
    tags: list[dict]
    permission_model: str
    auto_deployment: dict[str, Any] | None
    managed_execution: dict[str, Any] | None
    admin_role: str | None
    exec_role: str | None
    status: str = "ACTIVE"
    instances: dict[tuple[str, str], Instance] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)
    ou_ids: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    drift: dict[str, Any] = field(
        default_factory=lambda: {
            "DriftStatus": "NOT_CHECKED",
            "TotalStackInstancesCount": 0,
            "DriftedStackInstancesCount": 0,
            "InSyncStackInstancesCount": 0,
            "InProgressStackInstancesCount": 0,
            "FailedStackInstancesCount": 0,
        }
    )

    def running(self) -> Operation | None:
        return next((o for o in self.operations if o.status in ACTIVE_OP), None)

    def describe(self) -> dict[str, Any]:
        return {
            "StackSetName": self.name,
            "StackSetId": self.stack_set_id,
            "Description": self.description,
            "Status": self.status,
            "TemplateBody": self.template_body,
            "Parameters": self.parameters,
            "Capabilities": self.capabilities,
            "Tags": self.tags,
            "StackSetARN": self.arn,
            "AdministrationRoleARN": self.admin_role,
            "ExecutionRoleName": self.exec_role,
            "StackSetDriftDetectionDetails": self.drift,
            "AutoDeployment": self.auto_deployment,
            "PermissionModel": self.permission_model,
            "OrganizationalUnitIds": self.ou_ids if self.permission_model == "SERVICE_MANAGED" else None,
            "ManagedExecution": self.managed_execution or {"Active": False},
            "Regions": self.regions,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "StackSetName": self.name,
            "StackSetId": self.stack_set_id,
            "Description": self.description,
            "Status": self.status,
            "AutoDeployment": self.auto_deployment,
            "PermissionModel": self.permission_model,
            "DriftStatus": self.drift.get("DriftStatus"),
            "LastDriftCheckTimestamp": self.drift.get("LastDriftCheckTimestamp"),
            "ManagedExecution": self.managed_execution or {"Active": False},
        }


class Failures:
    """Per-account failures of StackSet operations (CREATE/UPDATE/DELETE; a DELETE with
    RetainStacks never touches the account): the one rule behind both `fail-account` (a given
    StatusReason) and `quarantine` (AWS's words for a service control policy that denies the
    StackSets execution role, see `scp_denied_reason`). An entry lasts for its next `times`
    operations that touch the account (None = any number), until the epoch time `until`
    (None = no end), or until it is cleared or lifted, whichever comes first."""

    def __init__(self) -> None:
        self.by_account: dict[str, dict[str, Any]] = {}

    def set(self, account: str, reason: str | None, times: int | None,
            until: float | None = None, scp: bool = False) -> None:
        self.by_account[account] = {"reason": reason, "times": times, "until": until, "scp": scp}

    def clear(self) -> None:
        self.by_account.clear()

    def lift(self, account: str) -> bool:
        """Ends the account's quarantine (not a `fail-account` failure); True if there was one."""
        f = self.by_account.get(account)
        if f is None or not f["scp"]:
            return False
        del self.by_account[account]
        return True

    def peek(self, account: str) -> dict[str, Any] | None:
        f = self.by_account.get(account)
        if f is not None and f["until"] is not None and now() >= f["until"]:
            del self.by_account[account]
            return None
        return f

    def consume(self, accounts: set[str]) -> None:
        for a in accounts:
            f = self.by_account.get(a)
            if f and f["times"] is not None:
                f["times"] -= 1
                if f["times"] <= 0:
                    self.by_account.pop(a, None)

    def dump(self) -> dict[str, dict[str, Any]]:
        for a in list(self.by_account):
            self.peek(a)
        return {a: dict(f) for a, f in self.by_account.items()}


def scp_denied_reason(ss: "StackSet", account: str, region: str, action: str) -> str:
    """The StatusReason of a stack instance whose account is under a service control policy
    that denies the StackSets execution role (a landing zone's quarantine of a new account:
    landing-zone-accelerator-on-aws #850, whose quarantine SCP denies every action to roles
    not named like `aws*` or the accelerator's own; aws-secure-environment-accelerator #1186).
    StackSets act in a member account through its execution role: `stacksets-exec-<id>` for a
    service-managed StackSet (CloudFormation User Guide, "Configure a custom execution role
    template for StackSets": "StackSets with service-managed permissions creates an execution
    role named stacksets-exec-* in each target account"), the StackSet's ExecutionRoleName
    (default AWSCloudFormationStackSetExecutionRole) for a self-managed one (User Guide, "Grant
    self-managed permissions"). SCPs never apply to the management account, so the role is
    assumed; its first call in the account, the member stack's own, is refused in IAM's words
    for an explicit deny in an SCP (IAM User Guide, "Troubleshoot access denied error
    messages": "User: <principal> is not authorized to perform: <action> on resource:
    <resource> with an explicit deny in a service control policy"), as #1186 quotes it for a
    stacksets-exec role."""
    role = ss.exec_role or "stacksets-exec-" + hashlib.md5(ss.account.encode()).hexdigest()
    verb = {"CREATE": "CreateStack", "UPDATE": "UpdateStack", "DELETE": "DeleteStack"}[action]
    return (
        f"User: arn:aws:sts::{account}:assumed-role/{role}/{uuid.uuid4().hex[:16]} is not "
        f"authorized to perform: cloudformation:{verb} on resource: "
        f"arn:aws:cloudformation:{region}:{account}:stack/StackSet-{ss.name}-{uuid.uuid4()}/* "
        "with an "
        "explicit deny in a service control policy"
    )


def _page(items: list, params: dict[str, Any], key: str, default_size: int) -> tuple[list, str | None]:
    size = params.get("MaxResults") or default_size
    if size < 1 or size > 100:
        raise err("ValidationError", "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100")
    start = 0
    tok = params.get("NextToken")
    if tok:
        try:
            data = json.loads(base64.urlsafe_b64decode(tok.encode()))
            assert data["k"] == key
            start = int(data["o"])
        except Exception:
            raise err("ValidationError", "Invalid NextToken")
    page = items[start : start + size]
    nxt = None
    if start + size < len(items):
        nxt = base64.urlsafe_b64encode(json.dumps({"k": key, "o": start + size}).encode()).decode()
    return page, nxt


class Engine:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.lock = threading.RLock()
        self.stack_sets: dict[tuple[str, str], StackSet] = {}  # (region, name) -> active
        self.deleted: list[StackSet] = []
        self.operation_ids: set[str] = set()
        self.failures = Failures()
        # IAM OIDC providers in member accounts: account -> {issuer (host/path): the StackSet
        # whose stack created it, or None when it was there before (see add_oidc_provider)}.
        self.oidc: dict[str, dict[str, str | None]] = {}
        # The account the current call acts on (`_acting`), while `handle` runs.
        self._owner: str | None = None
        # ListStackSetOperations listings answered in "shuffled" order (seeds each one's order).
        self.listings = 0

    def reset(self) -> None:
        with self.lock:
            self.stack_sets.clear()
            self.deleted.clear()
            self.operation_ids.clear()
            self.failures.clear()
            self.oidc.clear()
            self.listings = 0

    # ------------------------------------------------------------------ lifecycle

    def tick(self) -> None:
        with self.lock:
            t = now()
            for ss in list(self.stack_sets.values()) + self.deleted:
                for op in ss.operations:
                    if op.status == "RUNNING" and op.finish_at <= t:
                        self._finish(ss, op)

    def _finish(self, ss: StackSet, op: Operation) -> None:
        if op.action == "DETECT_DRIFT":
            self._finish_drift(ss, op)
            return
        failures = 0
        for tg in op.targets:
            inst = ss.instances.get((tg.account, tg.region))
            if tg.outcome == "FAILED":
                failures += 1
                tg.result_status, tg.result_reason = "FAILED", tg.reason
                if inst is not None and op.action == "DELETE":
                    # AWS, StackInstanceSummary.Status: "INOPERABLE: A DeleteStackInstances
                    # operation has failed and left the stack in an unstable state."
                    inst.status = "INOPERABLE"
                    inst.detailed_status = "INOPERABLE"
                    inst.status_reason = tg.reason
                elif inst is not None:
                    inst.status = "OUTDATED"
                    inst.detailed_status = "FAILED"
                    inst.status_reason = tg.reason
            elif tg.outcome == "SKIPPED":
                tg.result_status, tg.result_reason = "SUCCEEDED", SUSPENDED_REASON
                if inst is not None:
                    inst.status = "OUTDATED"
                    inst.detailed_status = "SKIPPED_SUSPENDED_ACCOUNT"
                    inst.status_reason = SUSPENDED_REASON
            else:
                tg.result_status, tg.result_reason = "SUCCEEDED", None
                self._provider_after(ss, op, tg)
                if op.action == "DELETE":
                    ss.instances.pop((tg.account, tg.region), None)
                elif inst is not None:
                    inst.status = "CURRENT"
                    inst.detailed_status = "SUCCEEDED"
                    inst.status_reason = None
                    if inst.stack_id is None:
                        inst.stack_id = _stack_id(ss, tg.account, tg.region)
                    inst.out_of_band_drift = False
        tolerance = _tolerance(op.preferences, op.targets)
        op.status = "FAILED" if failures > tolerance else "SUCCEEDED"
        if op.status == "FAILED":
            op.status_reason = (
                f"{failures} of {len(op.targets)} stack instance operations failed, "
                f"exceeding the failure tolerance of {tolerance}"
            )
        op.ended = now()

    # ------------------------------------------------------------------ OIDC providers

    def _provider_after(self, ss: StackSet, op: Operation, tg: Target) -> None:
        """A member stack's IAM OIDC provider after its operation succeeded. The template's
        AWS::IAM::OIDCProvider exists exactly while CreateOIDCProvider is "true": a stack that
        created it deletes it when the condition turns false or the stack is deleted; a
        provider the stack did not create is never touched (CloudFormation deletes only the
        resources a stack manages). RetainStacks leaves the account as it is."""
        held = self.oidc.get(tg.account, {})
        if op.action == "DELETE":
            if not op.retain_stacks:
                for url in [u for u, owner in held.items() if owner == ss.stack_set_id]:
                    del held[url]
            return
        if tg.oidc is None:
            return
        url, create = tg.oidc
        if create and url not in held:
            self.oidc.setdefault(tg.account, {})[url] = ss.stack_set_id
        elif not create and held.get(url) == ss.stack_set_id:
            del held[url]

    def _oidc_failure(self, ss: StackSet, account: str, oidc: tuple[str, bool] | None) -> str | None:
        """IAM allows one OIDC provider per URL in an account: CreateOpenIDConnectProvider
        answers EntityAlreadyExists (409) "Provider with url <url> already exists." (IAM API
        reference, CreateOpenIDConnectProvider, Errors). The member stack's
        AWS::IAM::OIDCProvider then fails and StackSets give its StatusReason in the form
        "ResourceLogicalId:<id>, ResourceType:<type>, ResourceStatusReason:Resource handler
        returned message: \"... (Service: Iam, Status Code: 409, Request ID: ...)\"
        (RequestToken: ..., HandlerErrorCode: AlreadyExists)." (as ListStackInstances shows
        it for a member stack's IAM resource that already exists)."""
        if oidc is None:
            return None
        url, create = oidc
        owner = self.oidc.get(account, {}).get(url, ss.stack_set_id)
        if not create or owner == ss.stack_set_id:
            return None
        return (
            "ResourceLogicalId:PortOIDCProvider, ResourceType:AWS::IAM::OIDCProvider, "
            "ResourceStatusReason:Resource handler returned message: \"Provider with url "
            f"https://{url} already exists. (Service: Iam, Status Code: 409, Request ID: "
            f"{uuid.uuid4()}) (SDK Attempt Count: 1)\" (RequestToken: {uuid.uuid4()}, "
            "HandlerErrorCode: AlreadyExists)."
        )

    def add_oidc_provider(self, account: str, url: str) -> None:
        with self.lock:
            self.oidc.setdefault(account, {})[_issuer(url)] = None

    def dump_oidc_providers(self) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            return [
                {"account_id": a, "url": f"https://{u}", "created_by_stack_set": owner}
                for a, held in sorted(self.oidc.items())
                for u, owner in sorted(held.items())
            ]

    def _finish_drift(self, ss: StackSet, op: Operation) -> None:
        t = now()
        drifted = in_sync = 0
        for tg in op.targets:
            inst = ss.instances.get((tg.account, tg.region))
            if inst is None:
                tg.result_status, tg.result_reason = "CANCELLED", "Stack instance no longer exists"
                continue
            inst.drift_status = "DRIFTED" if inst.out_of_band_drift else "IN_SYNC"
            inst.last_drift_check = t
            if inst.drift_status == "DRIFTED":
                drifted += 1
            else:
                in_sync += 1
            tg.result_status, tg.result_reason = "SUCCEEDED", None
        ss.drift = {
            "DriftStatus": "DRIFTED" if drifted else "IN_SYNC",
            "DriftDetectionStatus": "COMPLETED",
            "LastDriftCheckTimestamp": t,
            "TotalStackInstancesCount": drifted + in_sync,
            "DriftedStackInstancesCount": drifted,
            "InSyncStackInstancesCount": in_sync,
            "InProgressStackInstancesCount": 0,
            "FailedStackInstancesCount": 0,
        }
        op.drift_details = dict(ss.drift)
        op.status = "SUCCEEDED"
        op.ended = t

    # ------------------------------------------------------------------ helpers

    def _get(self, region: str, name: str) -> StackSet:
        ss = self._get_any_owner(region, name)
        if self._owner is not None and ss.account != self._owner:
            # Another account's StackSet (the management account's, asked with CallAs SELF
            # from a member): AWS does not find it.
            raise err("StackSetNotFoundException", f"StackSet {name} not found")
        return ss

    def _get_any_owner(self, region: str, name: str) -> StackSet:
        ss = self.stack_sets.get((region, name))
        if ss is None:
            # Also accept a StackSetId (name:uuid)
            ss = next(
                (s for (r, _), s in self.stack_sets.items() if r == region and s.stack_set_id == name),
                None,
            )
        if ss is None:
            raise err("StackSetNotFoundException", f"StackSet {name} not found")
        return ss

    def _new_operation_id(self, ss: StackSet, requested: str | None) -> str:
        if requested:
            if requested in self.operation_ids:
                raise err(
                    "OperationIdAlreadyExistsException",
                    f"The operation ID {requested} already exists.",
                )
            return requested
        return str(uuid.uuid4())

    def _check_idle(self, ss: StackSet) -> None:
        op = ss.running()
        if op is not None:
            raise err(
                "OperationInProgressException",
                f"Another Operation on StackSet {ss.stack_set_id} is in progress",
            )

    def _org(self, account: str):
        return orgs.org_backend_for(account)

    def _require_trusted_access(self, account: str) -> None:
        if not orgs.trusted_access_enabled(self._org(account)):
            raise err(
                "ValidationError",
                "You must enable organizations access to operate a service managed stack set",
            )

    def _start(self, ss: StackSet, action: str, params: dict[str, Any], targets: list[Target],
               op_id: str, deployment_targets: dict | None, retain: bool | None = None) -> Operation:
        t = now()
        prefs = _prefs(params.get("OperationPreferences"))
        op = Operation(
            operation_id=op_id,
            stack_set_name=ss.name,
            stack_set_id=ss.stack_set_id,
            action=action,
            preferences=prefs,
            deployment_targets=deployment_targets,
            retain_stacks=retain,
            created=t,
            finish_at=t + float(self.config.get("operation_seconds", 0.5)),
            targets=targets,
            admin_role=ss.admin_role,
            exec_role=ss.exec_role,
        )
        self.operation_ids.add(op_id)
        ss.operations.append(op)
        if action != "DETECT_DRIFT":
            self.failures.consume({tg.account for tg in targets if tg.outcome == "FAILED"})
        return op

    def _outcome(self, tree: orgs.Tree | None, account: str, action: str,
                 retain: bool = False, ss: StackSet | None = None,
                 oidc: tuple[str, bool] | None = None, region: str = "") -> tuple[str, str | None]:
        if action == "DELETE" and retain:
            # RetainStacks: the instance leaves the StackSet; the account is not touched
            # (Knowledge Center "cloudformation-removal-stacksets").
            return "SUCCEEDED", None
        in_org = tree is not None and account in tree.accounts
        state = tree.account_state(account) if in_org else None
        if tree is not None and not in_org:
            return "FAILED", (
                f"Account {account} is not a member of the organization: StackSets cannot "
                "reach it. Delete the stack instance with RetainStacks set to true."
            )
        if state is not None and state != "ACTIVE":
            if action == "DELETE":
                return "FAILED", (
                    f"Account {account} is {state}: StackSets cannot reach it to delete the "
                    "stack. Delete the stack instance with RetainStacks set to true."
                )
            return "SKIPPED", None
        failure = self.failures.peek(account)
        if failure is not None and failure["scp"] and ss is not None:
            return "FAILED", scp_denied_reason(ss, account, region, action)
        if failure is not None:
            return "FAILED", failure["reason"] or "Injected failure"
        if ss is not None and action in ("CREATE", "UPDATE"):
            reason = self._oidc_failure(ss, account, oidc)
            if reason is not None:
                return "FAILED", reason
        return "SUCCEEDED", None

    # ------------------------------------------------------------------ targets

    def _resolve_service_managed(self, tree: orgs.Tree, dt: dict[str, Any] | None, action: str) -> list[tuple[str, str | None]]:
        """(account, ou_id) pairs for DeploymentTargets of a service-managed stack set."""
        dt = dt or {}
        ou_ids = dt.get("OrganizationalUnitIds") or []
        accounts = dt.get("Accounts") or []
        ftype = dt.get("AccountFilterType") or "NONE"
        _validate_filter(ou_ids, accounts, ftype, dt, service_managed=True)
        for ou in ou_ids:
            if not tree.exists(ou):
                raise err("ValidationError", f"OrganizationalUnitIds [{ou}] not found in the organization")
        listed = set(ou_ids)
        chosen: dict[str, str | None] = {}
        for ou in ou_ids:
            for acct in tree.accounts_under(ou):
                if acct not in chosen:
                    chosen[acct] = _most_specific(tree, acct, listed)
        result = _apply_filter(list(chosen), accounts, ftype)
        mgmt = tree.management_account_id
        return [(a, chosen[a]) for a in result if a != mgmt]

    def _resolve_self_managed(self, params: dict[str, Any]) -> list[tuple[str, str | None]]:
        accounts = list(params.get("Accounts") or [])
        dt = params.get("DeploymentTargets") or {}
        if dt.get("OrganizationalUnitIds"):
            raise err("ValidationError", "OrganizationalUnitIds are only supported for SERVICE_MANAGED stack sets")
        accounts += dt.get("Accounts") or []
        if not accounts:
            raise err("ValidationError", "Accounts must be specified for a SELF_MANAGED stack set")
        for a in accounts:
            if not ACCOUNT_RE.match(a):
                raise err("ValidationError", f"Account {a} is not a valid 12-digit account ID")
        seen: dict[str, None] = {}
        for a in accounts:
            seen.setdefault(a, None)
        return [(a, None) for a in seen]

    def _check_targets_shape(self, ss: StackSet, params: dict[str, Any], action: str) -> None:
        if ss.permission_model == "SERVICE_MANAGED":
            ous = (params.get("DeploymentTargets") or {}).get("OrganizationalUnitIds") or []
            if len(ous) > MAX_OUS:
                raise err(
                    "ValidationError",
                    f"The maximum number of organizational unit (OUs) supported by a {action} "
                    f"operation is {MAX_OUS}; {len(ous)} were given.",
                )
            if params.get("Accounts"):
                raise err(
                    "ValidationError",
                    "Accounts is not supported for a SERVICE_MANAGED stack set; use DeploymentTargets",
                )
            dt = params.get("DeploymentTargets") or {}
            if not dt.get("OrganizationalUnitIds"):
                raise err(
                    "ValidationError",
                    "DeploymentTargets.OrganizationalUnitIds must be specified for a SERVICE_MANAGED stack set",
                )

    def _regions(self, params: dict[str, Any], required: bool = True) -> list[str]:
        regions = params.get("Regions") or []
        if required and not regions:
            raise err("ValidationError", "Regions must be specified")
        for r in regions:
            if not REGION_RE.match(r):
                raise err("ValidationError", f"Region {r} is not a valid region")
        out: dict[str, None] = {}
        for r in regions:
            out.setdefault(r, None)
        return list(out)

    # ------------------------------------------------------------------ actions

    def handle(self, action: str, params: dict[str, Any], account: str, region: str) -> dict[str, Any] | None:
        with self.lock:
            self.tick()
            fn = getattr(self, "op_" + action)
            if action in NO_CALL_AS:
                return fn(params, account, region)
            acting = self._acting(params, account)
            self._owner = acting
            try:
                return fn(params, acting, region)
            finally:
                self._owner = None

    def _acting(self, params: dict[str, Any], account: str) -> str:
        """The account whose StackSets the call acts on.

        `CallAs` (API reference, e.g. CreateStackInstances): "SELF: if you are signed in to
        the management account" (default); "DELEGATED_ADMIN: if you are signed in to a
        delegated administrator account", registered for
        member.org.stacksets.cloudformation.amazonaws.com; the StackSet then is the
        management account's (its ARN carries the management account's ID,
        terraform-provider-aws #29338). An unregistered caller sending DELEGATED_ADMIN gets
        ValidationError "Account used is not a delegated administrator"
        (terraform-provider-aws PR #37069, cdklabs/cdk-stacksets #265). The management account
        cannot be registered (Organizations: "You cannot register master account/yourself"),
        so it gets the same error. With SELF (or CallAs left out) a member account acts on its
        own StackSets: the management account's are "StackSet X not found"
        (StackSetNotFoundException, aws-cloudformation/rain #585, terraform-provider-aws
        #24520)."""
        call_as = params.get("CallAs") or "SELF"
        if call_as not in ("SELF", "DELEGATED_ADMIN"):
            raise err("ValidationError", f"1 validation error detected: Value '{call_as}' at 'callAs' failed to satisfy constraint: Member must satisfy enum value set: [SELF, DELEGATED_ADMIN]")
        if call_as == "SELF":
            return account
        be = self._org(account)
        if be is None or not orgs.is_stacksets_delegated_admin(be, account):
            raise err("ValidationError", "Account used is not a delegated administrator")
        return be.org.master_account_id

    def op_ActivateOrganizationsAccess(self, params, account, region):
        be = self._org(account)
        if be is None:
            raise err("InvalidOperationException", "The account is not a member of an organization")
        if be.org.master_account_id != account:
            raise err("InvalidOperationException", "Only the management account can activate organizations access")
        orgs.enable_trusted_access(be)
        return {}

    def op_DeactivateOrganizationsAccess(self, params, account, region):
        be = self._org(account)
        if be is None:
            raise err("InvalidOperationException", "The account is not a member of an organization")
        be.disable_aws_service_access(ServicePrincipal=orgs.STACKSETS_PRINCIPAL)
        return {}

    def op_DescribeOrganizationsAccess(self, params, account, region):
        be = self._org(account)
        return {"Status": "ENABLED" if orgs.trusted_access_enabled(be) else "DISABLED"}

    def op_CreateStackSet(self, params, account, region):
        name = params.get("StackSetName")
        if not name or not re.match(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$", name):
            raise err("ValidationError", f"StackSetName {name!r} must start with a letter and contain only alphanumeric characters and hyphens")
        if (region, name) in self.stack_sets:
            raise err("NameAlreadyExistsException", f"StackSet {name} already exists")
        if not params.get("TemplateBody") and not params.get("TemplateURL"):
            raise err("ValidationError", "Either TemplateBody or TemplateURL must be specified")
        model = params.get("PermissionModel") or "SELF_MANAGED"
        if model == "SERVICE_MANAGED":
            be = self._org(account)
            if be is None or be.org.master_account_id != account:
                # A member account calling as SELF (coverage-roadmap #799,
                # terraform-provider-aws #22867, #32536).
                raise err(
                    "ValidationError",
                    "You must be the management account or delegated admin account of an "
                    "organization before operating a SERVICE_MANAGED stack set",
                )
            self._require_trusted_access(account)
        auto = params.get("AutoDeployment")
        if model == "SERVICE_MANAGED":
            auto = {"Enabled": False, **(auto or {})}
            if auto.get("Enabled") and "RetainStacksOnAccountRemoval" not in auto:
                raise err("ValidationError", "RetainStacksOnAccountRemoval must be specified when AutoDeployment is enabled")
        elif auto:
            raise err("ValidationError", "AutoDeployment is only supported for SERVICE_MANAGED stack sets")
        sid = f"{name}:{uuid.uuid4()}"
        ss = StackSet(
            name=name,
            stack_set_id=sid,
            arn=f"arn:aws:cloudformation:{region}:{account}:stackset/{sid}",
            account=account,
            region=region,
            description=params.get("Description"),
            template_body=params.get("TemplateBody"),
            template_url=params.get("TemplateURL"),
            parameters=params.get("Parameters") or [],
            capabilities=params.get("Capabilities") or [],
            tags=params.get("Tags") or [],
            permission_model=model,
            auto_deployment=auto,
            managed_execution=params.get("ManagedExecution"),
            admin_role=params.get("AdministrationRoleARN")
            or (None if model == "SERVICE_MANAGED" else f"arn:aws:iam::{account}:role/AWSCloudFormationStackSetAdministrationRole"),
            exec_role=params.get("ExecutionRoleName")
            or (None if model == "SERVICE_MANAGED" else "AWSCloudFormationStackSetExecutionRole"),
        )
        self.stack_sets[(region, name)] = ss
        return {"StackSetId": sid}

    def op_DescribeStackSet(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        return {"StackSet": ss.describe()}

    def op_ListStackSets(self, params, account, region):
        status = params.get("Status")
        items = [s for (r, _), s in self.stack_sets.items() if r == region and s.account == account] + [
            s for s in self.deleted if s.region == region and s.account == account
        ]
        if status:
            items = [s for s in items if s.status == status]
        page, nxt = _page(items, params, "ListStackSets", 100)
        return {"Summaries": [s.summary() for s in page], "NextToken": nxt}

    def op_DeleteStackSet(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        self._check_idle(ss)
        if ss.instances:
            raise err(
                "StackSetNotEmptyException",
                f"StackSet {ss.name} is not empty: it still has {len(ss.instances)} stack instance(s)",
            )
        ss.status = "DELETED"
        del self.stack_sets[(region, ss.name)]
        self.deleted.append(ss)
        return {}

    def op_UpdateStackSet(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        op_id = self._new_operation_id(ss, params.get("OperationId"))
        self._check_idle(ss)
        if params.get("PermissionModel") and params["PermissionModel"] != ss.permission_model:
            raise err("ValidationError", "Changing the PermissionModel of a stack set is not supported here")
        dt = params.get("DeploymentTargets")
        regions = self._regions(params, required=False)
        if ss.permission_model == "SERVICE_MANAGED" and params.get("Accounts"):
            raise err("ValidationError", "Accounts is not supported for a SERVICE_MANAGED stack set; use DeploymentTargets")
        # Choose instances before changing anything (validation errors leave the set untouched).
        if dt or params.get("Accounts"):
            if not regions:
                raise err("ValidationError", "Regions must be specified together with DeploymentTargets or Accounts")
            chosen = self._match_existing(ss, params, regions, for_delete=False)
        else:
            chosen = [i for i in ss.instances.values() if not regions or i.region in regions]
        if params.get("UsePreviousTemplate"):
            pass
        elif params.get("TemplateBody") or params.get("TemplateURL"):
            ss.template_body = params.get("TemplateBody")
            ss.template_url = params.get("TemplateURL")
        else:
            raise err("ValidationError", "Either TemplateBody, TemplateURL or UsePreviousTemplate must be specified")
        if "Parameters" in params:
            ss.parameters = params["Parameters"]
        if "Description" in params:
            ss.description = params["Description"]
        if "Capabilities" in params:
            ss.capabilities = params["Capabilities"]
        if "Tags" in params:
            ss.tags = params["Tags"]
        if params.get("AutoDeployment") and ss.permission_model == "SERVICE_MANAGED":
            ss.auto_deployment = {**(ss.auto_deployment or {}), **params["AutoDeployment"]}
        if params.get("AdministrationRoleARN"):
            ss.admin_role = params["AdministrationRoleARN"]
        if params.get("ExecutionRoleName"):
            ss.exec_role = params["ExecutionRoleName"]
        op = self._start_on_instances(ss, "UPDATE", params, chosen, op_id, dt)
        return {"OperationId": op.operation_id}

    def _tree(self, account: str) -> orgs.Tree | None:
        be = self._org(account)
        return orgs.Tree(be) if be is not None else None

    def op_CreateStackInstances(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        op_id = self._new_operation_id(ss, params.get("OperationId"))
        self._check_idle(ss)
        regions = self._regions(params)
        tree = self._tree(ss.account)
        dt = params.get("DeploymentTargets")
        if ss.permission_model == "SERVICE_MANAGED":
            self._require_trusted_access(ss.account)
            self._check_targets_shape(ss, params, "CreateStackInstances")
            if (dt or {}).get("AccountFilterType") == "UNION":
                raise err("ValidationError", "AccountFilterType UNION is not supported by CreateStackInstances")
            if tree is None:
                raise err("ValidationError", "The account is not a member of an organization")
            pairs = self._resolve_service_managed(tree, dt, "CREATE")
        else:
            pairs = self._resolve_self_managed(params)
        overrides = _check_overrides(ss, params.get("ParameterOverrides") or [])
        targets = []
        for acct, ou in pairs:
            for r in regions:
                existing = ss.instances.get((acct, r))
                own = overrides or (existing.parameter_overrides if existing else [])
                oidc = _oidc_params(ss, own)
                outcome, reason = self._outcome(tree, acct, "CREATE", ss=ss, oidc=oidc, region=r)
                targets.append(Target(acct, r, ou, outcome, reason, oidc=oidc))
        op = self._start(ss, "CREATE", params, targets, op_id, dt)
        for tg in targets:
            inst = ss.instances.get((tg.account, tg.region))
            if inst is None:
                inst = Instance(tg.account, tg.region, ss.stack_set_id)
                ss.instances[(tg.account, tg.region)] = inst
                if tg.outcome != "SKIPPED":
                    inst.stack_id = _stack_id(ss, tg.account, tg.region)
            inst.status = "OUTDATED"
            inst.detailed_status = "RUNNING"
            inst.status_reason = None
            if tg.ou_id:
                inst.ou_id = tg.ou_id
            inst.last_operation_id = op.operation_id
            if overrides:
                inst.parameter_overrides = overrides
        if ss.permission_model == "SERVICE_MANAGED":
            for ou in (dt or {}).get("OrganizationalUnitIds") or []:
                if ou not in ss.ou_ids:
                    ss.ou_ids.append(ou)
        for r in regions:
            if r not in ss.regions:
                ss.regions.append(r)
        return {"OperationId": op.operation_id}

    def _match_existing(self, ss: StackSet, params: dict[str, Any], regions: list[str], for_delete: bool) -> list[Instance]:
        """Existing instances selected by Accounts / DeploymentTargets and Regions."""
        if ss.permission_model == "SERVICE_MANAGED":
            self._check_targets_shape(
                ss, params, "DeleteStackInstances" if for_delete else "UpdateStackInstances"
            )
            dt = params.get("DeploymentTargets") or {}
            ou_ids = dt.get("OrganizationalUnitIds") or []
            accounts = dt.get("Accounts") or []
            ftype = dt.get("AccountFilterType") or "NONE"
            if ftype == "UNION":
                raise err("ValidationError", "AccountFilterType UNION is not supported")
            _validate_filter(ou_ids, accounts, ftype, dt, service_managed=True)
            tree = self._tree(ss.account)
            listed = set(ou_ids)
            under: set[str] = set()
            for ou in ou_ids:
                if tree is not None and tree.exists(ou):
                    under.update(tree.accounts_under(ou))
                elif not any(i.ou_id == ou for i in ss.instances.values()):
                    raise err("ValidationError", f"OrganizationalUnitIds [{ou}] not found in the organization")
            # AWS leaves open how a listed OU is resolved here; the switch plays each reading
            # strictly (never both at once, which would accept more than either).
            reading = self.config.get("ou_reading", "now")
            members = set(tree.accounts) if tree is not None else set()
            cands = []
            for inst in ss.instances.values():
                if inst.region not in regions:
                    continue
                if reading == "recorded" or inst.account not in members:
                    hit = inst.ou_id in listed
                else:
                    hit = inst.account in under
                if hit:
                    cands.append(inst)
            keep = set(_apply_filter([i.account for i in cands], accounts, ftype))
            return [i for i in cands if i.account in keep]
        accts = list(params.get("Accounts") or []) + list((params.get("DeploymentTargets") or {}).get("Accounts") or [])
        if not accts:
            raise err("ValidationError", "Accounts must be specified for a SELF_MANAGED stack set")
        return [i for i in ss.instances.values() if i.account in accts and i.region in regions]

    def _start_on_instances(self, ss: StackSet, action: str, params: dict[str, Any], chosen: list[Instance],
                            op_id: str, dt: dict | None, retain: bool | None = None) -> Operation:
        tree = self._tree(ss.account)
        given = None
        if action == "UPDATE" and "ParameterOverrides" in params:
            given = _check_overrides(ss, params.get("ParameterOverrides") or [])
        new_overrides: dict[tuple[str, str], list[dict]] = {}
        targets = []
        for inst in chosen:
            oidc = None
            if action == "UPDATE":
                # API reference, UpdateStackInstances ParameterOverrides: left out, every
                # override stays as it is; given, the list replaces them (a parameter left out
                # of it goes back to the StackSet's value; UsePreviousValue keeps its present
                # override). UpdateStackSet: "any parameter values overridden for a stack
                # instance aren't updated, but retain their overridden value."
                own = inst.parameter_overrides if given is None else _merge_overrides(inst.parameter_overrides, given)
                new_overrides[(inst.account, inst.region)] = own
                oidc = _oidc_params(ss, own)
            outcome, reason = self._outcome(
                tree, inst.account, action, bool(retain), ss=ss, oidc=oidc, region=inst.region
            )
            targets.append(Target(inst.account, inst.region, inst.ou_id, outcome, reason, oidc=oidc))
        op = self._start(ss, action, params, targets, op_id, dt, retain)
        for inst in chosen:
            inst.detailed_status = "RUNNING"
            inst.status = "OUTDATED"
            inst.last_operation_id = op.operation_id
            if action == "UPDATE":
                # A successful update re-applies the template (clears drift, see _finish).
                inst.parameter_overrides = new_overrides[(inst.account, inst.region)]
        return op

    def op_UpdateStackInstances(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        op_id = self._new_operation_id(ss, params.get("OperationId"))
        self._check_idle(ss)
        regions = self._regions(params)
        chosen = self._match_existing(ss, params, regions, for_delete=False)
        if not chosen:
            raise err(
                "StackInstanceNotFoundException",
                f"No stack instances of StackSet {ss.name} match the given accounts, organizational units and regions",
            )
        op = self._start_on_instances(ss, "UPDATE", params, chosen, op_id, params.get("DeploymentTargets"))
        return {"OperationId": op.operation_id}

    def op_DeleteStackInstances(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        if "RetainStacks" not in params:
            raise err("ValidationError", "1 validation error detected: Value null at 'retainStacks' failed to satisfy constraint: Member must not be null")
        op_id = self._new_operation_id(ss, params.get("OperationId"))
        self._check_idle(ss)
        regions = self._regions(params)
        chosen = self._match_existing(ss, params, regions, for_delete=True)
        op = self._start_on_instances(
            ss, "DELETE", params, chosen, op_id, params.get("DeploymentTargets"), bool(params.get("RetainStacks"))
        )
        return {"OperationId": op.operation_id}

    def op_ListStackInstances(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        items = list(ss.instances.values())
        if params.get("StackInstanceAccount"):
            items = [i for i in items if i.account == params["StackInstanceAccount"]]
        if params.get("StackInstanceRegion"):
            items = [i for i in items if i.region == params["StackInstanceRegion"]]
        for f in params.get("Filters") or []:
            name, value = f.get("Name"), f.get("Values")
            if name == "DETAILED_STATUS":
                items = [i for i in items if i.detailed_status == value]
            elif name == "LAST_OPERATION_ID":
                items = [i for i in items if i.last_operation_id == value]
            elif name == "DRIFT_STATUS":
                items = [i for i in items if i.drift_status == value]
            else:
                raise err("ValidationError", f"Unsupported filter {name}")
        page, nxt = _page(items, params, f"ListStackInstances/{ss.stack_set_id}", 100)
        return {"Summaries": [i.summary() for i in page], "NextToken": nxt}

    def op_DescribeStackInstance(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        key = (params.get("StackInstanceAccount"), params.get("StackInstanceRegion"))
        inst = ss.instances.get(key)  # type: ignore[arg-type]
        if inst is None:
            raise err(
                "StackInstanceNotFoundException",
                f"Stack instance {key[0]}/{key[1]} of StackSet {ss.name} not found",
            )
        return {"StackInstance": inst.describe()}

    def _op(self, ss: StackSet, op_id: str | None) -> Operation:
        op = next((o for o in ss.operations if o.operation_id == op_id), None)
        if op is None:
            raise err("OperationNotFoundException", f"Operation {op_id} not found for StackSet {ss.name}")
        return op

    def op_DescribeStackSetOperation(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        return {"StackSetOperation": self._op(ss, params.get("OperationId")).describe()}

    def _listing(self) -> tuple[str, float]:
        """Config `operations_listing`: ("newest_first" | "shuffled", lag in seconds)."""
        conf = self.config.get("operations_listing") or {}
        return conf.get("order", "newest_first"), float(conf.get("lag_seconds", 0))

    def _listed(self, op: Operation) -> bool:
        """Whether the eventually consistent lists (ListStackSetOperations,
        ListStackSetOperationResults) show `op` yet: only `lag_seconds` after it started.
        The API reference of both says "This API provides eventually consistent reads";
        DescribeStackSetOperation's says "strongly consistent reads" and is never lagged."""
        return now() >= op.created + self._listing()[1]

    def op_ListStackSetOperations(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        order, _ = self._listing()
        items = sorted((o for o in ss.operations if self._listed(o)), key=lambda o: o.created, reverse=True)
        key = f"ListStackSetOperations/{ss.stack_set_id}"
        if order == "shuffled":
            # AWS documents no order for this list (API reference, ListStackSetOperations):
            # each listing gets its own seeded order; its NextToken carries the listing's
            # number so that the later pages continue the same order.
            tok = params.get("NextToken")
            if tok:
                try:
                    listing = int(json.loads(base64.urlsafe_b64decode(tok.encode()))["k"].rsplit("/", 1)[1])
                except Exception:
                    raise err("ValidationError", "Invalid NextToken")
            else:
                self.listings += 1
                listing = self.listings
            items.sort(key=lambda o: o.operation_id)
            random.Random(f"{self.config.get('seed', 0)}/{listing}").shuffle(items)
            key = f"{key}/{listing}"
        page, nxt = _page(items, params, key, 100)
        return {"Summaries": [o.summary() for o in page], "NextToken": nxt}

    def op_ListStackSetOperationResults(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        op = self._op(ss, params.get("OperationId"))
        # Eventually consistent too (see _listed): nothing while the lag lasts.
        items = list(op.targets) if self._listed(op) else []
        for f in params.get("Filters") or []:
            if f.get("Name") == "OPERATION_RESULT_STATUS":
                items = [t for t in items if t.result_status == f.get("Values")]
        page, nxt = _page(items, params, f"ListStackSetOperationResults/{op.operation_id}", 100)
        summaries = []
        for tg in page:
            gate = {"Status": "SKIPPED", "StatusReason": SUSPENDED_REASON} if tg.outcome == "SKIPPED" and op.status not in ACTIVE_OP else None
            summaries.append(
                {
                    "Account": tg.account,
                    "Region": tg.region,
                    "Status": tg.result_status,
                    "StatusReason": tg.result_reason,
                    "AccountGateResult": gate,
                    "OrganizationalUnitId": tg.ou_id,
                }
            )
        return {"Summaries": summaries, "NextToken": nxt}

    def op_StopStackSetOperation(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        op = self._op(ss, params.get("OperationId"))
        if op.status not in ACTIVE_OP:
            raise err("InvalidOperationException", f"Operation {op.operation_id} is not running ({op.status})")
        for tg in op.targets:
            tg.result_status, tg.result_reason = "CANCELLED", "Cancelled since the operation was stopped"
            inst = ss.instances.get((tg.account, tg.region))
            if inst is not None and inst.detailed_status in ("RUNNING", "PENDING"):
                inst.detailed_status = "CANCELLED"
                inst.status = "OUTDATED"
        op.status = "STOPPED"
        op.ended = now()
        return {}

    def op_DetectStackSetDrift(self, params, account, region):
        ss = self._get(region, params.get("StackSetName", ""))
        op_id = self._new_operation_id(ss, params.get("OperationId"))
        self._check_idle(ss)
        targets = [
            Target(i.account, i.region, i.ou_id, "SUCCEEDED")
            for i in ss.instances.values()
            if i.stack_id is not None and i.detailed_status != "SKIPPED_SUSPENDED_ACCOUNT"
        ]
        op = self._start(ss, "DETECT_DRIFT", params, targets, op_id, None)
        ss.drift = {**ss.drift, "DriftDetectionStatus": "IN_PROGRESS", "InProgressStackInstancesCount": len(targets)}
        return {"OperationId": op.operation_id}

    # ------------------------------------------------------------------ control

    def mark_drift(self, name: str, account: str, region: str) -> None:
        with self.lock:
            ss = self._find_any_region(name)
            inst = ss.instances.get((account, region))
            if inst is None:
                raise err("StackInstanceNotFoundException", f"Stack instance {account}/{region} of {name} not found")
            inst.out_of_band_drift = True

    def delete_instance(self, name: str, account: str, region: str) -> None:
        with self.lock:
            ss = self._find_any_region(name)
            if ss.instances.pop((account, region), None) is None:
                raise err("StackInstanceNotFoundException", f"Stack instance {account}/{region} of {name} not found")

    def _find_any_region(self, name: str) -> StackSet:
        for (_, n), ss in self.stack_sets.items():
            if n == name or ss.stack_set_id == name:
                return ss
        raise err("StackSetNotFoundException", f"StackSet {name} not found")

    def dump_instances(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            ss = self._find_any_region(name)
            return [
                {
                    "account": i.account,
                    "region": i.region,
                    "status": i.status,
                    "detailed_status": i.detailed_status,
                    "status_reason": i.status_reason,
                    "drift_status": i.drift_status,
                    "ou": i.ou_id,
                    "stack_id": i.stack_id,
                    "last_operation_id": i.last_operation_id,
                    "out_of_band_drift": i.out_of_band_drift,
                    "parameter_overrides": i.parameter_overrides,
                }
                for i in ss.instances.values()
            ]


# ---------------------------------------------------------------------- pure helpers


def _issuer(url: str) -> str:
    """IAM names a provider by its URL without the scheme."""
    u = url.strip()
    if u.startswith("https://"):
        u = u[len("https://"):]
    return u.rstrip("/")


def _check_overrides(ss: StackSet, overrides: list[dict]) -> list[dict]:
    """API reference, Create/UpdateStackInstances ParameterOverrides: "You can only override
    the parameter values that are specified in the StackSet", and a parameter cannot have both
    a value and UsePreviousValue."""
    known = {p.get("ParameterKey") for p in ss.parameters}
    for p in overrides:
        key = p.get("ParameterKey")
        if key not in known:
            raise err(
                "ValidationError",
                f"ParameterOverrides: parameter {key} is not specified in StackSet {ss.name}; "
                "only the StackSet's parameters can be overridden",
            )
        if p.get("UsePreviousValue") and p.get("ParameterValue") is not None:
            raise err("ValidationError", f"ParameterOverrides: {key} has both a value and UsePreviousValue")
    return [dict(p) for p in overrides]


def _merge_overrides(present: list[dict], given: list[dict]) -> list[dict]:
    before = {p["ParameterKey"]: p for p in present}
    out = []
    for p in given:
        if p.get("UsePreviousValue"):
            if p["ParameterKey"] in before:
                out.append(dict(before[p["ParameterKey"]]))
        else:
            out.append({"ParameterKey": p["ParameterKey"], "ParameterValue": p.get("ParameterValue")})
    return out


def _oidc_params(ss: StackSet, overrides: list[dict]) -> tuple[str, bool] | None:
    """(issuer, CreateOIDCProvider) in effect for an instance: its override, else the StackSet's
    value. None when the StackSet has no CreateOIDCProvider parameter (its template has no
    provider to create)."""
    values = {p.get("ParameterKey"): p.get("ParameterValue") for p in ss.parameters}
    values.update({p.get("ParameterKey"): p.get("ParameterValue") for p in overrides})
    if "CreateOIDCProvider" not in values:
        return None
    return _issuer(values.get("OIDCProviderUrl") or PORT_OIDC_URL), values["CreateOIDCProvider"] == "true"



def _stack_id(ss: StackSet, account: str, region: str) -> str:
    u = uuid.uuid4()
    return f"arn:aws:cloudformation:{region}:{account}:stack/StackSet-{ss.name}-{u}/{u}"


def _prefs(p: dict[str, Any] | None) -> dict[str, Any]:
    p = dict(p or {})
    if "FailureToleranceCount" in p and "FailureTolerancePercentage" in p:
        raise err("ValidationError", "FailureToleranceCount and FailureTolerancePercentage are mutually exclusive")
    if "MaxConcurrentCount" in p and "MaxConcurrentPercentage" in p:
        raise err("ValidationError", "MaxConcurrentCount and MaxConcurrentPercentage are mutually exclusive")
    for k in ("FailureTolerancePercentage", "MaxConcurrentPercentage"):
        if k in p and not 0 <= p[k] <= 100:
            raise err("ValidationError", f"{k} must be between 0 and 100")
    # What AWS reports back when the caller left preferences out.
    p.setdefault("RegionConcurrencyType", "SEQUENTIAL")
    if "FailureTolerancePercentage" not in p:
        p.setdefault("FailureToleranceCount", 0)
    if "MaxConcurrentPercentage" not in p:
        p.setdefault("MaxConcurrentCount", 1)
    return p


def _tolerance(prefs: dict[str, Any], targets: list[Target]) -> int:
    if "FailureToleranceCount" in prefs:
        return int(prefs["FailureToleranceCount"])
    if "FailureTolerancePercentage" in prefs:
        # AWS: percentage of accounts per region, rounded down.
        accounts = len({t.account for t in targets}) or 0
        regions = len({t.region for t in targets}) or 1
        return math.floor(prefs["FailureTolerancePercentage"] * accounts / 100) * regions
    return 0


def _validate_filter(ou_ids, accounts, ftype, dt, service_managed: bool) -> None:
    if ftype not in ("NONE", "INTERSECTION", "DIFFERENCE", "UNION"):
        raise err("ValidationError", f"Invalid AccountFilterType {ftype}")
    if ftype in ("INTERSECTION", "DIFFERENCE") and not accounts:
        raise err("ValidationError", f"Accounts must be specified when AccountFilterType is {ftype}")
    if ftype == "NONE" and accounts:
        raise err(
            "ValidationError",
            "AccountFilterType must be INTERSECTION, DIFFERENCE or UNION when Accounts are specified with OrganizationalUnitIds",
        )
    if service_managed and not ou_ids:
        raise err("ValidationError", "DeploymentTargets.OrganizationalUnitIds must be specified for a SERVICE_MANAGED stack set")
    for ou in ou_ids:
        if not OU_RE.match(ou):
            raise err("ValidationError", f"OrganizationalUnitId {ou} is not a valid root or organizational unit ID")
    for a in accounts:
        if not ACCOUNT_RE.match(a):
            raise err("ValidationError", f"Account {a} is not a valid 12-digit account ID")


def _apply_filter(candidates: list[str], accounts: list[str], ftype: str) -> list[str]:
    if ftype == "INTERSECTION":
        wanted = set(accounts)
        return [a for a in candidates if a in wanted]
    if ftype == "DIFFERENCE":
        unwanted = set(accounts)
        return [a for a in candidates if a not in unwanted]
    return list(candidates)


def _most_specific(tree: orgs.Tree, account: str, listed: set[str]) -> str | None:
    for anc in tree.account_ancestors(account):
        if anc in listed:
            return anc
    return None
