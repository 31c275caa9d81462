"""The permissions template.yaml gives each function, as IAM would hold them once deployed.

The template goes through the SAM transform (aws-sam-translator, as CloudFormation's
AWS::Serverless-2016-10-31 transform does), which turns a function's `Policies`,
`DeadLetterQueue` and the like into the function's execution role (`<Function>Role`). Then
every policy that reaches that role is collected and its intrinsic functions are evaluated
for the deployment's parameters (tests/template/cfn.py's Evaluator, the one the template
tests use):
- the role's inline `Policies`;
- its `ManagedPolicyArns` that name an `AWS::IAM::ManagedPolicy` of the template;
- `AWS::IAM::RolePolicy` / `AWS::IAM::Policy` resources on the role, and managed policies
  whose `Roles` name it.
AWS managed policies (SAM's AWSLambdaBasicExecutionRole: CloudWatch Logs for Lambda's own
log delivery) are listed as `aws_managed` and not evaluated: the functions' code calls no
action they grant.

The transform takes about 2 s, so its output is cached on disk by the template's hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
import tempfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "template"))

import cfn  # noqa: E402  (tests/template/cfn.py)


class _NoManagedPolicyMap:
    """SAM resolves policy names to ARNs through IAM; the template names none by short name."""

    def load(self) -> dict:
        return {}


def transformed(path: pathlib.Path) -> dict[str, Any]:
    text = path.read_bytes()
    import samtranslator

    key = hashlib.sha256(text + samtranslator.__version__.encode()).hexdigest()[:32]
    cache = pathlib.Path(tempfile.gettempdir()) / "port-orgscope-sam" / f"{key}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = json.loads(json.dumps(cfn.load(path), default=str))
    template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://placeholder/code.zip"
    out = transform(template, {}, _NoManagedPolicyMap())
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(cache)  # atomic: concurrent emulators may race here
    return out


class _Deployed(cfn.Evaluator):
    """The Evaluator with this deployment's pseudo parameters and the ARNs AWS gives."""

    def __init__(self, template: dict, params: dict[str, str], account: str, region: str,
                 stack_name: str, stack_id: str, function_names: dict[str, str]):
        super().__init__(template, params)
        self.account, self.region, self.stack_name = account, region, stack_name
        self.function_names = function_names
        self.pseudo.update({
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::StackName": stack_name,
            "AWS::StackId": stack_id,
        })

    def _arn(self, logical: str) -> str:
        kind = self.template["Resources"][logical]["Type"]
        if kind == "AWS::Lambda::Function":
            name = self.function_names.get(logical, f"{self.stack_name}-{logical}")
            return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{self.region}:{self.account}:{self.stack_name}-{logical}"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{self.account}:role/{self.stack_name}-{logical}"
        raise ValueError(f"Fn::GetAtt {logical}.Arn: type {kind} is not known to the test bed")

    def eval(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1 and "Fn::GetAtt" in node:
            arg = node["Fn::GetAtt"]
            logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            if attr != "Arn":
                raise ValueError(f"Fn::GetAtt {logical}.{attr} is not known to the test bed")
            return self._arn(logical)
        return super().eval(node)


def function_policies(function: str, *, account: str, region: str, parameters: dict[str, str],
                      stack_name: str = "port-aws-integration", stack_id: str | None = None,
                      function_names: dict[str, str] | None = None,
                      template: pathlib.Path | None = None) -> dict[str, Any]:
    """{"role", "policies": [{"name", "document"}], "aws_managed": [ARN]} for `function` (a
    logical ID of template.yaml, e.g. CustomResourceFunction)."""
    tpl = transformed(template or cfn.TEMPLATE)
    resources = tpl["Resources"]
    if resources.get(function, {}).get("Type") != "AWS::Lambda::Function":
        raise ValueError(f"{function} is not a function of the template; functions: "
                         f"{sorted(k for k, v in resources.items() if v['Type'] == 'AWS::Lambda::Function')}")
    stack_id = stack_id or f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/00000000-0000-4000-8000-000000000000"
    ev = _Deployed(tpl, parameters, account, region, stack_name, stack_id, function_names or {})
    role = function + "Role"
    role_res = resources[role]

    def on_role(v: Any) -> bool:
        return v == {"Ref": role} or (isinstance(v, list) and {"Ref": role} in v)

    def present(res: dict) -> bool:
        return "Condition" not in res or ev.condition(res["Condition"])

    policies: list[dict[str, Any]] = []
    aws_managed: list[str] = []
    props = role_res["Properties"]
    for p in props.get("Policies", []):
        policies.append({"name": f"{role}/{p['PolicyName']}", "document": cfn.policy_document(ev, p["PolicyDocument"])})
    for arn in props.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in resources:
            mp = resources[arn["Ref"]]
            policies.append({"name": arn["Ref"], "document": cfn.policy_document(ev, mp["Properties"]["PolicyDocument"])})
        else:
            aws_managed.append(ev.eval(arn))
    for name, res in resources.items():
        rp = res.get("Properties", {})
        kind = res["Type"]
        if not present(res):
            continue
        if kind == "AWS::IAM::RolePolicy" and on_role(rp.get("RoleName")):
            policies.append({"name": name, "document": cfn.policy_document(ev, rp["PolicyDocument"])})
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and on_role(rp.get("Roles")):
            if not any(p["name"] == name for p in policies):
                policies.append({"name": name, "document": cfn.policy_document(ev, rp["PolicyDocument"])})
    return {"role": role, "policies": policies, "aws_managed": aws_managed}
