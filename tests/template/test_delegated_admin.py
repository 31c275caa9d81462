"""The main template's two modes (issue 15): ManagementAccountId empty = deployed in the
management account (StackSets called as SELF); the management account's ID = deployed from a
delegated administrator for StackSets (called as DELEGATED_ADMIN). Every resource, ARN and
output per mode."""

import re

import pytest

import cfn
from conftest import REQUIRED
from test_permissions import function_statements, granted, stackset_actions

# The account the stack runs in is cfn.ACCOUNT; in delegated-administrator mode this is the
# organization's management account.
MANAGEMENT = "999988887777"
FUNCTIONS = ("CustomResourceFunction", "OrgEventsFunction")


def evaluator(template, mode, **params):
    if mode == "delegated-admin":
        params = {"ManagementAccountId": MANAGEMENT, **params}
    return cfn.Evaluator(template, {**REQUIRED, **params})


def org_events_patterns(template):
    """The patterns of the rules that send organization events to the org-events queue."""
    return cfn.org_events_patterns(template)


# ------------------------------------------------------------------ the parameter
@pytest.mark.parametrize(
    "value, ok",
    [
        ("", True),
        ("123456789012", True),
        ("012345678901", True),
        ("12345678901", False),
        ("1234567890123", False),
        (" 123456789012", False),
        ("123456789012,", False),
        ("o-abcd123456", False),
        ("arn:aws:iam::123456789012:root", False),
    ],
)
def test_management_account_id_is_empty_or_twelve_digits(template, value, ok):
    spec = template["Parameters"]["ManagementAccountId"]
    # The contract's pattern, exactly.
    assert spec["AllowedPattern"] == "^(|[0-9]{12})$"
    assert spec["Type"] == "String" and spec["Default"] == ""
    assert (re.fullmatch(spec["AllowedPattern"], value) is not None) is ok


def test_management_account_id_tells_a_confused_user_what_to_do(template):
    spec = template["Parameters"]["ManagementAccountId"]
    text = " ".join((spec["Description"] + " " + spec["ConstraintDescription"]).split())
    # When to leave it empty, what a delegated administrator is, how to become one, and the
    # companion template.
    assert "Leave empty" in text and "management account" in text
    assert "delegated administrator" in text
    assert (
        "aws organizations register-delegated-administrator --service-principal "
        "member.org.stacksets.cloudformation.amazonaws.com" in text
    )
    assert "templates/management-account.yaml" in text
    label = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]["ManagementAccountId"]
    assert "delegated administrator" in label["default"]


def test_the_conditions_follow_the_parameter(template):
    assert evaluator(template, "management").condition("InManagementAccount")
    assert not evaluator(template, "management").condition("DelegatedAdmin")
    assert evaluator(template, "delegated-admin").condition("DelegatedAdmin")
    assert not evaluator(template, "delegated-admin").condition("InManagementAccount")


# ------------------------------------------------------------------ resources per mode
@pytest.mark.parametrize("create", ["true", "false"])
def test_in_the_management_account_the_stack_creates_ports_role_there_and_no_bus_policy(template, create):
    ev = evaluator(template, "management", CreateOIDCProvider=create)
    assert cfn.present(ev, "Resources", "PortIntegrationRole")
    assert cfn.present(ev, "Resources", "PortOIDCProvider") is (create == "true")
    assert not cfn.present(ev, "Resources", "ManagementAccountEventsPolicy")


@pytest.mark.parametrize("create", ["true", "false"])
def test_from_a_delegated_administrator_the_stack_creates_no_role_of_its_own(template, create):
    """The delegated administrator is a member account: its role comes from the StackSet if
    it is in scope; the management account's from the companion template."""
    ev = evaluator(template, "delegated-admin", CreateOIDCProvider=create)
    assert not cfn.present(ev, "Resources", "PortIntegrationRole")
    assert not cfn.present(ev, "Resources", "PortOIDCProvider")
    assert cfn.present(ev, "Resources", "ManagementAccountEventsPolicy")
    absent = {n for n in template["Resources"] if not cfn.present(ev, "Resources", n)}
    # Nothing else disappears: the functions, the StackSet and the custom resources stay.
    assert absent - {"AlarmTopic", "AlarmTopicEmail"} == {"PortIntegrationRole", "PortOIDCProvider"}


