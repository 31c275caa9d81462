"""Port's role's permissions (issue 24, section 1): PortRolePolicyArns and
PortRolePermissionsBoundaryArn give the same managed policies and boundary to the three roles
that exist, each evaluated in its own account: the management account's role of template.yaml,
the member role the StackSet deploys, and the companion's role (templates/management-account.yaml)
in delegated-administrator mode. A customer managed policy's ARN means the policy of that path
and name in each role's own account (IAM attaches a customer managed policy only to identities
of its own account: IAM User Guide, "Managed policies and inline policies")."""

import re

import pytest

import cfn
from conftest import REQUIRED
from test_management_account import MANAGEMENT, companion_ev
from test_trust import member_params

MEMBER = "444455556666"  # a member account the StackSet deploys to
PARAMS = ("PortRolePolicyArns", "PortRolePermissionsBoundaryArn")


def three_roles(template, member, companion, params):
    """{where: (account, evaluated role properties)} for the three roles."""
    main = cfn.Evaluator(template, {**REQUIRED, **params})
    main.pseudo["AWS::AccountId"] = MANAGEMENT
    mem = cfn.Evaluator(member, member_params(template, main))
    mem.pseudo["AWS::AccountId"] = MEMBER
    comp = companion_ev(companion, **params)
    return {
        "management (template.yaml)": (MANAGEMENT, main.eval(template["Resources"]["PortIntegrationRole"]["Properties"])),
        "member (StackSet)": (MEMBER, mem.eval(member["Resources"]["PortIntegrationRole"]["Properties"])),
        "management (companion)": (MANAGEMENT, comp.eval(companion["Resources"]["PortIntegrationRole"]["Properties"])),
    }


def in_account(arns, account):
    """The same ARNs with the role's own account put back as {account}, so that the three
    roles can be compared."""
    return [a.replace(f":iam::{account}:", ":iam::{account}:") for a in arns]


CASES = [
    # (parameters, expected ManagedPolicyArns with {account} for the role's own, boundary)
    ({}, ["arn:aws:iam::aws:policy/ReadOnlyAccess"], None),
    (
        {"PortRolePolicyArns": "ViewOnlyAccess,SecurityAudit"},
        # ViewOnlyAccess is a job-function policy: its ARN has the path job-function/.
        ["arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", "arn:aws:iam::aws:policy/SecurityAudit"],
        None,
    ),
    (
        {
            "PortRolePolicyArns": "SecurityAudit,AWSCloudFormationReadOnlyAccess,arn:aws:iam::111122223333:policy/port/PortRead,arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            "PortRolePermissionsBoundaryArn": "arn:aws:iam::111122223333:policy/PortBoundary",
        },
        [
            "arn:aws:iam::aws:policy/SecurityAudit",
            "arn:aws:iam::aws:policy/AWSCloudFormationReadOnlyAccess",
            "arn:aws:iam::{account}:policy/port/PortRead",
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        ],
        "arn:aws:iam::{account}:policy/PortBoundary",
    ),
    (
        {"PortRolePolicyArns": ",".join(f"arn:aws:iam::aws:policy/P{i}" for i in range(10))},
        [f"arn:aws:iam::aws:policy/P{i}" for i in range(10)],
        None,
    ),
    (
        {"PortRolePermissionsBoundaryArn": "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"},
        ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
    ),
]


@pytest.mark.parametrize("params, expected, boundary", CASES, ids=["default", "short-names", "mixed-with-boundary", "ten", "aws-boundary"])
def test_the_three_roles_get_the_same_policies_and_boundary(template, member, companion, params, expected, boundary):
    roles = three_roles(template, member, companion, params)
    assert len(roles) == 3
    for where, (account, props) in roles.items():
        assert in_account(props["ManagedPolicyArns"], account) == expected, where
        got = props["PermissionsBoundary"]
        if boundary is None:
            assert got == "<Ref AWS::NoValue>", where
        else:
            assert in_account([got], account) == [boundary], where
        # The customer managed policies are each role's own account's, never another's.
        for arn in [*props["ManagedPolicyArns"], got]:
            owner = arn.split(":")[4] if arn.startswith("arn:") else None
            assert owner in (None, "aws", account), (where, arn)


