"""The WSGI fidelity layer in front of moto's in-process server app."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

from moto.core import DEFAULT_ACCOUNT_ID

from . import authz, eventbridge, events_queue, iam, orgs, query, template_iam
from . import stacksets
from .stacksets import Engine

log = logging.getLogger("fidelity")

STACKSET_ACTIONS = {
    "CreateStackSet",
    "DescribeStackSet",
    "ListStackSets",
    "DeleteStackSet",
    "UpdateStackSet",
    "CreateStackInstances",
    "UpdateStackInstances",
    "DeleteStackInstances",
    "ListStackInstances",
    "DescribeStackInstance",
    "DescribeStackSetOperation",
    "ListStackSetOperations",
    "ListStackSetOperationResults",
    "StopStackSetOperation",
    "DetectStackSetDrift",
    "ActivateOrganizationsAccess",
    "DeactivateOrganizationsAccess",
    "DescribeOrganizationsAccess",
}

SCOPE_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
EVENTS_TARGET_PREFIX = "AWSEvents."
ORG_THROTTLE_BODY = {
    "__type": "TooManyRequestsException",
    "Message": "AWS Organizations can't complete your request because another request is already in progress. Try again later.",
}

DEFAULT_CONFIG: dict[str, Any] = {
    "operation_seconds": 0.5,
    "org_page_size": 20,
    "throttle": {"organizations": 0.0, "cloudformation": 0.0},
    "seed": 0,
    # How UpdateStackInstances/DeleteStackInstances resolve a listed OU (AWS leaves it open):
    # "now" = through the organization as it is now (an account no longer in the
    # organization can only be found through its recorded OU); "recorded" = through the OU
    # each instance recorded when it was deployed.
    "ou_reading": "now",
    # Service Quotas GetServiceQuota for CloudFormation's "Stack instances per stack set"
    # (L-C8225BA5): the value applied to the account. AWS's documented default is 100,000
    # (CloudFormation User Guide, "Understand CloudFormation quotas":
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html);
    # tests set a raised or lowered one. "denied" answers AccessDeniedException instead (a
    # caller without servicequotas:GetServiceQuota).
    "stack_instance_quota": 100000,
    # EventBridge PutEvents: answer the next N requests 200 with every entry failed, with
    # this ErrorCode. AWS documents such per-entry failures in a successful answer
    # (FailedEntryCount > 0; "InternalFailure" and "ThrottlingException" are the retryable
    # codes): https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
    # and https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html
    "events_failed_entries": {"count": 0, "code": "InternalFailure"},
    # Which account the stackset-target ARNs of a delegated administrator's
    # Create/Update/DeleteStackInstances carry when IAM authorizes them: AWS documents that
    # the StackSet's ARN carries the management account's ID, not which one the targets
    # carry. "management" (the StackSet's owner) or "caller"; tests run both (authz.py).
    "iam_target_account": "management",
    # ListStackSetOperations and ListStackSetOperationResults: "This API provides eventually
    # consistent reads" (CloudFormation API Reference, both pages), and ListStackSetOperations
    # documents no order. "order": "newest_first" (what AWS is seen to answer) or "shuffled"
    # (a seeded random order per listing); "lag_seconds": an operation is listed, and its
    # results are, only this long after it started. DescribeStackSetOperation ("strongly
    # consistent reads", API Reference) is never lagged.
    "operations_listing": {"order": "newest_first", "lag_seconds": 0},
    # Organizations List calls: "full" pages (min(MaxResults, org_page_size) items while more
    # are left) or "short": fewer items than that, now and then none, with a NextToken while
    # more are left, deterministic from `seed` (orgs.short_page). AWS Organizations API
    # reference, every List call: "These operations can occasionally return an empty set of
    # results even when there are more results available. The NextToken response parameter
    # value is null only when there are no more results to display."
    "organizations_pages": "full",
}

SERVICE_QUOTAS_TARGET = "ServiceQuotasV20190624."
STACK_INSTANCE_QUOTA_CODE = "L-C8225BA5"


def default_config() -> dict[str, Any]:
    return json.loads(json.dumps(DEFAULT_CONFIG))


class FidelityApp:
    def __init__(self, moto_app: Callable):
        self.moto_app = moto_app
        self.config = default_config()
        self.lock = threading.RLock()
        self.rng = random.Random(self.config["seed"])
        self.requests: list[dict[str, Any]] = []
        self.seq = 0
        self.engine = Engine(self.config)
        self.closure = orgs.ClosureClock()
        # Principals whose requests are authorized against their policies (iam.py).
        self.principals = iam.Principals()
        # Calls held until the test releases them (POST /_fidelity/hold).
        self.holds = Holds()

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_fidelity/") or path == "/_fidelity":
            return self._control(environ, start_response)
        body = _read_body(environ)
        service, action, params, region, account, principal = self._identify(environ, body)
        with self.lock:
            self.closure.tick()
            self.seq += 1
            entry = {
                "seq": self.seq,
                "time": time.time(),
                "service": service,
                "action": action,
                "params": params,
                "region": region,
                "throttled": False,
                "status": None,
                # The account the request came from (its credentials).
                "caller": account,
            }
            if service == "cloudformation" and action in STACKSET_ACTIONS:
                # CallAs as the request sent it (None: left out, AWS's default SELF).
                entry["call_as"] = params.get("CallAs")
            self.requests.append(entry)
            hold = self.holds.catch(service, action, entry)
        if hold is not None:
            # Outside the lock: the other requests (the ones the test makes while this call
            # waits) go on; the call proceeds once released.
            self.holds.wait(hold, entry, lambda: self.seq)
        with self.lock:
            refusal = self._authorize(principal, service, action, params, region, account) if principal else None
            if refusal is not None:
                entry["status"], body_out, ctype = authz.denied(service or "", refusal)
                entry["denied"] = refusal
                return _respond(start_response, entry["status"], body_out, ctype)
            rate = float((self.config.get("throttle") or {}).get(service or "", 0) or 0)
            throttled = rate > 0 and self.rng.random() < rate
        if throttled:
            entry["throttled"] = True
            entry["status"] = 400
            if service == "organizations":
                return _respond(start_response, 400, json.dumps(ORG_THROTTLE_BODY), "application/x-amz-json-1.1")
            return _respond(start_response, 400, query.error_xml("Throttling", "Rate exceeded"), "text/xml")

        if service == "servicequotas" and action == SERVICE_QUOTAS_TARGET + "GetServiceQuota":
            answer = self._service_quota(body, entry, start_response)
            if answer is not None:
                return answer
        if service == "events" and action == "PutEvents":
            with self.lock:
                failing = self.config["events_failed_entries"]
                fail = int(failing.get("count", 0)) > 0
                if fail:
                    failing["count"] = int(failing["count"]) - 1
            if fail:
                entries = params.get("Entries") or []
                code = str(failing.get("code") or "InternalFailure")
                entry["status"] = 200
                entry["failed_entries"] = len(entries)
                return _respond(start_response, 200, json.dumps({
                    "FailedEntryCount": len(entries),
                    "Entries": [{"ErrorCode": code, "ErrorMessage": f"Injected {code}"} for _ in entries],
                }), "application/x-amz-json-1.1")

        try:
            if service == "cloudformation" and action in STACKSET_ACTIONS:
                return self._stackset(action, params, account, region, entry, start_response)
            if service == "organizations" and orgs.member_read(action):
                # A member account's reads: only a delegated administrator's are answered,
                # from the organization (the management account's backend).
                be = orgs.org_backend_for(account)
                if be is not None and be.org.master_account_id != account:
                    if not orgs.delegated_services(be, account):
                        entry["status"] = 400
                        return _respond(
                            start_response, 400,
                            json.dumps({"__type": "AccessDeniedException", "Message": orgs.MEMBER_DENIED}),
                            "application/x-amz-json-1.1",
                        )
                    account = be.org.master_account_id
                    environ["HTTP_X_MOTO_ACCOUNT_ID"] = account
            pages = self.config["organizations_pages"]
            if service == "organizations" and (
                action in orgs.PAGED_ACTIONS or (pages == "short" and action in orgs.REPAGED_ACTIONS)
            ):
                try:
                    if action in orgs.PAGED_ACTIONS:
                        result = orgs.paged_list(action, params, int(self.config["org_page_size"]), account,
                                                 pages, int(self.config["seed"]))
                    else:
                        result = self._repaged(action, params, environ, entry)
                except orgs.OrgError as e:
                    entry["status"] = 400
                    return _respond(
                        start_response, 400, json.dumps({"__type": e.code, "Message": e.message}),
                        "application/x-amz-json-1.1",
                    )
                if isinstance(result, tuple):  # moto's error, as moto answered it
                    status, headers, data = result
                    entry["status"] = int(status.split()[0])
                    start_response(status, headers)
                    return [data]
                if result is not None:
                    entry["status"] = 200
                    # What the page held, for tests that show a reader went past short pages.
                    entry["page"] = {
                        "items": next(len(v) for k, v in result.items() if isinstance(v, list)),
                        "next_token": "NextToken" in result,
                    }
                    return _respond(start_response, 200, json.dumps(result), "application/x-amz-json-1.1")
        except Exception:  # never let the layer turn into a 500 without a log
            log.exception("fidelity layer failed on %s %s", service, action)
            entry["status"] = 500
            return _respond(start_response, 500, query.error_xml("InternalFailure", "fidelity layer error"), "text/xml")

        def _sr(status: str, headers: list, exc_info: Any = None):
            entry["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        if service == "sqs":
            # moto's SQS model is not thread-safe (DeleteMessage rebuilds the queue's message
            # list: two concurrent deletes can bring a deleted message back, a send during a
            # delete can be lost); SQS is. So SQS requests, and the control calls that touch
            # the queues, run one at a time (events_queue.LOCK).
            with events_queue.LOCK:
                out = list(self.moto_app(environ, _sr))
        else:
            out = self.moto_app(environ, _sr)
        if service == "organizations" and not (action or "").startswith(("List", "Describe")):
            orgs.invalidate()  # the tree may have changed (MoveAccount, CreateAccount, ...)
        if service == "organizations" and action == "CloseAccount" and entry["status"] == 200:
            with self.lock:
                self.closure.started(params.get("AccountId", ""), float(self.config["operation_seconds"]))
        return out

    # ------------------------------------------------------------------ identification

    def _identify(self, environ: dict[str, Any], body: bytes):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = SCOPE_RE.search(auth)
        access_key, scope_region, scope_service = (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        service = action = None
        params: dict[str, Any] = {}
        if target.startswith(orgs.ORG_TARGET_PREFIX):
            service, action = "organizations", target[len(orgs.ORG_TARGET_PREFIX):]
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {}
        elif target.startswith(EVENTS_TARGET_PREFIX):
            # EventBridge (JSON protocol): logged with its entries, as the tests read them.
            service, action = "events", target[len(EVENTS_TARGET_PREFIX):]
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {}
        else:
            ctype = environ.get("CONTENT_TYPE", "")
            form: dict[str, str] = {}
            if body and "x-www-form-urlencoded" in ctype:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            elif environ.get("QUERY_STRING") and "Action=" in environ.get("QUERY_STRING", ""):
                form = dict(parse_qsl(environ["QUERY_STRING"], keep_blank_values=True))
            if form.get("Version") == "2010-05-15" or scope_service == "cloudformation":
                if "Action" in form:
                    service, action = "cloudformation", form.get("Action")
                    params = form
            if service is None and scope_service:
                service, action = scope_service, form.get("Action") or target or None
                params = form
                if target and not form:
                    # Other JSON-protocol services (Service Quotas, CloudTrail): their body.
                    try:
                        params = json.loads(body or b"{}")
                    except ValueError:
                        params = {}
        if service is None and scope_service == "organizations":
            service = "organizations"
        region = scope_region or "us-east-1"
        if region in ("aws-global",):
            region = "us-east-1"
        principal = self.principals.get(access_key)
        account = principal.account if principal is not None else _account(environ, access_key)
        return service, action, params, region, account, principal

    # ------------------------------------------------------------------ IAM

    def _authorize(self, principal: iam.Principal, service, action, params, region, account) -> str | None:
        """AWS's AccessDenied message when the principal's policies refuse the request."""
        if service == "events" and authz.action_name(action) == "PutEvents":
            requests = authz.put_events_requests(params, region, account)
        else:
            one = authz.request_for(service or "", action, params, region, account, self.engine, self.config)
            requests = [one] if one is not None else []
        for req in requests:
            allowed, resource, explicit = iam.decide(principal.policies, req)
            if not allowed:
                return iam.denial_message(principal.arn, req.action, resource or "*", explicit)
        return None

    def _add_principal(self, name: str, account: str, policies: list[dict[str, Any]]) -> dict[str, Any]:
        """Credentials (moto's STS AssumeRole, so GetCallerIdentity answers the role) whose
        requests are authorized against `policies` only."""
        from moto.sts.models import sts_backends

        role = re.sub(r"[^\w+=,.@-]", "-", name)[:64]
        assumed = sts_backends[account]["aws"].assume_role(
            region_name="us-east-1", role_session_name=role[:64],
            role_arn=f"arn:aws:iam::{account}:role/{role}", policy="", duration=43200, external_id="",
        )
        self.principals.add(assumed.access_key_id, iam.Principal(name, account, assumed.arn, policies))
        return {
            "access_key_id": assumed.access_key_id,
            "secret_access_key": assumed.secret_access_key,
            "session_token": assumed.session_token,
            "arn": assumed.arn,
            "account_id": account,
            "policies": policies,
        }

    # ------------------------------------------------------------------ short pages

    def _repaged(self, action: str, params: dict[str, Any], environ: dict[str, Any], entry: dict[str, Any]):
        """A REPAGED_ACTIONS call under short pages: moto's whole answer (asked without
        NextToken and MaxResults; moto 5.2.5 pages none of these), cut into short pages.
        moto's error answers are passed on as (status, headers, body)."""
        orgs._max_results(params)  # a bad MaxResults is refused as for the other lists
        whole = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
        data = json.dumps(whole).encode()
        inner = dict(environ)
        inner["wsgi.input"] = io.BytesIO(data)
        inner["CONTENT_LENGTH"] = str(len(data))
        got: dict[str, Any] = {}

        def _sr(status: str, headers: list, exc_info: Any = None):
            got["status"], got["headers"] = status, headers

        body = b"".join(self.moto_app(inner, _sr))
        if not got.get("status", "").startswith("200"):
            return got.get("status", "500 Internal Server Error"), got.get("headers", []), body
        answer = json.loads(body or b"{}")
        return orgs.repage(action, params, answer, int(self.config["org_page_size"]), int(self.config["seed"]))

    # ------------------------------------------------------------------ service quotas

    def _service_quota(self, body: bytes, entry: dict[str, Any], start_response):
        """GetServiceQuota for cloudformation / L-C8225BA5 (moto knows only vpc quotas);
        None for any other quota (moto answers)."""
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return None
        entry["params"] = params
        if params.get("ServiceCode") != "cloudformation" or params.get("QuotaCode") != STACK_INSTANCE_QUOTA_CODE:
            return None
        value = self.config.get("stack_instance_quota")
        ctype = "application/x-amz-json-1.1"
        if value == "denied":
            entry["status"] = 400
            return _respond(start_response, 400, json.dumps({
                "__type": "AccessDeniedException",
                "Message": "User is not authorized to perform: servicequotas:GetServiceQuota",
            }), ctype)
        entry["status"] = 200
        return _respond(start_response, 200, json.dumps({"Quota": {
            "ServiceCode": "cloudformation",
            "ServiceName": "AWS CloudFormation",
            "QuotaArn": f"arn:aws:servicequotas:us-east-1:{DEFAULT_ACCOUNT_ID}:cloudformation/{STACK_INSTANCE_QUOTA_CODE}",
            "QuotaCode": STACK_INSTANCE_QUOTA_CODE,
            "QuotaName": "Stack instances per stack set",
            "Value": float(value),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }}), ctype)

    # ------------------------------------------------------------------ stack sets

    def _stackset(self, action, flat, account, region, entry, start_response):
        rid = str(uuid.uuid4())
        try:
            params = query.parse_input(action, flat)
            result = self.engine.handle(action, params, account, region)
        except query.QueryError as e:
            status = query.error_status(e.code)
            entry["status"] = status
            return _respond(start_response, status, query.error_xml(e.code, e.message, rid), "text/xml")
        entry["status"] = 200
        return _respond(start_response, 200, query.response_xml(action, result, rid), "text/xml")

    # ------------------------------------------------------------------ control API

    def _control(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")[len("/_fidelity"):].rstrip("/") or "/"
        raw = _read_body(environ)
        try:
            body = json.loads(raw) if raw else {}
            qs = dict(parse_qsl(environ.get("QUERY_STRING", "")))
            status, result = self._control_dispatch(method, path, body, qs)
        except ControlError as e:
            status, result = e.status, {"error": e.message}
        except query.QueryError as e:
            status, result = 404 if "NotFound" in e.code else 400, {"error": e.message, "code": e.code}
        except orgs.OrgError as e:
            status, result = 400, {"error": e.message, "code": e.code}
        except iam.PolicyError as e:
            status, result = 400, {"error": f"policy not evaluated by the test bed: {e}"}
        except (ValueError, KeyError, TypeError) as e:
            status, result = 400, {"error": f"{type(e).__name__}: {e}"}
        except Exception as e:  # noqa: BLE001 - answer JSON, keep the trace in the log
            log.exception("control endpoint %s %s failed", method, path)
            status, result = 500, {"error": f"{type(e).__name__}: {e}"}
        finally:
            if method == "POST":
                orgs.invalidate()
        return _respond(start_response, status, json.dumps(result), "application/json")

    def _control_dispatch(self, method: str, path: str, body: dict, qs: dict) -> tuple[int, Any]:
        if path == "/reset" and method == "POST":
            self.reset()
            return 200, {"reset": True}
        if path == "/config":
            if method == "POST":
                self.configure(body)
            return 200, self.get_config()
        if path == "/fail-account" and method == "POST":
            with self.engine.lock:
                times = body.get("times")
                self.engine.failures.set(
                    _acct(body["account_id"]), body.get("reason") or "Injected failure",
                    None if times is None else int(times),
                )
            return 200, {"failures": self.engine.failures.dump()}
        if path == "/quarantine" and method == "POST":
            # A service control policy that denies the account's StackSets execution role
            # (stacksets.scp_denied_reason): the same per-account failure rule as fail-account.
            with self.engine.lock:
                times, until = _quarantine_end(body)
                self.engine.failures.set(_acct(body["account_id"]), None, times, until, scp=True)
                return 200, {"failures": self.engine.failures.dump()}
        if path == "/lift-quarantine" and method == "POST":
            with self.engine.lock:
                lifted = self.engine.failures.lift(_acct(body["account_id"]))
                return 200, {"lifted": lifted, "failures": self.engine.failures.dump()}
        if path == "/oidc-provider" and method == "POST":
            # The account already holds an IAM OIDC provider for the URL (from an earlier
            # install): no stack of any StackSet created it.
            self.engine.add_oidc_provider(_acct(body["account_id"]), body.get("url") or stacksets.PORT_OIDC_URL)
            return 200, {"providers": self.engine.dump_oidc_providers()}
        if path == "/oidc-providers" and method == "GET":
            return 200, {"providers": self.engine.dump_oidc_providers()}
        if path == "/clear-failures" and method == "POST":
            with self.engine.lock:
                self.engine.failures.clear()
            return 200, {"failures": {}}
        if path == "/account-state" and method == "POST":
            with self.engine.lock:
                orgs.set_account_state(_acct(body["account_id"]), body["state"])
                self.closure.pending.pop(body["account_id"], None)
            return 200, {"account_id": body["account_id"], "state": body["state"].upper()}
        if path == "/drift" and method == "POST":
            self.engine.mark_drift(body["stack_set_name"], _acct(body["account_id"]), body["region"])
            return 200, {"drifted": True}
        if path == "/delete-instance" and method == "POST":
            self.engine.delete_instance(body["stack_set_name"], _acct(body["account_id"]), body["region"])
            return 200, {"deleted": True}
        if path == "/requests":
            with self.lock:
                return 200, {"requests": list(self.requests)}
        if path == "/requests/clear" and method == "POST":
            with self.lock:
                self.requests.clear()
            return 200, {"requests": []}
        if path == "/fixture/sample" and method == "POST":
            with self.engine.lock:
                return 200, orgs.build_sample(trusted_access=bool(body.get("trusted_access", True)))
        if path == "/fixture/generate" and method == "POST":
            kwargs = {k: body[k] for k in ("accounts", "ous", "max_depth", "suspended_every", "seed") if k in body}
            kwargs = {k: int(v) for k, v in kwargs.items()}
            with self.engine.lock:
                return 200, orgs.build_generated(trusted_access=bool(body.get("trusted_access", True)), **kwargs)
        if path == "/stack-instances" and method == "GET":
            name = qs.get("stack_set_name") or body.get("stack_set_name")
            if not name:
                raise ControlError(400, "stack_set_name is required")
            return 200, {"stack_set_name": name, "instances": self.engine.dump_instances(name)}
        if path == "/stack-status" and method == "POST":
            return 200, _set_stack_status(str(body["stack_id"]), str(body["status"]))
        if path == "/principal" and method == "POST":
            # A principal holding exactly these identity-based policies.
            return 200, self._add_principal(str(body["name"]), _acct(body["account_id"]), list(body["policies"]))
        if path == "/principal/template" and method == "POST":
            # The principal of a function of template.yaml: the policies its execution role
            # gets once deployed with these parameters (template_iam.py). `remove_actions`
            # takes actions out of every statement (to show that enforcement can fail).
            account = _acct(body["account_id"])
            found = template_iam.function_policies(
                str(body["function"]), account=account, region=str(body.get("region") or "us-east-1"),
                parameters={k: str(v) for k, v in (body.get("parameters") or {}).items()},
                stack_name=str(body.get("stack_name") or "port-aws-integration"), stack_id=body.get("stack_id"),
                function_names={str(body["function"]): str(body["function_name"])} if body.get("function_name") else None,
            )
            policies = _without_actions([p["document"] for p in found["policies"]], set(body.get("remove_actions") or []))
            out = self._add_principal(found["role"], account, policies)
            out["aws_managed"] = found["aws_managed"]
            return 200, out
        if path == "/authorize" and method == "POST":
            # For the test bed's other stand-ins (the local Lambda Invoke API): would AWS allow
            # this request of this access key? Unregistered keys are unrestricted.
            principal = self.principals.get(body.get("access_key_id"))
            if principal is None:
                return 200, {"allowed": True, "message": None}
            req = iam.Request(str(body["action"]), [str(r) for r in body.get("resources") or ["*"]],
                              {k: [str(x) for x in iam.as_list(v)] for k, v in (body.get("context") or {}).items()})
            allowed, resource, explicit = iam.decide(principal.policies, req)
            message = None if allowed else iam.denial_message(principal.arn, req.action, resource or "*", explicit)
            return 200, {"allowed": allowed, "message": message}
        if path == "/hold" and method == "POST":
            return 200, self.holds.add(body)
        if path == "/held" and method == "GET":
            return 200, {"holds": self.holds.dump()}
        if path == "/release" and method == "POST":
            return 200, {"released": self.holds.release(body.get("id")), "holds": self.holds.dump()}
        if path.startswith("/events/") and method == "POST":
            # template.yaml's rules -> OrgEventsQueue -> the event source mapping (events_queue.py).
            account = _acct(body.get("account_id") or DEFAULT_ACCOUNT_ID)
            region = str(body.get("region") or "us-east-1")
            try:
                if path == "/events/queue":
                    return 200, events_queue.setup(account, region)
                if path == "/events/put":
                    if "event" not in body:
                        raise ControlError(400, 'body needs "event": the EventBridge event, as a JSON object')
                    return 200, events_queue.put(body["event"], account, region)
                if path == "/events/elapse":
                    return 200, events_queue.elapse(account, region)
            except eventbridge.PatternError as e:
                raise ControlError(400, f"template.yaml: {e}") from None
        if path == "/health":
            return 200, {"ok": True}
        raise ControlError(404, f"no control endpoint {method} /_fidelity{path}")

    def reset(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend
        from moto.organizations.models import organizations_backends

        with self.engine.lock, self.lock:
            moto_api_backend.reset()
            organizations_backends.master_accounts.clear()
            self.engine.reset()
            self.closure.clear()
            self.principals.clear()
            self.holds.clear()
            self.requests.clear()
            self.seq = 0
            self.config.clear()
            self.config.update(default_config())
            self.rng = random.Random(self.config["seed"])

    def configure(self, body: dict[str, Any]) -> None:
        with self.lock:
            unknown = set(body) - set(DEFAULT_CONFIG)
            if unknown:
                raise ControlError(400, f"unknown config keys {sorted(unknown)}")
            if "operation_seconds" in body:
                self.config["operation_seconds"] = float(body["operation_seconds"])
            if "org_page_size" in body:
                size = int(body["org_page_size"])
                if size < 1:
                    raise ControlError(400, "org_page_size must be >= 1")
                self.config["org_page_size"] = size
            if "throttle" in body:
                for svc, rate in (body["throttle"] or {}).items():
                    rate = float(rate)
                    if not 0 <= rate <= 1:
                        raise ControlError(400, "throttle rates are probabilities in [0, 1]")
                    self.config["throttle"][svc] = rate
            if "ou_reading" in body:
                if body["ou_reading"] not in ("now", "recorded"):
                    raise ControlError(400, "ou_reading must be \"now\" or \"recorded\"")
                self.config["ou_reading"] = body["ou_reading"]
            if "stack_instance_quota" in body:
                q = body["stack_instance_quota"]
                if q != "denied" and not (isinstance(q, int) and q >= 0):
                    raise ControlError(400, "stack_instance_quota must be a count >= 0 or \"denied\"")
                self.config["stack_instance_quota"] = q
            if "operations_listing" in body:
                listing = dict(body["operations_listing"] or {})
                unknown = set(listing) - {"order", "lag_seconds"}
                if unknown:
                    raise ControlError(400, f"unknown operations_listing keys {sorted(unknown)}: use order, lag_seconds")
                order = listing.get("order", self.config["operations_listing"]["order"])
                if order not in ("newest_first", "shuffled"):
                    raise ControlError(400, f"operations_listing.order {order!r}: use \"newest_first\" or \"shuffled\"")
                lag = float(listing.get("lag_seconds", self.config["operations_listing"]["lag_seconds"]))
                if lag < 0:
                    raise ControlError(400, f"operations_listing.lag_seconds {lag}: must be >= 0")
                self.config["operations_listing"] = {"order": order, "lag_seconds": lag}
            if "organizations_pages" in body:
                pages = body["organizations_pages"]
                if pages not in orgs.PAGES_MODES:
                    raise ControlError(400, f"organizations_pages {pages!r}: use \"full\" or \"short\"")
                self.config["organizations_pages"] = pages
            if "seed" in body:
                self.config["seed"] = int(body["seed"])
                self.rng = random.Random(self.config["seed"])
            if "iam_target_account" in body:
                if body["iam_target_account"] not in ("management", "caller"):
                    raise ControlError(400, "iam_target_account must be \"management\" or \"caller\"")
                self.config["iam_target_account"] = body["iam_target_account"]
            if "events_failed_entries" in body:
                v = body["events_failed_entries"] or {}
                count = int(v.get("count", 0))
                if count < 0:
                    raise ControlError(400, "events_failed_entries.count must be >= 0")
                self.config["events_failed_entries"] = {
                    "count": count,
                    "code": str(v.get("code") or "InternalFailure"),
                }

    def get_config(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.config))


def _set_stack_status(stack_id: str, status: str) -> dict[str, Any]:
    """Holds a (moto) stack in a status of the test's choosing: moto finishes every stack
    operation at once, so a stack that CloudFormation is still creating, updating or deleting
    (`UPDATE_IN_PROGRESS`, `DELETE_IN_PROGRESS`, ...) can only be shown this way. The stack is
    found by its ID (ARN), live or deleted, as DescribeStacks finds it."""
    from moto.cloudformation.models import cloudformation_backends

    parts = stack_id.split(":")
    if len(parts) < 6 or parts[2] != "cloudformation":
        raise ControlError(400, f"stack_id must be a stack ARN, got {stack_id!r}")
    backend = cloudformation_backends[parts[4]][parts[3]]
    stack = backend.stacks.get(stack_id) or backend.deleted_stacks.get(stack_id)
    if stack is None:
        raise ControlError(404, f"no stack {stack_id}")
    stack.status = status
    return {"stack_id": stack_id, "status": status}


class Holds:
    """Calls held in the layer until the test releases them, so that a test can make the
    other side act while a call waits, and assert the order from the request log instead of
    sleeping and hoping (POST /_fidelity/hold, GET /_fidelity/held, POST /_fidelity/release).

    A hold names a service and an action and catches the `nth` matching request (1 = the
    next) that arrives after it was set. The caught request is logged at once (its entry gets
    `held`: the hold's id) and waits, outside the layer's lock, until released, or at most
    `timeout_seconds` (then it goes on and the entry records `hold_timed_out`, so a test that
    forgot to release fails on its assertions instead of hanging). When it goes on, its entry
    gets `released_after_seq`: the last request seq logged by then."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[dict[str, Any]] = []
        self.events: dict[int, threading.Event] = {}
        self.next_id = 0

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        service, action = body.get("service"), body.get("action")
        if not isinstance(service, str) or not service or not isinstance(action, str) or not action:
            raise ControlError(400, f"hold needs a service and an action, e.g. "
                                    f"{{\"service\": \"cloudformation\", \"action\": \"DescribeStacks\"}}; got {body!r}")
        nth = body.get("nth", 1)
        if isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
            raise ControlError(400, f"hold nth must be a whole number >= 1 (1 = the next matching call), got {nth!r}")
        timeout = body.get("timeout_seconds", 60)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ControlError(400, f"hold timeout_seconds must be a number > 0, got {timeout!r}")
        with self.lock:
            self.next_id += 1
            hold = {"id": self.next_id, "service": service, "action": action, "nth": nth,
                    "timeout_seconds": float(timeout), "seen": 0, "state": "armed", "seq": None}
            self.items.append(hold)
            self.events[hold["id"]] = threading.Event()
            return dict(hold)

    def catch(self, service: str | None, action: str | None, entry: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            for hold in self.items:
                if hold["state"] != "armed" or hold["service"] != service or hold["action"] != action:
                    continue
                hold["seen"] += 1
                if hold["seen"] == hold["nth"]:
                    hold["state"], hold["seq"] = "waiting", entry["seq"]
                    entry["held"] = hold["id"]
                    return hold
        return None

    def wait(self, hold: dict[str, Any], entry: dict[str, Any], last_seq: Callable[[], int]) -> None:
        released = self.events[hold["id"]].wait(hold["timeout_seconds"])
        with self.lock:
            if not released:
                hold["state"] = "timed_out"
                entry["hold_timed_out"] = True
            entry["released_after_seq"] = last_seq()

    def release(self, hold_id: Any = None) -> list[int]:
        """Releases the hold `hold_id` (or every hold): a waiting call goes on, an armed hold
        is dropped. Answers the ids released."""
        with self.lock:
            chosen = [h for h in self.items if hold_id is None or h["id"] == hold_id]
            if hold_id is not None and not chosen:
                raise ControlError(404, f"no hold {hold_id!r}: GET /_fidelity/held lists them")
            out = []
            for h in chosen:
                if h["state"] in ("armed", "waiting"):
                    h["state"] = "released"
                    out.append(h["id"])
                self.events[h["id"]].set()
            return out

    def dump(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(h) for h in self.items]

    def clear(self) -> None:
        with self.lock:
            for ev in self.events.values():
                ev.set()
            self.items.clear()
            self.events.clear()


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _quarantine_end(body: dict[str, Any]) -> tuple[int | None, float | None]:
    """`until_operations` (the next N operations touching the account) or `seconds` (from
    now), at most one; neither: until `lift-quarantine`."""
    ops, secs = body.get("until_operations"), body.get("seconds")
    if ops is not None and secs is not None:
        raise ControlError(400, "give until_operations or seconds, not both (neither: until lift-quarantine)")
    if ops is not None:
        if isinstance(ops, bool) or not isinstance(ops, int) or ops < 1:
            raise ControlError(400, f"until_operations must be a whole number >= 1, got {ops!r}")
        return ops, None
    if secs is not None:
        if isinstance(secs, bool) or not isinstance(secs, (int, float)) or secs <= 0:
            raise ControlError(400, f"seconds must be a number > 0, got {secs!r}")
        return None, stacksets.now() + float(secs)
    return None, None


def _acct(account_id: Any) -> str:
    a = str(account_id)
    if not re.fullmatch(r"\d{12}", a):
        raise ControlError(400, f"account_id must be a 12-digit string, got {account_id!r}")
    return a


def _without_actions(policies: list[dict[str, Any]], remove: set[str]) -> list[dict[str, Any]]:
    """The policies with `remove` taken out of every statement's Action list."""
    if not remove:
        return policies
    out = json.loads(json.dumps(policies))
    for doc in out:
        for st in iam.as_list(doc.get("Statement")):
            if "Action" in st:
                st["Action"] = [a for a in iam.as_list(st["Action"]) if a not in remove]
        doc["Statement"] = [st for st in iam.as_list(doc.get("Statement")) if st.get("Action", True) != []]
    return out


def _account(environ: dict[str, Any], access_key: str | None) -> str:
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    if access_key:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(access_key)
    return DEFAULT_ACCOUNT_ID


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length > 0:
        body = stream.read(length)
    elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _respond(start_response: Callable, status: int, body: str, ctype: str) -> list[bytes]:
    data = body.encode("utf-8")
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}.get(status, "")
    start_response(
        f"{status} {reason}",
        [("Content-Type", ctype), ("Content-Length", str(len(data))), ("x-amzn-RequestId", str(uuid.uuid4()))],
    )
    return [data]