@pytest.mark.parametrize("mode", ["management", "delegated-admin"])
@pytest.mark.parametrize("create", ["true", "false"])
def test_nothing_that_exists_refers_to_a_resource_that_does_not(template, mode, create):
    ev = evaluator(template, mode, CreateOIDCProvider=create, NotificationEmail="ops@example.com")
    for section in ("Resources", "Outputs"):
        for name, node in template[section].items():
            if not cfn.present(ev, section, name):
                continue
            refs = cfn.live_refs(ev, node.get("Properties", node.get("Value")))
            refs |= set(cfn.as_list(node.get("DependsOn", [])))
            for r in refs:
                # SAM creates <Function>Role and <Function>EventInvokeConfig.
                if r.endswith(("FunctionRole", "FunctionEventInvokeConfig")):
                    continue
                assert cfn.present(ev, "Resources", r), f"{mode}: {section}.{name} refers to {r}, absent"


# ------------------------------------------------------------------ StackSet and ARNs
@pytest.mark.parametrize("mode, call_as", [("management", "SELF"), ("delegated-admin", "DELEGATED_ADMIN")])
def test_the_stack_set_is_called_as_the_mode_says(template, mode, call_as):
    ev = evaluator(template, mode)
    assert ev.eval(template["Resources"]["PortStackSet"]["Properties"]["CallAs"]) == call_as


@pytest.mark.parametrize("mode, owner", [("management", cfn.ACCOUNT), ("delegated-admin", MANAGEMENT)])
def test_stack_set_arns_carry_the_management_accounts_id(template, mode, owner):
    """The StackSet belongs to the management account even when a delegated administrator
    created it (terraform-provider-aws #29338): the policies name it with that account's ID,
    never the delegated administrator's."""
    ev = evaluator(template, mode)
    stackset = f"arn:aws:cloudformation:{cfn.REGION}:{owner}:stackset/Port-Integration-v3:*"
    # The deployment targets: which account their ARN carries in a delegated administrator's
    # calls is not documented, so that mode names both (right under either reading).
    targets = {
        f"arn:aws:cloudformation:*:{account}:stackset-target/Port-Integration-v3:*"
        for account in {owner, cfn.ACCOUNT}
    }
    types = "arn:aws:cloudformation:*:*:type/resource/AWS-IAM-*"
    for fn in FUNCTIONS:
        actions = granted(function_statements(template, ev, fn))
        assert len(stackset_actions(actions)) >= 9, (mode, fn, sorted(actions))
        for a in stackset_actions(actions):
            assert stackset in actions[a], (mode, fn, a, actions[a])
            assert actions[a] <= {stackset, *targets, types}, (mode, fn, a, actions[a])
        for a in ("cloudformation:CreateStackInstances", "cloudformation:UpdateStackInstances",
                  "cloudformation:DeleteStackInstances"):
            assert actions[a] == {stackset, *targets, types}, (mode, fn, a)
        # The StackSet itself is named only with the management account's ID.
        stackset_arns = {r for a in stackset_actions(actions) for r in actions[a] if ":stackset/" in r}
        assert stackset_arns == {stackset}, (mode, fn, stackset_arns)


@pytest.mark.parametrize("mode", ["management", "delegated-admin"])
def test_both_functions_may_ask_whether_this_account_is_a_delegated_administrator(template, mode):
    """The preflight decides the mode from ListDelegatedAdministrators, in both modes; AWS
    offers no resource-level permission for it."""
    ev = evaluator(template, mode)
    for fn in FUNCTIONS:
        actions = granted(function_statements(template, ev, fn))
        assert actions["organizations:ListDelegatedAdministrators"] == {"*"}, fn
        # Read-only: registering stays the management account's own act.
        assert "organizations:RegisterDelegatedAdministrator" not in actions


def test_both_custom_resources_receive_the_management_account_id(template):
    for name in ("PortPreflight", "PortStackSetInstances"):
        props = cfn.plain(template["Resources"][name]["Properties"])
        assert props["ManagementAccountId"] == {"Ref": "ManagementAccountId"}, name