def test_the_member_template_takes_both_parameters_from_the_stackset_with_the_main_templates_spec(template, member, companion):
    ss = template["Resources"]["PortStackSet"]["Properties"]
    passed = {p["ParameterKey"]: cfn.plain(p["ParameterValue"]) for p in ss["Parameters"]}
    for name in PARAMS:
        assert passed[name] == {"Ref": name}
        main = template["Parameters"][name]
        for other in (member["Parameters"][name], companion["Parameters"][name]):
            assert other["AllowedPattern"] == main["AllowedPattern"], name
            assert other["Type"] == main["Type"] == "String", name
    assert template["Parameters"]["PortRolePolicyArns"]["Default"] == "ReadOnlyAccess"
    assert template["Parameters"]["PortRolePermissionsBoundaryArn"]["Default"] == ""


def test_the_three_roles_use_the_same_conditions(template, member, companion):
    """The slots' conditions are the same expressions in the three templates, so that a fix
    in one cannot be forgotten in another."""
    names = [n for n in template["Conditions"] if n.startswith("PortRole")]
    assert len(names) == 44  # 10 slots and the boundary, 4 conditions each
    for other in (member, companion):
        for n in names:
            assert cfn.plain(other["Conditions"][n]) == cfn.plain(template["Conditions"][n]), n


GOOD = [
    "ReadOnlyAccess",
    "ViewOnlyAccess,SecurityAudit",
    "AWSCloudFormationReadOnlyAccess,SecurityAudit",
    "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
    "arn:aws:iam::123456789012:policy/PortRead",
    "arn:aws:iam::123456789012:policy/team/port/Port.Read_1@x=y+z",
    "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess",
    ",".join(["ReadOnlyAccess"] * 10),
]
BAD = [
    "",  # at least one policy
    "readonlyaccess",  # short names are exact
    "AdministratorAccess",  # not a known short name: give the ARN
    "ViewOnlyAccess, SecurityAudit",  # spaces
    "ViewOnlyAccess,,SecurityAudit",  # an empty element
    "ViewOnlyAccess,",
    "arn:aws:iam::12345:policy/PortRead",  # an account ID has 12 digits
    "arn:aws:iam::123456789012:role/PortRead",  # a role, not a policy
    "arn:aws:s3:::bucket",
    ",".join(["ReadOnlyAccess"] * 11),  # IAM's default quota: 10 managed policies per role
]


@pytest.mark.parametrize("value", GOOD)
def test_the_pattern_accepts(template, value):
    assert re.fullmatch(template["Parameters"]["PortRolePolicyArns"]["AllowedPattern"], value)


@pytest.mark.parametrize("value", BAD)
def test_the_pattern_refuses(template, value):
    assert not re.fullmatch(template["Parameters"]["PortRolePolicyArns"]["AllowedPattern"], value)


def test_the_boundary_is_empty_or_one_policy(template):
    pattern = template["Parameters"]["PortRolePermissionsBoundaryArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:policy/PortBoundary")
    assert not re.fullmatch(pattern, "arn:aws:iam::123456789012:policy/A,arn:aws:iam::123456789012:policy/B")
    assert not re.fullmatch(pattern, "Boundary")


def test_the_roles_change_only_after_the_preflight_checked_the_values(template):
    """A bad value is refused by Custom::PortPreflight before the management account's role or
    the StackSet (the members' roles) changes."""
    assert cfn.as_list(template["Resources"]["PortIntegrationRole"]["DependsOn"]) == ["PortPreflight"]
    assert cfn.as_list(template["Resources"]["PortStackSet"]["DependsOn"]) == ["PortPreflight"]
    props = cfn.plain(template["Resources"]["PortPreflight"]["Properties"])
    for name in PARAMS:
        assert props[name] == {"Ref": name}


def test_the_slots_keep_the_member_and_companion_templates_under_awss_template_body_limit():
    """The slots add about 9 KB to each role. The StackSet's TemplateBody, and a template passed
    inline (the companion, from `aws cloudformation deploy` without a bucket), may have at most
    51,200 bytes (AWS CloudFormation API Reference, CreateStackSet and CreateStack:
    TemplateBody, "Maximum length of 51200")."""
    for path in (cfn.MEMBER_TEMPLATE, cfn.MANAGEMENT_TEMPLATE):
        size = len(path.read_bytes())
        assert size <= 51_200, (path.name, size)
