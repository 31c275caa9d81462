"""Helpers for the template tests: load templates with cfn-lint's decoder (so !Ref, !Sub and
friends parse) and evaluate the few intrinsic functions the templates use, for given
parameter values, the way CloudFormation would."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MEMBER_TEMPLATE = ROOT / "templates" / "member-role.yaml"
# The companion deployed in the management account when the main stack runs in a delegated
# administrator account (issue 15).
MANAGEMENT_TEMPLATE = ROOT / "templates" / "management-account.yaml"

ACCOUNT = "111122223333"
REGION = "us-east-1"
PARTITION = "aws"
STACK = "port-aws-integration"
STACK_ID = f"arn:aws:cloudformation:us-east-1:111122223333:stack/{STACK}/2f6a1c30-9a2b-11ef-8d4e-0affd1a2b3c4"
DEFAULT_ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4"


def load(path: pathlib.Path) -> dict:
    template, matches = decode(str(path))
    assert not matches, f"{path} does not parse: {matches}"
    return template


def plain(value: Any) -> Any:
    """cfn-lint's node types -> plain dict/list/str, for comparisons and printing."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


class Evaluator:
    """Evaluates Ref, Fn::Sub, Fn::Select, Fn::Split, Fn::Join, Fn::If, Fn::GetAtt, Fn::Equals, Fn::Not,
    Fn::Or, Fn::And, Fn::Contains and Condition against parameter values. Resource Refs give
    the value AWS gives for the types these templates use (the ARN of an OIDC provider, the
    name of a role, the URL of a queue)."""

    def __init__(self, template: dict, params: dict[str, str] | None = None):
        self.template = template
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            if "Default" in spec:
                self.params[name] = str(spec["Default"])
        self.params.update(params or {})
        self.pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": STACK,
            "AWS::StackId": STACK_ID,
            "AWS::URLSuffix": "amazonaws.com",
            # The property is left out; kept visible so that tests can tell.
            "AWS::NoValue": "<Ref AWS::NoValue>",
        }

    # -- conditions
    def condition(self, name: str) -> bool:
        return bool(self.eval(self.template["Conditions"][name]))

    # -- values
    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        res = self.template["Resources"][name]
        kind = res["Type"]
        props = res.get("Properties", {})
        if kind == "AWS::IAM::OIDCProvider":
            url = self.eval(props["Url"])
            host = url.split("https://", 1)[1]
            return f"arn:{PARTITION}:iam::{ACCOUNT}:oidc-provider/{host}"
        if kind == "AWS::IAM::Role":
            return self.eval(props["RoleName"])
        if kind == "AWS::Logs::LogGroup":
            return self.eval(props["LogGroupName"])
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{STACK}-{name}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-{name}"
        return f"<Ref {name}>"

    def sub(self, text: str, extra: dict[str, Any]) -> str:
        def one(m: re.Match) -> str:
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in extra:
                return str(extra[key])
            if "." in key:
                return f"<GetAtt {key}>"
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def eval(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::Sub":
                if isinstance(arg, list):
                    text, mapping = arg
                    extra = {k: self.eval(v) for k, v in mapping.items()}
                    return self.sub(text, extra)
                return self.sub(arg, {})
            if fn == "Fn::Select":
                index, items = arg
                return self.eval(items)[int(self.eval(index))]
            if fn == "Fn::Split":
                sep, text = arg
                return self.eval(text).split(sep)
            if fn == "Fn::Join":
                sep, items = arg
                return sep.join(str(v) for v in self.eval(items))
            if fn == "Fn::If":
                cond, yes, no = arg
                return self.eval(yes if self.condition(cond) else no)
            if fn == "Fn::GetAtt":
                target = arg if isinstance(arg, str) else ".".join(arg)
                return f"<GetAtt {target}>"
            if fn == "Fn::Equals":
                a, b = arg
                return str(self.eval(a)) == str(self.eval(b))
            if fn == "Fn::Not":
                return not self.eval(arg[0])
            if fn == "Fn::Or":
                return any(self.eval(a) for a in arg)
            if fn == "Fn::And":
                return all(self.eval(a) for a in arg)
            if fn == "Fn::Contains":
                # Rules only: true when the string is one of the list's (AWS CloudFormation
                # User Guide, "Rule functions").
                items, value = arg
                return str(self.eval(value)) in [str(v) for v in self.eval(items)]
            if fn == "Condition":
                return self.condition(arg)
        if isinstance(node, dict):
            return {str(k): self.eval(v) for k, v in node.items()}
        if isinstance(node, list):
            # In a list, Ref AWS::NoValue removes the element (AWS CloudFormation User Guide,
            # "Pseudo parameters reference", AWS::NoValue).
            return [v for v in (self.eval(v) for v in node) if v != self.pseudo["AWS::NoValue"]]
        if isinstance(node, str):
            return str(node)
        return node

    def rules_failing(self) -> list[str]:
        """Names of the template Rules whose assertions fail for these parameters."""
        failing = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.eval(rule["RuleCondition"]):
                continue
            if not all(self.eval(a["Assert"]) for a in rule["Assertions"]):
                failing.append(name)
        return failing


def policy_document(ev: Evaluator, doc: Any) -> dict:
    """A policy document as IAM would receive it: evaluated, JSON strings parsed."""
    value = ev.eval(doc)
    if isinstance(value, str):
        value = json.loads(value)
    return value


def statements(doc: dict) -> list[dict]:
    st = doc["Statement"]
    return st if isinstance(st, list) else [st]


def as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def all_policy_documents(template: dict, ev: Evaluator) -> list[tuple[str, dict]]:
    """Every IAM policy document in a template, evaluated: trust policies, inline and managed
    policies, and SAM function policies (inline documents)."""
    out = []
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        kind = res["Type"]
        if kind == "AWS::IAM::Role":
            out.append((f"{name}.AssumeRolePolicyDocument", policy_document(ev, props["AssumeRolePolicyDocument"])))
            for p in props.get("Policies", []):
                out.append((f"{name}.Policies.{p['PolicyName']}", policy_document(ev, p["PolicyDocument"])))
        elif kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            out.append((name, policy_document(ev, props["PolicyDocument"])))
        elif kind == "AWS::Serverless::Function":
            for i, p in enumerate(as_list(props.get("Policies", []))):
                if isinstance(p, dict) and "Statement" in p:
                    out.append((f"{name}.Policies[{i}]", policy_document(ev, p)))
    return out


def present(ev: Evaluator, section: str, name: str) -> bool:
    """Whether a resource or output exists for the evaluator's parameters (its Condition)."""
    cond = ev.template[section][name].get("Condition")
    return cond is None or ev.condition(cond)


def live_refs(ev: Evaluator, node: Any) -> set[str]:
    """Logical IDs a node refers to (Ref, Fn::GetAtt, ${X} in Fn::Sub) once every Fn::If is
    resolved for the evaluator's parameters: what CloudFormation would need to exist.
    Parameters and pseudo parameters are left out."""
    out: set[str] = set()
    skip = set(ev.template.get("Parameters", {}))

    def walk(n: Any, local: frozenset = frozenset()) -> None:
        if isinstance(n, dict) and len(n) == 1:
            (fn, arg), = n.items()
            if fn == "Fn::If":
                cond, yes, no = arg
                walk(yes if ev.condition(cond) else no, local)
                return
            if fn == "Ref":
                if arg not in skip and not arg.startswith("AWS::"):
                    out.add(arg)
                return
            if fn == "Fn::GetAtt":
                out.add(arg.split(".")[0] if isinstance(arg, str) else arg[0])
                return
            if fn == "Fn::Sub":
                text, mapping = (arg, {}) if isinstance(arg, str) else arg
                for v in mapping.values():
                    walk(v, local)
                for key in re.findall(r"\$\{([^}!][^}]*)\}", text):
                    name = key.split(".")[0]
                    if name in mapping or name in skip or name.startswith("AWS::"):
                        continue
                    out.add(name)
                return
        if isinstance(n, dict):
            for v in n.values():
                walk(v, local)
        elif isinstance(n, list):
            for v in n:
                walk(v, local)

    walk(node)
    return out


# The queue the organization events go through (rule -> OrgEventsQueue -> org-events).
ORG_EVENTS_QUEUE = "OrgEventsQueue"


def org_events_rules(template: dict) -> dict[str, dict]:
    """The AWS::Events::Rule resources of template.yaml that feed the org-events queue, by
    logical ID (OrganizationsApiCallsRule, ...)."""
    def targets_queue(r: dict) -> bool:
        return any(
            plain(t.get("Arn")) == {"Fn::GetAtt": [ORG_EVENTS_QUEUE, "Arn"]}
            for t in r.get("Properties", {}).get("Targets", [])
        )

    return {
        n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule" and targets_queue(r)
    }


def org_events_patterns(template: dict) -> dict[str, dict]:
    """Those rules' event patterns, keyed by the name the events had as SAM EventBridgeRule
    events of the function (the logical ID without its "Rule" suffix: OrganizationsApiCalls,
    AccountMembership, AccountCreated, ControlTowerAccount)."""
    return {n.removesuffix("Rule"): plain(r["Properties"]["EventPattern"]) for n, r in org_events_rules(template).items()}
