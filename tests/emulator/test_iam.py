"""IAM in the test bed: a principal's requests are authorized against its policies as IAM does
(IAM User Guide, "Policy evaluation logic"), and refused in each service's AccessDenied shape.
Each test states the rule it checks and shows that the enforcement can refuse."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, wait_op
from fidelity import iam

TEMPLATE = '{"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}}}'
STACK_SET = "Port-Integration-v3"


def client(emu, creds, service):
    return boto3.client(
        service, endpoint_url=emu.endpoint, region_name=REGION,
        aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds["session_token"], config=Config(retries={"total_max_attempts": 1}),
    )


def principal(emu, account, *statements):
    return emu.post("/principal", {"name": "tester", "account_id": account,
                                   "policies": [{"Version": "2012-10-17", "Statement": list(statements)}]})


def allow(actions, resources="*", **extra):
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def denied(excinfo, code):
    err = excinfo.value.response["Error"]
    assert err["Code"] == code, err
    return err["Message"]


# ----------------------------------------------------------------------------- evaluation


def test_an_action_no_statement_allows_is_denied_with_awss_message(emu, sample):
    """Organizations read APIs each need their own action: ListAccountsForParent does not
    imply ListAccounts (Service Authorization Reference, AWS Organizations)."""
    p = principal(emu, sample["management_account_id"], allow(["organizations:ListAccountsForParent"]))
    org = client(emu, p, "organizations")
    org.list_accounts_for_parent(ParentId=sample["root_id"])
    with pytest.raises(ClientError) as e:
        org.list_accounts()
    msg = denied(e, "AccessDeniedException")
    assert msg == (f"User: {p['arn']} is not authorized to perform: organizations:ListAccounts on resource: * "
                   "because no identity-based policy allows the organizations:ListAccounts action")
    log = emu.get("/requests")["requests"]
    assert [r["action"] for r in log if r.get("denied")] == ["ListAccounts"]


def test_get_caller_identity_needs_no_permission_and_names_the_role(emu, sample):
    """STS API reference, GetCallerIdentity: "No permissions are required"."""
    p = principal(emu, sample["management_account_id"], allow(["organizations:ListRoots"]))
    who = client(emu, p, "sts").get_caller_identity()
    assert who["Account"] == sample["management_account_id"]
    assert who["Arn"] == p["arn"]


def test_an_explicit_deny_wins_over_an_allow(emu, sample):
    """IAM User Guide, "Policy evaluation logic": an explicit deny overrides any allow."""
    p = principal(emu, sample["management_account_id"], allow(["organizations:*"]),
                  {"Effect": "Deny", "Action": "organizations:ListAccounts", "Resource": "*"})
    with pytest.raises(ClientError) as e:
        client(emu, p, "organizations").list_accounts()
    assert "with an explicit deny in an identity-based policy" in denied(e, "AccessDeniedException")


def test_stackset_calls_are_authorized_against_this_stacksets_arn_only(emu, sample, cfn):
    """CloudFormation resource type stackset: arn:${Partition}:cloudformation:${Region}:
    ${Account}:stackset/${StackSetName}:${Id} (Service Authorization Reference); awsQuery
    services answer AccessDenied with HTTP 403."""
    cfn.create_stack_set(StackSetName=STACK_SET, TemplateBody=TEMPLATE, PermissionModel="SERVICE_MANAGED",
                         AutoDeployment={"Enabled": False}, Capabilities=["CAPABILITY_NAMED_IAM"])
    cfn.create_stack_set(StackSetName="Other", TemplateBody=TEMPLATE, PermissionModel="SERVICE_MANAGED",
                         AutoDeployment={"Enabled": False}, Capabilities=["CAPABILITY_NAMED_IAM"])
    mgmt = sample["management_account_id"]
    p = principal(emu, mgmt, allow(["cloudformation:DescribeStackSet"],
                                   [f"arn:aws:cloudformation:{REGION}:{mgmt}:stackset/{STACK_SET}:*"]))
    mine = client(emu, p, "cloudformation")
    assert mine.describe_stack_set(StackSetName=STACK_SET)["StackSet"]["StackSetName"] == STACK_SET
    with pytest.raises(ClientError) as e:
        mine.describe_stack_set(StackSetName="Other")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert ":stackset/Other:" in denied(e, "AccessDenied")


def test_create_stack_instances_needs_every_target_and_resource_type(emu, sample, cfn):
    """Service-managed StackSets: CreateStackInstances is also authorized against each
    deployment target (stackset-target/<stack set id>/<OU or account>) and each resource type
    of the template (type/resource/AWS-IAM-Role) (CloudFormation user guide, "Control
    access to StackSets deployment targets" example policy)."""
    cfn.create_stack_set(StackSetName=STACK_SET, TemplateBody=TEMPLATE, PermissionModel="SERVICE_MANAGED",
                         AutoDeployment={"Enabled": False}, Capabilities=["CAPABILITY_NAMED_IAM"])
    mgmt = sample["management_account_id"]
    prod = sample["ous"]["Root/Prod"]
    staging = sample["ous"]["Root/Staging"]
    stackset = f"arn:aws:cloudformation:{REGION}:{mgmt}:stackset/{STACK_SET}:*"
    target = f"arn:aws:cloudformation:*:{mgmt}:stackset-target/{STACK_SET}:*/{prod}"
    for resources, ok in [
        ([stackset, target], False),  # no type
        ([stackset, "arn:aws:cloudformation:*:*:type/resource/AWS-IAM-*"], False),  # no target
        ([stackset, target, "arn:aws:cloudformation:*:*:type/resource/AWS-IAM-*"], True),
    ]:
        p = principal(emu, mgmt, allow(["cloudformation:CreateStackInstances", "cloudformation:DescribeStackSetOperation"], resources))
        c = client(emu, p, "cloudformation")
        call = lambda ou: c.create_stack_instances(  # noqa: E731
            StackSetName=STACK_SET, Regions=[REGION], DeploymentTargets={"OrganizationalUnitIds": [ou]})
        if not ok:
            with pytest.raises(ClientError) as e:
                call(prod)
            denied(e, "AccessDenied")
            continue
        op = call(prod)["OperationId"]
        wait_op(c, STACK_SET, op)
        with pytest.raises(ClientError) as e:
            call(staging)  # a target the policy does not name
        assert f"stackset-target/{STACK_SET}:" in denied(e, "AccessDenied")


def test_put_events_conditions_on_source_and_detail_type_are_evaluated(emu, sample):
    """EventBridge condition keys events:source and events:detail-type (EventBridge user
    guide, "Using IAM policy conditions"); JSON services answer AccessDeniedException."""
    mgmt = sample["management_account_id"]
    p = principal(emu, mgmt, allow(["events:PutEvents"], f"arn:aws:events:{REGION}:{mgmt}:event-bus/default",
                                   Condition={"StringEquals": {"events:source": "port.aws-integration",
                                                               "events:detail-type": "Port role scope changed"}}))
    ev = client(emu, p, "events")
    ok = {"Source": "port.aws-integration", "DetailType": "Port role scope changed", "Detail": "{}"}
    assert ev.put_events(Entries=[ok])["FailedEntryCount"] == 0
    for bad in ({**ok, "Source": "aws.organizations"}, {**ok, "DetailType": "Something else"},
                {**ok, "EventBusName": "other"}):
        with pytest.raises(ClientError) as e:
            ev.put_events(Entries=[bad])
        denied(e, "AccessDeniedException")


def test_unregistered_keys_stay_unrestricted(emu, sample):
    """The tests' own `testing` key plays an administrator setting up the world."""
    assert emu.client("organizations").list_accounts()["Accounts"]


def test_policies_the_test_bed_cannot_evaluate_are_refused_at_registration(emu, sample):
    with pytest.raises(AssertionError, match="not evaluated by the test bed"):
        principal(emu, sample["management_account_id"],
                  allow("organizations:ListRoots", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}))


