"""IAM policy evaluation for the test bed.

A request signed with the access key of a registered principal (see `Principals`) is
authorized against that principal's identity-based policies as IAM does it (IAM User Guide,
"Policy evaluation logic", "Determining whether a request is allowed or denied within an
account"): an explicit Deny in any statement wins; otherwise some Allow statement must cover
the action, the resource and its conditions; anything else is an implicit deny. An action
authorized against several resources (CreateStackInstances: the StackSet, each deployment
target, each resource type of the template) is allowed only if every one is allowed.

moto's own IAM enforcement (`INITIAL_NO_AUTH_ACTION_COUNT`) checks the action against
resource "*" for these services and evaluates no conditions, so the layer authorizes itself.
Requests signed with any other key (the tests' own `testing` key) stay unrestricted: they play
an administrator setting up the world.

What is evaluated (IAM User Guide, "IAM JSON policy elements reference"): Effect, Action,
NotAction, Resource, NotResource, Condition with the operators below, the `ForAllValues:` and
`ForAnyValue:` set prefixes and the `...IfExists` suffix. A policy that uses anything else
(a Principal element in an identity policy, an unknown operator) raises `PolicyError`: the
test bed refuses to guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# IAM User Guide, "IAM JSON policy elements: Condition operators".
_STRING_OPS = {
    "StringEquals": (lambda pat, v: pat == v, False),
    "StringNotEquals": (lambda pat, v: pat == v, True),
    "StringEqualsIgnoreCase": (lambda pat, v: pat.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda pat, v: pat.lower() == v.lower(), True),
    "StringLike": (lambda pat, v: glob(pat, v), False),
    "StringNotLike": (lambda pat, v: glob(pat, v), True),
    "ArnEquals": (lambda pat, v: glob(pat, v), False),
    "ArnLike": (lambda pat, v: glob(pat, v), False),
    "ArnNotEquals": (lambda pat, v: glob(pat, v), True),
    "ArnNotLike": (lambda pat, v: glob(pat, v), True),
    "Bool": (lambda pat, v: pat.lower() == v.lower(), False),
}


class PolicyError(Exception):
    """A policy the evaluator does not understand: never silently allowed or denied."""


def glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters (also none), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


@dataclass
class Request:
    """What IAM authorizes: `service:Action`, every resource ARN the action is authorized
    against ("*" for actions that support no resource type), and the request's condition keys
    (each a list of values)."""

    action: str
    resources: list[str]
    context: dict[str, list[str]] = field(default_factory=dict)


def _condition_holds(op: str, key: str, wanted: Any, context: dict[str, list[str]]) -> bool:
    prefix = None
    if ":" in op:
        prefix, op = op.split(":", 1)
        if prefix not in ("ForAllValues", "ForAnyValue"):
            raise PolicyError(f"unknown condition set operator {prefix}")
    if_exists = op.endswith("IfExists") and op != "IfExists"
    if if_exists:
        op = op[: -len("IfExists")]
    present = {k.lower(): v for k, v in context.items()}
    values = present.get(key.lower())
    wanted = [str(w) for w in as_list(wanted)]
    if op == "Null":
        # "true": the key must be absent; "false": present.
        return (values is None) == (wanted[0].lower() == "true")
    if op not in _STRING_OPS:
        raise PolicyError(f"condition operator {op} is not evaluated by the test bed")
    match, negated = _STRING_OPS[op]

    def one(v: str) -> bool:
        hit = any(match(w, v) for w in wanted)
        return not hit if negated else hit

    if values is None:
        if prefix == "ForAllValues":
            return True  # vacuously true (IAM User Guide, "Multivalued context keys")
        if if_exists:
            return True
        return negated and prefix is None
    if prefix == "ForAllValues":
        return all(one(v) for v in values)
    if prefix == "ForAnyValue":
        return any(one(v) for v in values)
    # A single-valued operator: the request's value must match (for a negated operator: match none).
    return all(one(v) for v in values) if negated else any(one(v) for v in values)


def _statement_applies(st: dict[str, Any], action: str, resource: str, context: dict[str, list[str]]) -> bool:
    if "Principal" in st or "NotPrincipal" in st:
        raise PolicyError("an identity-based policy has no Principal element")
    if "Action" in st:
        if not any(glob(a, action, ignore_case=True) for a in as_list(st["Action"])):
            return False
    elif "NotAction" in st:
        if any(glob(a, action, ignore_case=True) for a in as_list(st["NotAction"])):
            return False
    else:
        raise PolicyError(f"statement {st.get('Sid')!r} has neither Action nor NotAction")
    if "Resource" in st:
        if not any(glob(r, resource) for r in as_list(st["Resource"])):
            return False
    elif "NotResource" in st:
        if any(glob(r, resource) for r in as_list(st["NotResource"])):
            return False
    else:
        raise PolicyError(f"statement {st.get('Sid')!r} has neither Resource nor NotResource")
    for op, keys in (st.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(op, key, wanted, context):
                return False
    return True


def statements(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for doc in policies:
        out.extend(as_list(doc.get("Statement")))
    return out


def decide(policies: list[dict[str, Any]], req: Request) -> tuple[bool, str | None, bool]:
    """(allowed, the first resource refused, whether an explicit Deny refused it)."""
    sts = statements(policies)
    for resource in req.resources or ["*"]:
        if any(st.get("Effect") == "Deny" and _statement_applies(st, req.action, resource, req.context) for st in sts):
            return False, resource, True
        if not any(st.get("Effect") == "Allow" and _statement_applies(st, req.action, resource, req.context) for st in sts):
            return False, resource, False
    return True, None, False


def denial_message(principal_arn: str, action: str, resource: str, explicit: bool) -> str:
    """AWS's wording (IAM User Guide, "Troubleshoot access denied error messages")."""
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {why}"


@dataclass
class Principal:
    name: str
    account: str
    arn: str
    policies: list[dict[str, Any]]


class Principals:
    """Access key -> principal. Only the keys registered here are authorized."""

    def __init__(self) -> None:
        self.by_key: dict[str, Principal] = {}

    def add(self, access_key: str, principal: Principal) -> None:
        for st in statements(principal.policies):  # refuse what cannot be evaluated, now
            if st.get("Effect") not in ("Allow", "Deny"):
                raise PolicyError(f"statement {st.get('Sid')!r} has Effect {st.get('Effect')!r}")
            if "Principal" in st or "NotPrincipal" in st:
                raise PolicyError("an identity-based policy has no Principal element")
            if not ({"Action", "NotAction"} & set(st)) or not ({"Resource", "NotResource"} & set(st)):
                raise PolicyError(f"statement {st.get('Sid')!r} needs Action (or NotAction) and Resource (or NotResource)")
            for op, keys in (st.get("Condition") or {}).items():
                for key, wanted in keys.items():
                    _condition_holds(op, key, wanted, {})
        self.by_key[access_key] = principal

    def get(self, access_key: str | None) -> Principal | None:
        return self.by_key.get(access_key or "")

    def clear(self) -> None:
        self.by_key.clear()


__all__ = ["Request", "Principal", "Principals", "PolicyError", "decide", "denial_message", "glob"]