# ------------------------------------------------------------------ forwarded events
def test_the_bus_policy_lets_exactly_the_management_account_put_the_org_events_sources(template):
    ev = evaluator(template, "delegated-admin")
    res = template["Resources"]["ManagementAccountEventsPolicy"]
    assert res["Type"] == "AWS::Events::EventBusPolicy"
    assert res["Condition"] == "DelegatedAdmin"
    p = ev.eval(res["Properties"])
    assert p["EventBusName"] == "default"
    st = p["Statement"]
    assert st["Effect"] == "Allow"
    assert st["Principal"] == {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}
    assert st["Action"] == "events:PutEvents"
    assert st["Resource"] == f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:event-bus/default"
    # Only the sources the org-events rules listen to, read from those rules.
    sources = {s for pat in org_events_patterns(template).values() for s in pat["source"]}
    assert sources == {"aws.organizations", "aws.controltower"}
    (op,) = st["Condition"]
    assert op == "ForAllValues:StringEquals"
    assert set(st["Condition"][op]) == {"events:source"}
    assert set(st["Condition"][op]["events:source"]) == sources


def test_the_bus_policy_statement_id_is_valid_and_unique_per_stack(template):
    ev = evaluator(template, "delegated-admin")
    sid = ev.eval(template["Resources"]["ManagementAccountEventsPolicy"]["Properties"]["StatementId"])
    # EventBridge: 1 to 64 characters of [a-zA-Z0-9-_].
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", sid), sid
    assert cfn.STACK_ID.rsplit("/", 1)[1] in sid


# ------------------------------------------------------------------ region rules
def rules(template, mode, region="us-east-1", account=cfn.ACCOUNT, **params):
    ev = evaluator(template, mode, **params)
    ev.pseudo["AWS::Region"] = region
    ev.pseudo["AWS::AccountId"] = account
    return ev.rules_failing()


@pytest.mark.parametrize("region", ["us-east-1", "us-east-2", "eu-west-1", "ap-southeast-2"])
def test_from_a_delegated_administrator_another_region_is_accepted(template, region):
    assert rules(template, "delegated-admin", region) == []


def test_from_a_delegated_administrator_a_region_aws_does_not_list_is_refused(template):
    # The list and its sources: test_regions.py.
    assert rules(template, "delegated-admin", "eu-south-1") == ["DeployInADelegatedAdminRegion"]


def test_in_the_management_account_only_us_east_1(template):
    assert rules(template, "management", "eu-west-1") == ["DeployInUsEast1"]
    assert rules(template, "management", "us-east-1") == []


def test_the_management_accounts_own_id_is_refused_with_the_fix(template):
    assert rules(template, "delegated-admin", account=MANAGEMENT) == ["ManagementAccountIdIsAnotherAccount"]
    desc = " ".join(
        template["Rules"]["ManagementAccountIdIsAnotherAccount"]["Assertions"][0]["AssertDescription"].split()
    )
    assert "Leave ManagementAccountId empty" in desc


# ------------------------------------------------------------------ outputs
@pytest.mark.parametrize("custom, name", [("", "PortIntegrationRole-aws-v3-multi"), ("MyPortRole", "MyPortRole")])
def test_from_a_delegated_administrator_the_role_outputs_name_the_management_accounts_role(template, custom, name):
    ev = evaluator(template, "delegated-admin", CustomRoleName=custom)
    out = template["Outputs"]
    assert ev.eval(out["PortIntegrationRoleArn"]["Value"]) == f"arn:aws:iam::{MANAGEMENT}:role/{name}"
    assert ev.eval(out["PortIntegrationRoleName"]["Value"]) == name


def test_outputs_keep_their_names_in_both_modes(template):
    for mode in ("management", "delegated-admin"):
        ev = evaluator(template, mode)
        present = {n for n in template["Outputs"] if cfn.present(ev, "Outputs", n)}
        assert present >= {
            "PortIntegrationRoleArn",
            "PortIntegrationRoleName",
            "IntegrationIdentifier",
            "OrganizationId",
            "ManagementAccountId",
            "EnrolledAccountIds",
            "EnrolledAccountIdsTruncated",
            "EnrolledAccountCount",
            "StackSetName",
            "FailedInvocationsQueueUrl",
            "OrgEventsQueueUrl",
        }, mode
