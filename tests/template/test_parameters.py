"""Parameters a first-timer can fill in, and Rules that stop impossible combinations."""

import json
import re

import pytest

import cfn
from conftest import REQUIRED

SEED_GROUPS = {
    # The seed's three, then the tag filter that narrows them (issue 23).
    "Scope of Rollout": [
        "TargetOUIds",
        "AccountScope",
        "TargetAccountIds",
        "TargetAccountTags",
        "ExcludedAccountTags",
    ],
    "Port Identifiers": ["PortOrgId", "IntegrationIdentifier"],
    # The seed's CustomRoleName, then the role's permissions (issue 24).
    "IAM Role Settings": ["CustomRoleName", "PortRolePolicyArns", "PortRolePermissionsBoundaryArn"],
    "OIDC Settings": ["OIDCProviderUrl", "OIDCJwtSubject"],
}


def test_interface_groups_follow_the_seed(template):
    groups = {
        g["Label"]["default"]: list(g["Parameters"])
        for g in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    }
    # First the one question that decides the mode (issue 15), then the seed's groups.
    assert list(groups) == ["Where this stack runs", *SEED_GROUPS, "Advanced"]
    assert groups["Where this stack runs"] == ["ManagementAccountId"]
    for label, params in SEED_GROUPS.items():
        assert groups[label] == params
    assert groups["Advanced"][:2] == ["StackSetName", "CreateOIDCProvider"]
    grouped = [p for ps in groups.values() for p in ps]
    assert sorted(grouped) == sorted(template["Parameters"]), "every parameter, once"


def test_defaults(template):
    p = template["Parameters"]
    assert p["StackSetName"]["Default"] == "Port-Integration-v3"
    assert p["CreateOIDCProvider"]["Default"] == "true"
    assert p["OIDCProviderUrl"]["Default"] == "https://" + cfn.DEFAULT_ISSUER
    assert p["AccountScope"]["AllowedValues"] == ["ALL", "INTERSECTION", "DIFFERENCE"]
    assert p["OnAccountLeavesScope"]["AllowedValues"] == ["DELETE", "RETAIN"]
    assert p["OnAccountLeavesScope"]["Default"] == "DELETE"
    assert p["ReconcileSchedule"]["Default"] == "rate(6 hours)"
    assert p["LogLevel"]["Default"] == "INFO"
    assert p["TargetAccountIds"]["Default"] == ""
    assert p["CustomRoleName"]["Default"] == ""
    for name, spec in p.items():
        assert len(spec.get("Description", "")) >= 40, f"{name}: describe it for a first-timer"
        if "AllowedPattern" in spec:
            text = spec["Description"] + " " + spec["ConstraintDescription"]
            assert any(w in text for w in ("e.g.", "example", "such as")), f"{name}: show an example"


def matches(template, param, value):
    # CloudFormation matches AllowedPattern against the whole value (Java regex); the
    # patterns here use only syntax Python reads the same way.
    return re.fullmatch(template["Parameters"][param]["AllowedPattern"], value) is not None


@pytest.mark.parametrize(
    "value, ok",
    [
        ("ou-abcd-12345678", True),
        ("ou-abcd-12345678,ou-efgh-87654321", True),
        ("ou-abcd-12345678, ou-efgh-87654321 ", True),
        ("r-abcd", True),
        ("ou-abcd-12345678,", True),
        ("", False),
        ("123456789012", False),
        ('["ou-abcd-12345678"]', False),
        ("ou-abcd-12345678;ou-efgh-87654321", False),
        ("OU-ABCD-12345678", False),
    ],
)
def test_target_ou_ids_pattern(template, value, ok):
    assert matches(template, "TargetOUIds", value) is ok


