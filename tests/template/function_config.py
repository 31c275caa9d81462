"""Prints, as JSON, what Lambda configures for one function of template.yaml under given
parameter values: its LoggingConfig and its environment variables, evaluated the way
CloudFormation would (cfn.Evaluator), with SAM's Globals merged in (a map in Globals.Function
is merged with the function's, the function's keys winning: AWS SAM developer guide, "Globals
section of the AWS SAM template"). The test bed's Lambda runner (tests/src/lambda_logs/)
reads it, so that the local runs apply the template's own log-level filter.

Usage: function_config.py LOGICAL_ID [Name=Value ...]
A parameter value outside the parameter's AllowedValues is refused, as CloudFormation refuses
it, naming the value and the allowed ones (exit 2)."""

from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import cfn  # noqa: E402


def merged(globals_: dict, own: dict, key: str) -> dict:
    out = dict(cfn.plain(globals_.get(key) or {}))
    out.update(cfn.plain(own.get(key) or {}))
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    logical_id, pairs = argv[0], argv[1:]
    template = cfn.load(cfn.TEMPLATE)
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            print(f"`{pair}` is not Name=Value", file=sys.stderr)
            return 2
        spec = template.get("Parameters", {}).get(name)
        if spec is None:
            print(f"template.yaml has no parameter `{name}`", file=sys.stderr)
            return 2
        allowed = [str(v) for v in spec.get("AllowedValues", [])]
        if allowed and value not in allowed:
            print(f"{name}: `{value}` is not allowed; template.yaml allows {', '.join(allowed)}", file=sys.stderr)
            return 2
        params[name] = value
    resource = template["Resources"].get(logical_id)
    if resource is None or resource["Type"] != "AWS::Serverless::Function":
        functions = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
        print(f"`{logical_id}` is not a function of template.yaml; its functions: {', '.join(functions)}", file=sys.stderr)
        return 2
    ev = cfn.Evaluator(template, params)
    own = resource.get("Properties", {})
    glob = template.get("Globals", {}).get("Function", {})
    logging = ev.eval(merged(glob, own, "LoggingConfig"))
    variables = ev.eval(
        {**cfn.plain((glob.get("Environment") or {}).get("Variables") or {}),
         **cfn.plain((own.get("Environment") or {}).get("Variables") or {})}
    )
    json.dump({"LoggingConfig": logging, "Variables": variables}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