@pytest.mark.parametrize("op,key,wanted,context,holds", [
    ("StringEquals", "k", "a", {"k": ["a"]}, True),
    ("StringEquals", "k", "a", {}, False),
    ("StringNotEquals", "k", "a", {}, True),
    ("StringLike", "k", "a*", {"k": ["abc"]}, True),
    ("StringEqualsIfExists", "k", "a", {}, True),
    ("ForAllValues:StringEquals", "k", ["a", "b"], {"k": ["a", "b"]}, True),
    ("ForAllValues:StringEquals", "k", ["a"], {"k": ["a", "c"]}, False),
    ("ForAnyValue:StringEquals", "k", ["a"], {"k": ["c", "a"]}, True),
    ("Null", "k", "true", {}, True),
    ("Null", "k", "true", {"k": ["x"]}, False),
])
def test_condition_operators_follow_the_iam_reference(op, key, wanted, context, holds):
    """IAM User Guide, "IAM JSON policy elements: Condition operators" and "Multivalued
    context keys" (ForAllValues is true when the key is absent)."""
    st = allow("s:A", Condition={op: {key: wanted}})
    assert iam.decide([{"Statement": [st]}], iam.Request("s:A", ["*"], context))[0] is holds


def test_wildcards_match_case_insensitively_in_actions_only(emu):
    """IAM: action names are case-insensitive; resource ARNs are case-sensitive."""
    doc = {"Statement": [allow("Organizations:list*", "arn:aws:x:::Thing/*")]}
    assert iam.decide([doc], iam.Request("organizations:ListRoots", ["arn:aws:x:::Thing/1"]))[0]
    assert not iam.decide([doc], iam.Request("organizations:ListRoots", ["arn:aws:x:::thing/1"]))[0]