@pytest.mark.parametrize(
    "value, ok",
    [
        ("", True),
        ("123456789012", True),
        ("123456789012,098765432109", True),
        ("123456789012, 098765432109", True),
        ("12345678901", False),
        ("1234567890123", False),
        ("ou-abcd-12345678", False),
        ('["123456789012"]', False),
        ("123456789012 098765432109", False),
        ("   ", False),
    ],
)
def test_target_account_ids_pattern(template, value, ok):
    assert matches(template, "TargetAccountIds", value) is ok


@pytest.mark.parametrize(
    "value, ok",
    [("Port-Integration-v3", True), ("a", True), ("1abc", False), ("has_underscore", False), ("", False)],
)
def test_stack_set_name_pattern(template, value, ok):
    assert matches(template, "StackSetName", value) is ok
    assert template["Parameters"]["StackSetName"]["MaxLength"] == 128


def rules(template, region="us-east-1", **params):
    ev = cfn.Evaluator(template, {**REQUIRED, **params})
    ev.pseudo["AWS::Region"] = region
    return ev.rules_failing()


def test_rules_accept_the_seed_examples(template):
    assert rules(template) == []
    assert rules(template, AccountScope="INTERSECTION", TargetAccountIds="123456789012,234567890123") == []
    assert rules(template, AccountScope="DIFFERENCE", TargetAccountIds="345678901234") == []


def test_rules_reject_filters_without_accounts(template):
    assert rules(template, AccountScope="INTERSECTION") == ["AccountListRequiredForFilter"]
    assert rules(template, AccountScope="DIFFERENCE") == ["AccountListRequiredForFilter"]


def test_rules_reject_accounts_with_all(template):
    assert rules(template, AccountScope="ALL", TargetAccountIds="123456789012") == ["NoAccountListWithAll"]


def test_rules_reject_empty_ous(template):
    assert "TargetOUIdsGiven" in rules(template, TargetOUIds="")


def test_rules_require_us_east_1_in_the_management_account(template):
    assert rules(template, region="eu-west-1") == ["DeployInUsEast1"]
    desc = template["Rules"]["DeployInUsEast1"]["Assertions"][0]["AssertDescription"]
    assert "us-east-1" in desc and "Organizations" in desc and "global" in desc


TAG_PARAMETERS = ("TargetAccountTags", "ExcludedAccountTags")


def test_tag_parameters_are_optional_and_say_syntax_order_and_inheritance(template):
    p = template["Parameters"]
    for name in TAG_PARAMETERS:
        spec = p[name]
        assert (spec["Type"], spec["Default"]) == ("String", ""), name
        text = " ".join(str(spec["Description"]).split())
        assert "key=value1|value2" in text and "key alone" in text, f"{name}: the syntax"
        assert "before Account Scope with Target Account IDs" in text, f"{name}: the order"
        assert "not inherited" in text, f"{name}: OU and root tags do not reach accounts"
    worked = " ".join(str(p["TargetAccountTags"]["Description"]).split())
    assert "env=prod leaves A and B; DIFFERENCE with B listed then leaves A" in worked
    assert "port:exclude=true" in str(p["ExcludedAccountTags"]["Description"])


def test_tag_parameters_reach_the_preflight_and_the_custom_resource_as_given(template):
    """Both as properties of the same names (checked first by the preflight, before the
    StackSet changes); with the defaults "" the custom resource sees no tag filter, and the
    StackSet, the member template and its parameters do not depend on them: an empty filter
    deploys what was deployed before these parameters existed."""
    res = template["Resources"]
    for name in ("PortPreflight", "PortStackSetInstances"):
        props = cfn.plain(res[name]["Properties"])
        for param in TAG_PARAMETERS:
            assert props[param] == {"Ref": param}, f"{name}.{param}"
    stack_set = json.dumps(cfn.plain(res["PortStackSet"]))
    for param in TAG_PARAMETERS:
        assert param not in stack_set
    ev = cfn.Evaluator(template, dict(REQUIRED))
    props = ev.eval(res["PortStackSetInstances"]["Properties"])
    assert (props["TargetAccountTags"], props["ExcludedAccountTags"]) == ("", "")
