"""Port's role: OIDC trust on this account's own provider, aud and sub pinned with
StringEquals, ReadOnlyAccess only, the same in the management account and every member."""

import pytest

import cfn
from conftest import REQUIRED

DEFAULT_PROVIDER_ARN = f"arn:aws:iam::{cfn.ACCOUNT}:oidc-provider/{cfn.DEFAULT_ISSUER}"


def member_params(template, ev):
    """The member template's parameters, as the StackSet passes them."""
    ss = template["Resources"]["PortStackSet"]["Properties"]
    return {p["ParameterKey"]: ev.eval(p["ParameterValue"]) for p in ss["Parameters"]}


def roles(template, member, params):
    """(where, evaluator, role resource) for the management role and the member role."""
    ev = cfn.Evaluator(template, {**REQUIRED, **params})
    mev = cfn.Evaluator(member, member_params(template, ev))
    return [
        ("management", ev, template["Resources"]["PortIntegrationRole"]),
        ("member", mev, member["Resources"]["PortIntegrationRole"]),
    ]


def assert_trust(ev, role, provider_arn, issuer, subject):
    doc = cfn.policy_document(ev, role["Properties"]["AssumeRolePolicyDocument"])
    st = cfn.statements(doc)
    assert len(st) == 1, st
    (s,) = st
    assert s["Effect"] == "Allow"
    assert s["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert s["Principal"] == {"Federated": provider_arn}
    # Exactly one operator, StringEquals (never StringLike), on exactly aud and sub.
    assert s["Condition"] == {
        "StringEquals": {
            f"{issuer}:aud": "sts.amazonaws.com",
            f"{issuer}:sub": subject,
        }
    }


@pytest.mark.parametrize("create", ["true", "false"])
def test_trust_defaults(template, member, create):
    for _, ev, role in roles(template, member, {"CreateOIDCProvider": create}):
        assert_trust(
            ev,
            role,
            DEFAULT_PROVIDER_ARN,
            cfn.DEFAULT_ISSUER,
            "system:serviceaccount:org-org_1234567890-port-oidc-sa",
        )


def test_trust_custom_issuer_and_subject(template, member):
    params = {
        "OIDCProviderUrl": "https://issuer.example.com/id/ABC",
        "OIDCJwtSubject": "system:serviceaccount:custom-sa",
    }
    for _, ev, role in roles(template, member, params):
        assert_trust(
            ev,
            role,
            f"arn:aws:iam::{cfn.ACCOUNT}:oidc-provider/issuer.example.com/id/ABC",
            "issuer.example.com/id/ABC",
            "system:serviceaccount:custom-sa",
        )


def test_federated_principal_is_this_accounts_provider(template, member):
    """Without evaluation: the principal is either the provider created in the same template,
    or arn:<partition>:iam::<this account>:oidc-provider/<issuer>."""
    for t in (template, member):
        role = t["Resources"]["PortIntegrationRole"]
        text, mapping = role["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
        assert '"Federated": "${ProviderArn}"' in text
        cond, created, existing = cfn.plain(mapping["ProviderArn"])["Fn::If"]
        # The condition that creates the provider in the same template.
        assert cond == t["Resources"]["PortOIDCProvider"]["Condition"]
        assert created == {"Ref": "PortOIDCProvider"}
        assert t["Resources"]["PortOIDCProvider"]["Type"] == "AWS::IAM::OIDCProvider"
        arn, _ = existing["Fn::Sub"]
        assert arn == "arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/${Issuer}"


def test_oidc_provider(template, member):
    # The main template creates it only in the management account (issue 15).
    assert template["Resources"]["PortOIDCProvider"]["Condition"] == "CreateOIDCProviderHere"
    assert member["Resources"]["PortOIDCProvider"]["Condition"] == "CreateOIDCProvider"
    for t in (template, member):
        p = t["Resources"]["PortOIDCProvider"]
        assert cfn.plain(p["Properties"]["ClientIdList"]) == ["sts.amazonaws.com"]
        assert cfn.plain(p["Properties"]["Url"]) == {"Ref": "OIDCProviderUrl"}


@pytest.mark.parametrize(
    "custom, expected",
    [("", "PortIntegrationRole-aws-v3-multi"), ("MyPortRole", "MyPortRole")],
)
def test_same_role_name_everywhere(template, member, custom, expected):
    for _, ev, role in roles(template, member, {"CustomRoleName": custom}):
        assert ev.eval(role["Properties"]["RoleName"]) == expected


def test_readonlyaccess_only_by_default(template, member):
    """The defaults keep today's role: ReadOnlyAccess, no inline policy, no boundary
    (other values: test_role_permissions.py)."""
    for where, ev, role in roles(template, member, {}):
        props = ev.eval(role["Properties"])
        assert props["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"], where
        assert "Policies" not in props, where
        assert props["PermissionsBoundary"] == "<Ref AWS::NoValue>", where


def test_only_port_roles_in_member_template(member):
    kinds = sorted(r["Type"] for r in member["Resources"].values())
    assert kinds == ["AWS::IAM::OIDCProvider", "AWS::IAM::Role"]


def test_stackset_passes_every_member_parameter(template, member):
    ss = template["Resources"]["PortStackSet"]["Properties"]
    passed = {p["ParameterKey"] for p in ss["Parameters"]}
    assert passed == set(member["Parameters"])


@pytest.mark.parametrize(
    "create, here, creates_here",
    [
        ("true", "", True),
        ("false", "", False),
        ("true", "false", False),
        ("false", "true", True),
        ("true", "true", True),
        ("false", "false", False),
    ],
)
def test_the_management_accounts_provider_can_be_reused_while_members_get_theirs(
    template, member, create, here, creates_here
):
    """A management account that already holds Port's provider (creating it again fails with
    EntityAlreadyExists and rolls the stack back) sets CreateOIDCProviderInManagementAccount
    to false; the StackSet's CreateOIDCProvider stays as given, so member accounts without a
    provider still get one. Empty follows CreateOIDCProvider."""
    params = {
        **REQUIRED,
        "CreateOIDCProvider": create,
        "CreateOIDCProviderInManagementAccount": here,
    }
    ev = cfn.Evaluator(template, params)
    assert cfn.present(ev, "Resources", "PortOIDCProvider") is creates_here
    role = template["Resources"]["PortIntegrationRole"]
    doc = cfn.policy_document(ev, role["Properties"]["AssumeRolePolicyDocument"])
    (s,) = cfn.statements(doc)
    if creates_here:
        assert s["Principal"] == {"Federated": ev.eval({"Ref": "PortOIDCProvider"})}
    else:
        assert s["Principal"] == {"Federated": DEFAULT_PROVIDER_ARN}
    # What the members get does not depend on the management account's switch.
    assert member_params(template, ev)["CreateOIDCProvider"] == create


def test_from_a_delegated_administrator_the_main_stack_creates_no_provider(template):
    for here in ("", "true", "false"):
        ev = cfn.Evaluator(
            template,
            {
                **REQUIRED,
                "ManagementAccountId": "999988887777",
                "CreateOIDCProviderInManagementAccount": here,
            },
        )
        assert not cfn.present(ev, "Resources", "PortOIDCProvider")
