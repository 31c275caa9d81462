"""templates/management-account.yaml, the companion of a main stack deployed from a delegated
administrator (issue 15): Port's role and provider in the management account, identical to the
main template's; rules in us-east-1 forwarding exactly the events the main template's
org-events rules match to the delegated administrator's default bus, through a role that may
do nothing else."""

import json
import re

import pytest

import cfn
from conftest import REQUIRED

MANAGEMENT = "999988887777"  # where the companion runs
DELEGATED = cfn.ACCOUNT  # where the main stack runs
DA_REGION = "eu-west-1"
BUS = f"arn:aws:events:{DA_REGION}:{DELEGATED}:event-bus/default"
# The main template's parameters the companion takes too, with the same spec.
SHARED = [
    "PortOrgId",
    "IntegrationIdentifier",
    "CustomRoleName",
    "PortRolePolicyArns",
    "PortRolePermissionsBoundaryArn",
    "OIDCProviderUrl",
    "OIDCJwtSubject",
    "CreateOIDCProvider",
]


def companion_ev(companion, **params):
    ev = cfn.Evaluator(
        companion,
        {
            "DelegatedAdminAccountId": DELEGATED,
            "DelegatedAdminRegion": DA_REGION,
            "PortOrgId": REQUIRED["PortOrgId"],
            **params,
        },
    )
    ev.pseudo["AWS::AccountId"] = MANAGEMENT
    return ev


def main_patterns(template):
    """The org-events rules' patterns, read from template.yaml (the rules that send the
    events to the org-events queue), keyed OrganizationsApiCalls, AccountMembership, ..."""
    return cfn.org_events_patterns(template)


def forwarding_rules(companion):
    return {n: r for n, r in companion["Resources"].items() if r["Type"] == "AWS::Events::Rule"}


# ------------------------------------------------------------------ forwarding rules
def test_forwarding_rules_match_exactly_the_main_templates_org_events_patterns(template, companion):
    main = main_patterns(template)
    assert len(main) == 4
    forwarded = {n.removeprefix("Forward"): cfn.plain(r["Properties"]["EventPattern"]) for n, r in forwarding_rules(companion).items()}
    assert forwarded == main
    # Whatever the names: the same set of patterns, none more, none less.
    canon = lambda ps: sorted(json.dumps(p, sort_keys=True) for p in ps)  # noqa: E731
    assert canon(forwarded.values()) == canon(main.values())


def test_each_rule_is_enabled_on_the_default_bus_and_targets_only_the_delegated_administrators_bus(companion):
    ev = companion_ev(companion)
    rules = forwarding_rules(companion)
    assert rules
    for name, r in rules.items():
        p = ev.eval(r["Properties"])
        assert p["EventBusName"] == "default", name
        assert p["State"] == "ENABLED", name
        (target,) = p["Targets"]
        assert target["Arn"] == BUS, name
        assert target["RoleArn"] == "<GetAtt OrgEventsForwardingRole.Arn>", name
        assert set(target) == {"Id", "Arn", "RoleArn"}, f"{name}: the event is forwarded whole, untransformed"


def test_the_target_bus_is_the_one_the_main_stacks_policy_opens_to_this_account(template, companion):
    """The companion's target, evaluated in the management account, is the bus the main stack
    (evaluated in the delegated administrator, in its region) opens to exactly that account."""
    main = cfn.Evaluator(template, {**REQUIRED, "ManagementAccountId": MANAGEMENT})
    main.pseudo["AWS::Region"] = DA_REGION
    st = main.eval(template["Resources"]["ManagementAccountEventsPolicy"]["Properties"]["Statement"])
    assert st["Resource"] == BUS
    assert st["Principal"] == {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}
    sent = {s for r in forwarding_rules(companion).values() for s in r["Properties"]["EventPattern"]["source"]}
    (cond,) = st["Condition"].values()
    assert sent == set(cond["events:source"]), "the bus accepts every source the companion forwards"


def test_rule_names_fit_eventbridge_with_the_longest_identifier(companion):
    ev = companion_ev(companion, IntegrationIdentifier="A" * 44)
    names = [ev.eval(r["Properties"]["Name"]) for r in forwarding_rules(companion).values()]
    assert len(set(names)) == len(names)
    for n in names:
        # EventBridge: at most 64 characters of [.-_A-Za-z0-9].
        assert re.fullmatch(r"[.\-_A-Za-z0-9]{1,64}", n), (n, len(n))


# ------------------------------------------------------------------ the forwarding role
def forwarding_role(companion):
    return companion["Resources"]["OrgEventsForwardingRole"]