def test_template_principals_hold_the_functions_policies(emu, sample):
    """The custom-resource function's principal holds what template.yaml gives its role after
    the SAM transform, and taking one action out makes that call fail."""
    mgmt = sample["management_account_id"]
    params = {"StackSetName": STACK_SET}
    p = emu.post("/principal/template", {"function": "CustomResourceFunction", "account_id": mgmt, "parameters": params})
    actions = {a for doc in p["policies"] for st in doc["Statement"] for a in iam.as_list(st["Action"])}
    assert {"cloudformation:CreateStackInstances", "lambda:InvokeFunction", "sqs:SendMessage"} <= actions
    client(emu, p, "organizations").list_roots()
    cut = emu.post("/principal/template", {"function": "CustomResourceFunction", "account_id": mgmt,
                                           "parameters": params, "remove_actions": ["organizations:ListRoots"]})
    with pytest.raises(ClientError) as e:
        client(emu, cut, "organizations").list_roots()
    denied(e, "AccessDeniedException")


def test_iam_and_service_quotas_reads_are_authorized_against_the_resource_they_name(emu, sample):
    """iam:GetRole on role/<name>; servicequotas:GetServiceQuota on
    <service code>/<quota code> (Service Authorization Reference)."""
    mgmt = sample["management_account_id"]
    admin = emu.client("iam")
    for name in ("Allowed", "Other"):
        admin.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    p = principal(emu, mgmt, allow("iam:GetRole", f"arn:aws:iam::{mgmt}:role/Allowed"),
                  allow("servicequotas:GetServiceQuota", "arn:aws:servicequotas:*:*:cloudformation/L-C8225BA5"))
    c = client(emu, p, "iam")
    assert c.get_role(RoleName="Allowed")["Role"]["RoleName"] == "Allowed"
    with pytest.raises(ClientError) as e:
        c.get_role(RoleName="Other")
    assert "role/Other" in denied(e, "AccessDenied")
    sq = client(emu, p, "service-quotas")
    assert sq.get_service_quota(ServiceCode="cloudformation", QuotaCode="L-C8225BA5")["Quota"]["Value"] > 0
    with pytest.raises(ClientError) as e:
        sq.get_service_quota(ServiceCode="cloudformation", QuotaCode="L-0485CFEE")
    denied(e, "AccessDeniedException")


def test_iam_policy_reads_are_authorized_against_the_policys_arn(emu, sample):
    """iam:GetPolicy and iam:GetPolicyVersion on the policy's ARN (Service Authorization
    Reference, IAM: resource type `policy`): what `orgscope doctor` reads of Port's role's
    customer managed policies."""
    mgmt = sample["management_account_id"]
    admin = emu.client("iam")
    arns = {name: admin.create_policy(PolicyName=name, PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeRegions", "Resource": "*"}]}')["Policy"]["Arn"]
            for name in ("Allowed", "Other")}
    p = principal(emu, mgmt, allow(["iam:GetPolicy", "iam:GetPolicyVersion"], f"arn:aws:iam::{mgmt}:policy/Allowed"))
    c = client(emu, p, "iam")
    version = c.get_policy(PolicyArn=arns["Allowed"])["Policy"]["DefaultVersionId"]
    assert c.get_policy_version(PolicyArn=arns["Allowed"], VersionId=version)["PolicyVersion"]["VersionId"] == version
    for call in (lambda: c.get_policy(PolicyArn=arns["Other"]),
                 lambda: c.get_policy_version(PolicyArn=arns["Other"], VersionId="v1")):
        with pytest.raises(ClientError) as e:
            call()
        assert "policy/Other" in denied(e, "AccessDenied")


def test_list_tags_for_resource_is_its_own_action_and_org_events_holds_it(emu, sample):
    """organizations:ListTagsForResource (Service Authorization Reference, AWS Organizations):
    ListParents does not imply it. template.yaml gives it to org-events (ReadOrganizationTree),
    and the function's principal without it is refused: the enforcement can fail for it."""
    mgmt = sample["management_account_id"]
    account = sample["accounts"]["prod-eu-1"]["id"]  # the sample's untagged account
    p = principal(emu, mgmt, allow(["organizations:ListParents"]))
    org = client(emu, p, "organizations")
    org.list_parents(ChildId=account)
    with pytest.raises(ClientError) as e:
        org.list_tags_for_resource(ResourceId=account)
    msg = denied(e, "AccessDeniedException")
    assert "organizations:ListTagsForResource" in msg and f"account/{sample['organization_id']}/{account}" in msg, msg
    params = {"StackSetName": STACK_SET}
    fn = emu.post("/principal/template", {"function": "OrgEventsFunction", "account_id": mgmt, "parameters": params})
    assert client(emu, fn, "organizations").list_tags_for_resource(ResourceId=account)["Tags"] == []
    cut = emu.post("/principal/template", {"function": "OrgEventsFunction", "account_id": mgmt, "parameters": params,
                                           "remove_actions": ["organizations:ListTagsForResource"]})
    with pytest.raises(ClientError) as e:
        client(emu, cut, "organizations").list_tags_for_resource(ResourceId=account)
    denied(e, "AccessDeniedException")
