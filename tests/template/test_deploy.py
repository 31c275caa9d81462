"""Settings that only show on a real account: the StackSet's own operation preferences, names
that fit AWS's limits whatever the stack name, a schedule EventBridge accepts, the order in
which the custom resources run, and a samconfig that cannot deploy placeholder values."""

import json
import os
import pathlib
import re
import subprocess
import tempfile
import time
import tomllib

import pytest

import cfn

SAM = cfn.ROOT / ".venv" / "sam" / "bin" / "sam"


def refs(node):
    """Logical IDs a node refers to (Ref, Fn::GetAtt, ${X} in Fn::Sub)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                yield v
            elif k == "Fn::GetAtt":
                yield (v.split(".")[0] if isinstance(v, str) else v[0])
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                yield from (m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(v, list):
                    yield from refs(v[1])
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def dependencies(template):
    res = template["Resources"]
    graph = {}
    for name, r in res.items():
        deps = set(r.get("DependsOn", []) if isinstance(r.get("DependsOn"), list) else [r["DependsOn"]] if "DependsOn" in r else [])
        deps |= {x for x in refs(r.get("Properties", {})) if x in res}
        graph[name] = deps
    return graph


def depends_on(graph, a, b):
    """Whether resource a waits for b, directly or through others."""
    seen, todo = set(), [a]
    while todo:
        x = todo.pop()
        for d in graph[x]:
            if d == b:
                return True
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return False


# ------------------------------------------------------------------ StackSet preferences
def test_stackset_updates_run_every_account_at_once_and_tolerate_failures(template):
    # The same values as shared::adapters::cloudformation::PREFERENCES (the Rust test
    # the_stack_sets_own_updates_use_the_preferences_of_the_functions_operations compares the two).
    prefs = cfn.plain(template["Resources"]["PortStackSet"]["Properties"]["OperationPreferences"])
    assert prefs == {
        "RegionConcurrencyType": "PARALLEL",
        "MaxConcurrentPercentage": 100,
        "FailureTolerancePercentage": 100,
        "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
    }


# ------------------------------------------------------------------ any stack name
LONGEST_STACK = "s" + "-a1" * 42 + "x"  # 128 characters, a valid stack name
assert len(LONGEST_STACK) == 128 and re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]*", LONGEST_STACK)


def test_no_function_name_is_built_from_the_stack_name(template, transformed):
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        assert "FunctionName" not in template["Resources"][fn]["Properties"], fn
        lam = transformed["Resources"][fn]
        assert lam["Type"] == "AWS::Lambda::Function"
        assert "FunctionName" not in lam["Properties"], f"{fn}: CloudFormation must generate the name"


def test_every_name_and_description_fits_with_a_128_character_stack_name(template):
    ev = cfn.Evaluator(template, {"TargetOUIds": "ou-abcd-12345678", "PortOrgId": "org_1", "StackSetName": "S" * 128})
    ev.pseudo["AWS::StackName"] = LONGEST_STACK
    res = template["Resources"]
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        desc = ev.eval(res[fn]["Properties"]["Description"])
        assert len(desc) <= 256, f"{fn} Description is {len(desc)} characters (Lambda allows 256)"
    for name, r in res.items():
        if r["Type"] == "AWS::Logs::LogGroup":
            group = ev.eval(r["Properties"]["LogGroupName"])
            assert len(group) <= 512 and re.fullmatch(r"[.\-_/#A-Za-z0-9]+", group), name
    ss = ev.eval(res["PortStackSet"]["Properties"]["Description"])
    assert len(ss) <= 1024
    policy = ev.eval(res["ReconcilerPolicy"]["Properties"]["Description"])
    assert len(policy) <= 1000
    # No other resource takes its name from the stack: CloudFormation generates them.
    for name, r in res.items():
        for key in ("FunctionName", "RoleName", "QueueName", "Name"):
            v = r.get("Properties", {}).get(key)
            if v is not None:
                assert "AWS::StackName" not in json.dumps(cfn.plain(v)), f"{name}.{key}"


def test_self_invocation_is_allowed_on_the_functions_own_arn_only(template, transformed):
    pol = template["Resources"]["CustomResourceSelfInvokePolicy"]
    assert pol["Type"] == "AWS::IAM::RolePolicy"
    p = cfn.plain(pol["Properties"])
    assert p["RoleName"] == {"Ref": "CustomResourceFunctionRole"}
    (st,) = p["PolicyDocument"]["Statement"]
    assert st["Effect"] == "Allow"
    assert st["Action"] == ["lambda:InvokeFunction"]
    assert st["Resource"] == [{"Fn::GetAtt": ["CustomResourceFunction", "Arn"]}]
    # After the transform: that role is the one SAM generates for the function, and no other
    # statement of it allows lambda:InvokeFunction.
    res = transformed["Resources"]
    assert res["CustomResourceFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["CustomResourceFunctionRole", "Arn"]}
    role = res["CustomResourceFunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert "lambda:InvokeFunction" not in json.dumps(role["Properties"].get("Policies", []))
    assert "lambda:" not in json.dumps(template["Resources"]["ReconcilerPolicy"]["Properties"])


def test_the_template_has_no_circular_dependency(transformed):
    graph = dependencies(transformed)
    for name in graph:
        assert not depends_on(graph, name, name), f"{name} depends on itself"


@pytest.mark.parametrize("management_account_id", ["", "999988887777"])
@pytest.mark.parametrize("create_oidc_provider", ["true", "false"])
def test_in_both_modes_nothing_cloudformation_creates_refers_to_a_resource_it_does_not(
    transformed, management_account_id, create_oidc_provider
):
    """After the SAM transform (the roles, permissions and rules SAM generates included), in
    the management account and from a delegated administrator (issue 15): every resource and
    output that exists refers only to resources that exist."""
    ev = cfn.Evaluator(
        transformed,
        {
            "TargetOUIds": "ou-abcd-12345678",
            "PortOrgId": "org_1",
            "ManagementAccountId": management_account_id,
            "CreateOIDCProvider": create_oidc_provider,
        },
    )
    live = {n for n in transformed["Resources"] if cfn.present(ev, "Resources", n)}
    absent = set(transformed["Resources"]) - live
    if management_account_id:
        assert {"PortIntegrationRole", "PortOIDCProvider"} <= absent
    else:
        assert "ManagementAccountEventsPolicy" in absent
    for section in ("Resources", "Outputs"):
        for name, node in transformed[section].items():
            if not cfn.present(ev, section, name):
                continue
            refs = cfn.live_refs(ev, node.get("Properties", node.get("Value")))
            refs |= set(cfn.as_list(node.get("DependsOn", [])))
            assert refs <= live, f"{section}.{name} refers to {sorted(refs - live)}, absent"


# ------------------------------------------------------------------ order of creation
def test_custom_resources_wait_for_the_functions_retry_settings(transformed):
    graph = dependencies(transformed)
    res = transformed["Resources"]
    eic = res["CustomResourceFunctionEventInvokeConfig"]
    assert eic["Type"] == "AWS::Lambda::EventInvokeConfig"
    assert eic["Properties"]["MaximumRetryAttempts"] == 0
    assert eic["Properties"]["FunctionName"] == {"Ref": "CustomResourceFunction"}
    for cr in ("PortPreflight", "PortStackSetInstances"):
        assert depends_on(graph, cr, "CustomResourceFunctionEventInvokeConfig"), cr
    assert depends_on(graph, "PortStackSetInstances", "CustomResourceSelfInvokePolicy")


def test_the_preflight_runs_before_the_stack_set_is_created(template, transformed):
    pf = template["Resources"]["PortPreflight"]
    rust = (cfn.ROOT / "functions" / "custom-resource" / "src" / "preflight_only.rs").read_text()
    (rust_type,) = re.findall(r'pub const RESOURCE_TYPE: &str = "([^"]+)";', rust)
    assert pf["Type"] == rust_type == "Custom::PortPreflight"
    p = cfn.plain(pf["Properties"])
    assert p["ServiceToken"] == {"Fn::GetAtt": ["CustomResourceFunction", "Arn"]}
    assert 60 <= p["ServiceTimeout"] <= 3600
    assert cfn.as_list(template["Resources"]["PortStackSet"]["DependsOn"]) == ["PortPreflight"]
    graph = dependencies(transformed)
    assert depends_on(graph, "PortStackSet", "PortPreflight")
    assert depends_on(graph, "PortStackSetInstances", "PortPreflight")
    # The preflight itself needs nothing the stack creates besides the function.
    assert not depends_on(graph, "PortPreflight", "PortStackSet")
    assert not depends_on(graph, "PortPreflight", "PortIntegrationRole")


# ------------------------------------------------------------------ schedule
def schedule_pattern(template):
    return template["Parameters"]["ReconcileSchedule"]["AllowedPattern"]


ACCEPTED = [
    "rate(1 minute)",
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(6 hours)",
    "rate(12 hours)",
    "rate(1 day)",
    "rate(2 days)",
    "rate(10 days)",
    "cron(0 */6 * * ? *)",
    "cron(0 3 * * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0 9 ? * MON-FRI *)",
    "cron(15 10 ? * 6L 2026-2030)",
    "cron(0 10 ? * 6#3 *)",
    "cron(0 8 1 * ? *)",
    "cron(0 0 L * ? *)",
    "cron(0 0 15W * ? *)",
    "cron(0 12 1 JAN,JUL ? *)",
]

REJECTED = [
    "rate(1 hours)",  # plural with 1
    "rate(6 hour)",  # singular with more than 1
    "rate(0 minutes)",  # value below 1
    "rate(0 minute)",
    "rate(01 hour)",
    "rate(-1 days)",
    "rate(1.5 hours)",
    "rate(6 weeks)",  # no such unit
    "rate(6 HOURS)",
    "rate(6hours)",
    "rate(6  hours)",
    "rate(6 hours) ",
    " rate(6 hours)",
    "cron(0 */6 * * * *)",  # day-of-month and day-of-week both given
    "cron(0 */6 ? * ? *)",  # neither given
    "cron(0 */6 * * ?)",  # five fields
    "cron(0 3 * * ? * *)",  # seven fields
    "cron(0 3 * * ? *",
    "cron()",
    "every 6 hours",
    "",
    "cron(0 3 * * ? *)\nrate(1 hour)",
]


@pytest.mark.parametrize("expr", ACCEPTED)
def test_schedule_accepts_what_eventbridge_accepts(template, expr):
    assert re.fullmatch(schedule_pattern(template), expr), expr


@pytest.mark.parametrize("expr", REJECTED)
def test_schedule_rejects_what_eventbridge_rejects(template, expr):
    # CloudFormation matches AllowedPattern against the whole value.
    assert not re.fullmatch(schedule_pattern(template), expr), repr(expr)


def test_the_schedule_pattern_leaves_cron_number_ranges_to_eventbridge(template):
    # A known limit, stated in the README: field characters are checked, ranges are not.
    assert re.fullmatch(schedule_pattern(template), "cron(99 * * * ? *)")


def test_the_default_schedule_passes_its_own_pattern(template):
    p = template["Parameters"]["ReconcileSchedule"]
    assert re.fullmatch(p["AllowedPattern"], p["Default"])


# ------------------------------------------------------------------ samconfig
def test_samconfig_carries_no_stack_name_and_no_parameter_values():
    cfg = tomllib.loads((cfn.ROOT / "samconfig.toml").read_text())
    for command, section in cfg["default"].items():
        params = section.get("parameters", {})
        assert "parameter_overrides" not in params, command
        assert "stack_name" not in params, command
    # Without values CloudFormation cannot fall back on anything: no defaults.
    t = cfn.load(cfn.TEMPLATE)
    for p in ("TargetOUIds", "PortOrgId"):
        assert "Default" not in t["Parameters"][p], p


def test_a_plain_sam_deploy_stops_at_once_pointing_to_guided():
    with tempfile.TemporaryDirectory() as d:
        for f in ("samconfig.toml", "template.yaml"):
            (pathlib.Path(d) / f).write_text((cfn.ROOT / f).read_text())
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": d,
            "SAM_CLI_TELEMETRY": "0",
            # Any AWS call would fail differently (and slowly): there must be none.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        started = time.monotonic()
        out = subprocess.run([str(SAM), "deploy"], cwd=d, env=env, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
        text = out.stdout + out.stderr
        assert out.returncode == 2, text  # a usage error, before any work
        assert "'sam deploy --guided' can be used to provide and save needed parameters" in text, text
        assert "Uploading" not in text and "changeset" not in text.lower(), text
        assert sorted(p.name for p in pathlib.Path(d).iterdir() if not p.name.startswith(".")) == [
            "samconfig.toml",
            "template.yaml",
        ], "nothing built or written"
        print(f"plain sam deploy failed in {took:.1f} s")


# ------------------------------------------------------------------ outputs for Port
def test_outputs_say_when_the_account_list_was_cut_and_how_to_add_the_management_account(template):
    out = template["Outputs"]
    trunc = out["EnrolledAccountIdsTruncated"]
    assert cfn.plain(trunc["Value"]) == {"Fn::GetAtt": ["PortStackSetInstances", "AccountIdsTruncated"]}
    d = " ".join(str(trunc["Description"]).split())
    assert "orgscope status" in d and "log" in d
    ids = " ".join(str(out["EnrolledAccountIds"]["Description"]).split())
    assert "EnrolledAccountIdsTruncated" in ids
    assert "ManagementAccountId" in ids and "Target Accounts" in ids
    mgmt = " ".join(str(out["ManagementAccountId"]["Description"]).split())
    assert "Target Accounts" in mgmt