def test_the_forwarding_role_may_only_put_events_on_the_delegated_administrators_bus(companion):
    ev = companion_ev(companion)
    props = forwarding_role(companion)["Properties"]
    assert "ManagedPolicyArns" not in props and "PermissionsBoundary" not in props
    (policy,) = props["Policies"]
    (st,) = cfn.statements(cfn.policy_document(ev, policy["PolicyDocument"]))
    assert st["Effect"] == "Allow"
    assert cfn.as_list(st["Action"]) == ["events:PutEvents"]
    assert cfn.as_list(st["Resource"]) == [BUS]
    assert "Condition" not in st
    # No other policy in the template reaches the role.
    others = [n for n, r in companion["Resources"].items() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy")]
    assert others == []


def test_the_forwarding_role_is_assumable_only_by_this_stacks_rules(companion):
    ev = companion_ev(companion)
    doc = cfn.policy_document(ev, forwarding_role(companion)["Properties"]["AssumeRolePolicyDocument"])
    (st,) = cfn.statements(doc)
    assert st["Effect"] == "Allow"
    assert st["Principal"] == {"Service": "events.amazonaws.com"}
    assert st["Action"] == "sts:AssumeRole"
    # aws:SourceArn is the rule's ARN for event bus targets (EventBridge user guide,
    # "Cross-service confused deputy prevention").
    rule_arns = {
        f"arn:aws:events:{cfn.REGION}:{MANAGEMENT}:rule/{ev.eval(r['Properties']['Name'])}"
        for r in forwarding_rules(companion).values()
    }
    assert set(st["Condition"]) == {"StringEquals", "ArnEquals"}
    assert st["Condition"]["StringEquals"] == {"aws:SourceAccount": MANAGEMENT}
    (key,) = st["Condition"]["ArnEquals"]
    assert key == "aws:SourceArn"
    assert set(st["Condition"]["ArnEquals"][key]) == rule_arns


def test_no_wildcards_in_any_companion_policy(companion):
    ev = companion_ev(companion)
    docs = cfn.all_policy_documents(companion, ev)
    assert len(docs) == 3  # Port's trust, the forwarding role's trust and its policy
    for where, doc in docs:
        for s in cfn.statements(doc):
            for a in cfn.as_list(s["Action"]):
                assert "*" not in a, (where, a)
            for r in cfn.as_list(s.get("Resource", [])):
                assert "*" not in r, (where, r)


# ------------------------------------------------------------------ Port's role and provider
@pytest.mark.parametrize("resource", ["PortIntegrationRole", "PortOIDCProvider"])
def test_ports_role_and_provider_are_the_main_templates(template, companion, resource):
    main = template["Resources"][resource]
    comp = companion["Resources"][resource]
    assert comp["Type"] == main["Type"]
    assert cfn.plain(comp["Properties"]) == cfn.plain(main["Properties"])


def test_the_conditions_of_the_role_and_provider_are_the_main_templates(template, companion):
    assert companion["Resources"]["PortOIDCProvider"]["Condition"] == "CreateOIDCProviderHere"
    # Here the stack's CreateOIDCProvider is the management account's only switch.
    assert cfn.plain(companion["Conditions"]["CreateOIDCProviderHere"]) == {
        "Fn::Equals": [{"Ref": "CreateOIDCProvider"}, "true"]
    }
    assert "Condition" not in companion["Resources"]["PortIntegrationRole"]
    for cond in ("UseDefaultRoleName", "DeriveJwtSubject"):
        assert cfn.plain(companion["Conditions"][cond]) == cfn.plain(template["Conditions"][cond]), cond


@pytest.mark.parametrize(
    "params",
    [{}, {"CreateOIDCProvider": "false"}, {"CustomRoleName": "MyPortRole", "OIDCJwtSubject": "system:serviceaccount:x"}],
)
def test_the_role_trusts_what_the_main_templates_role_trusts(template, companion, params):
    """Evaluated in the same account with the same values: the same role name, trust and
    policies as the main template deployed in the management account."""
    main = cfn.Evaluator(template, {**REQUIRED, **params})
    main.pseudo["AWS::AccountId"] = MANAGEMENT
    comp = companion_ev(companion, **params)
    m = main.eval(template["Resources"]["PortIntegrationRole"]["Properties"])
    c = comp.eval(companion["Resources"]["PortIntegrationRole"]["Properties"])
    assert c == m
    assert c["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    trust = json.loads(c["AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"


def test_the_role_arn_output_equals_the_main_stacks_in_delegated_admin_mode(template, companion):
    for custom in ("", "MyPortRole"):
        main = cfn.Evaluator(template, {**REQUIRED, "ManagementAccountId": MANAGEMENT, "CustomRoleName": custom})
        comp = companion_ev(companion, CustomRoleName=custom)
        name = comp.eval(companion["Resources"]["PortIntegrationRole"]["Properties"]["RoleName"])
        # IAM gives a role without a Path the ARN arn:<partition>:iam::<account>:role/<name>.
        assert "Path" not in companion["Resources"]["PortIntegrationRole"]["Properties"]
        assert main.eval(template["Outputs"]["PortIntegrationRoleArn"]["Value"]) == f"arn:aws:iam::{MANAGEMENT}:role/{name}"


# ------------------------------------------------------------------ parameters and rules
def test_shared_parameters_keep_the_main_templates_names_and_specs(template, companion):
    params = companion["Parameters"]
    assert set(params) == {"DelegatedAdminAccountId", "DelegatedAdminRegion", *SHARED}
    for name in SHARED:
        main = {k: v for k, v in template["Parameters"][name].items() if k != "Description"}
        comp = {k: v for k, v in params[name].items() if k != "Description"}
        assert cfn.plain(comp) == cfn.plain(main), name


def test_every_parameter_is_grouped_once_and_described_with_an_example(companion):
    iface = companion["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for g in iface["ParameterGroups"] for p in g["Parameters"]]
    assert sorted(grouped) == sorted(companion["Parameters"])
    assert iface["ParameterGroups"][0]["Parameters"] == ["DelegatedAdminAccountId", "DelegatedAdminRegion"]
    assert set(iface["ParameterLabels"]) == set(companion["Parameters"])
    for name, spec in companion["Parameters"].items():
        assert len(spec.get("Description", "")) >= 40, name
        if "AllowedPattern" in spec:
            text = spec["Description"] + " " + spec["ConstraintDescription"]
            assert any(w in text for w in ("e.g.", "example", "such as")), name


@pytest.mark.parametrize(
    "value, ok",
    [
        ("us-east-1", True),
        ("eu-west-1", True),
        ("ap-southeast-2", True),
        # Regions where AWS registers no delegated administrator for StackSets, and GovCloud
        # (no cross-region event routing there): test_regions.py has the list and sources.
        ("eu-central-2", False),
        ("us-gov-west-1", False),
        ("Europe (Ireland)", False),
        ("eu-west", False),
        ("", False),
        ("eu-west-1 ", False),
    ],
)
def test_delegated_admin_region_takes_a_region_code(companion, value, ok):
    assert (value in cfn.plain(companion["Parameters"]["DelegatedAdminRegion"]["AllowedValues"])) is ok


@pytest.mark.parametrize(
    "value, ok",
    [("123456789012", True), ("012345678901", True), ("", False), ("12345678901", False), ("123456789012,", False)],
)
def test_delegated_admin_account_id_takes_one_account_id(companion, value, ok):
    assert "Default" not in companion["Parameters"]["DelegatedAdminAccountId"]
    assert (re.fullmatch(companion["Parameters"]["DelegatedAdminAccountId"]["AllowedPattern"], value) is not None) is ok


def rules_failing(companion, region="us-east-1", account=MANAGEMENT, **params):
    ev = companion_ev(companion, **params)
    ev.pseudo["AWS::Region"] = region
    ev.pseudo["AWS::AccountId"] = account
    return ev.rules_failing()


def test_the_companion_deploys_only_in_us_east_1(companion):
    assert rules_failing(companion) == []
    assert rules_failing(companion, region=DA_REGION) == ["DeployInUsEast1"]
    desc = companion["Rules"]["DeployInUsEast1"]["Assertions"][0]["AssertDescription"]
    assert "us-east-1" in desc and "management account" in desc


def test_the_companion_refuses_the_delegated_administrators_own_account(companion):
    assert rules_failing(companion, account=DELEGATED) == ["DeployInTheManagementAccount"]


# ------------------------------------------------------------------ outputs, tags, lint
def test_outputs_give_ports_role_arn_and_the_value_for_the_main_stack(companion):
    ev = companion_ev(companion)
    out = companion["Outputs"]
    assert cfn.plain(out["PortIntegrationRoleArn"]["Value"]) == {"Fn::GetAtt": ["PortIntegrationRole", "Arn"]}
    assert cfn.plain(out["PortIntegrationRoleName"]["Value"]) == {"Ref": "PortIntegrationRole"}
    # What to enter as the main stack's ManagementAccountId.
    assert ev.eval(out["ManagementAccountId"]["Value"]) == MANAGEMENT
    assert "ManagementAccountId" in out["ManagementAccountId"]["Description"]
    assert ev.eval(out["ForwardedToEventBusArn"]["Value"]) == BUS


def test_iam_resources_are_tagged_with_the_integration(companion):
    for name, r in companion["Resources"].items():
        if r["Type"].startswith("AWS::IAM::"):
            tags = {t["Key"]: cfn.plain(t["Value"]) for t in r["Properties"]["Tags"]}
            assert tags == {"port:integration": {"Ref": "IntegrationIdentifier"}}, name


def test_the_companion_is_plain_cloudformation_deployable_from_the_console(companion):
    # No transform (no CAPABILITY_AUTO_EXPAND, no packaging), no code, no nested template.
    assert "Transform" not in companion
    kinds = {r["Type"] for r in companion["Resources"].values()}
    assert kinds == {"AWS::IAM::OIDCProvider", "AWS::IAM::Role", "AWS::Events::Rule"}


def test_lint_templates_lints_the_companion():
    """scripts/lint-templates (run by tests/template/run) runs cfn-lint and checkov on it."""
    script = (cfn.ROOT / "scripts" / "lint-templates").read_text()
    (line,) = [l for l in script.splitlines() if l.startswith("TEMPLATES=(")]
    assert "templates/management-account.yaml" in line.removeprefix("TEMPLATES=(").removesuffix(")").split()
