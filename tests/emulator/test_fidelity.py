"""The fidelity layer reproduces documented AWS behaviour that moto alone gets wrong.

Each test's docstring states the AWS rule it checks. The sample organization (README):

    Root
    ├── sandbox-orphan
    ├── Infrastructure: shared-services, management account
    ├── Prod: prod-web, prod-data
    │   ├── EU: prod-eu-1
    │   │   └── Payments: prod-eu-payments
    │   │       └── PCI: prod-eu-pci
    │   └── US: prod-us-1
    ├── Staging: staging-1, staging-2, staging-suspended (SUSPENDED)
    └── Sandbox (empty)

Account tags: env=prod on the Prod accounts but prod-eu-1, team=payments on the two
payments accounts, port:exclude=true on prod-eu-pci, env=staging on staging-1 and -2.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import wait_op

TEMPLATE = '{"Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}'
REGIONS = ["us-east-1"]
OIDC_REASON = (
    "ResourceLogicalId:PortOidcProvider, ResourceType:AWS::IAM::OIDCProvider, "
    "ResourceStatusReason:Provider with url https://oidc.eks.eu-west-1.amazonaws.com/id/"
    "56E5F51C07138118A9183ECEAA68FAF4 already exists. (Service: Iam, Status Code: 409, "
    "Request ID: 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0)."
)
ROLE_REASON = (
    "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, "
    "ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists."
)


# ----------------------------------------------------------------------------- helpers


def acct(sample, name):
    return sample["accounts"][name]["id"]


def ou(sample, path):
    return sample["ous"][path]


def make_stack_set(cfn, name="port-aws-integration"):
    cfn.create_stack_set(
        StackSetName=name,
        TemplateBody=TEMPLATE,
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False},
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    return name


def deploy(cfn, name, ou_ids, accounts=None, filter_type=None, prefs=None, regions=REGIONS, op_id=None):
    targets = {"OrganizationalUnitIds": ou_ids}
    if accounts is not None:
        targets["Accounts"] = accounts
    if filter_type is not None:
        targets["AccountFilterType"] = filter_type
    kw = {"StackSetName": name, "DeploymentTargets": targets, "Regions": regions}
    if prefs:
        kw["OperationPreferences"] = prefs
    if op_id:
        kw["OperationId"] = op_id
    return cfn.create_stack_instances(**kw)["OperationId"]


def instances(cfn, name):
    out, token = [], None
    while True:
        kw = {"StackSetName": name}
        if token:
            kw["NextToken"] = token
        page = cfn.list_stack_instances(**kw)
        out += page["Summaries"]
        token = page.get("NextToken")
        if not token:
            return {i["Account"]: i for i in out}


def results(cfn, name, op_id):
    out, token = [], None
    while True:
        kw = {"StackSetName": name, "OperationId": op_id}
        if token:
            kw["NextToken"] = token
        page = cfn.list_stack_set_operation_results(**kw)
        out += page["Summaries"]
        token = page.get("NextToken")
        if not token:
            return {r["Account"]: r for r in out}


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def pages(call, key, **kw):
    n, items, token = 0, [], None
    while True:
        if token:
            kw["NextToken"] = token
        page = call(**kw)
        n += 1
        items += page[key]
        token = page.get("NextToken")
        if not token:
            return n, items


# ----------------------------------------------------------------------------- fixtures


def test_sample_fixture_builds_the_documented_tree(emu, sample, org):
    """The sample organization has the documented OUs and accounts, four OU levels deep,
    with the management account inside Infrastructure and a SUSPENDED staging account."""
    assert set(sample["ous"]) == {
        "Root", "Root/Infrastructure", "Root/Prod", "Root/Prod/EU", "Root/Prod/EU/Payments",
        "Root/Prod/EU/Payments/PCI", "Root/Prod/US", "Root/Staging", "Root/Sandbox",
    }
    assert sample["root_id"] == sample["ous"]["Root"]
    assert sample["management_account_id"] == "123456789012"
    assert sample["organization_id"].startswith("o-")
    assert sample["accounts"]["prod-eu-pci"]["ou_path"] == "Root/Prod/EU/Payments/PCI"
    assert sample["accounts"]["staging-suspended"]["state"] == "SUSPENDED"
    mgmt = [a for a in sample["accounts"].values() if a["id"] == "123456789012"]
    assert mgmt and mgmt[0]["ou_path"] == "Root/Infrastructure"
    parents = org.list_parents(ChildId="123456789012")["Parents"]
    assert parents == [{"Id": ou(sample, "Root/Infrastructure"), "Type": "ORGANIZATIONAL_UNIT"}]
    assert org.list_accounts_for_parent(ParentId=ou(sample, "Root/Sandbox"))["Accounts"] == []
    assert org.describe_organization()["Organization"]["FeatureSet"] == "ALL"


def test_sample_accounts_carry_the_documented_tags_and_ous_none(emu, sample, org):
    """ListTagsForResource with an account ID gives the account's own tags (AWS Organizations
    API Reference, ListTagsForResource); an OU's tags are not the accounts' (AWS Organizations
    User Guide, "Tagging AWS Organizations resources": tags are not inherited)."""
    def tags(resource: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=resource)["Tags"]}

    assert tags(acct(sample, "prod-eu-pci")) == {"env": "prod", "team": "payments", "port:exclude": "true"}
    assert tags(acct(sample, "prod-web")) == {"env": "prod"} == sample["accounts"]["prod-web"]["tags"]
    assert tags(acct(sample, "staging-1")) == {"env": "staging"}
    for untagged in ("prod-eu-1", "shared-services", "sandbox-orphan", "staging-suspended"):
        assert tags(acct(sample, untagged)) == {}, untagged
    assert tags(ou(sample, "Root/Prod")) == {}


def test_generate_fixture_builds_2000_accounts_in_seconds(emu, org):
    """A large organization (2,000 accounts, 200 OUs, depth 5) is built in-process in seconds."""
    t0 = time.time()
    fx = emu.post("/fixture/generate", {"accounts": 2000, "ous": 200, "max_depth": 5, "suspended_every": 37, "seed": 1})
    elapsed = time.time() - t0
    assert elapsed < 10, f"generate took {elapsed:.1f}s"
    assert len(fx["accounts"]) == 2000 and len(fx["ous"]) == 201
    assert max(p.count("/") for p in fx["ous"]) <= 5
    suspended = [a for a in fx["accounts"].values() if a["state"] == "SUSPENDED"]
    assert len(suspended) == 2000 // 37
    n, accounts = pages(org.list_accounts, "Accounts")
    assert len(accounts) == 2001 and n == 101  # pages of 20
    again = emu.post("/reset") and emu.post("/fixture/generate", {"accounts": 50, "ous": 5, "seed": 1})
    first = emu.post("/reset") and emu.post("/fixture/generate", {"accounts": 50, "ous": 5, "seed": 1})
    assert {k: v["id"] for k, v in again["accounts"].items()} == {k: v["id"] for k, v in first["accounts"].items()}


# ----------------------------------------------------------------------------- organizations


def test_accounts_report_state_not_only_the_deprecated_status(emu, sample, org):
    """ListAccountsForParent, ListAccounts and DescribeAccount return `State`
    (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED), the field that replaced `Status`."""
    staging = org.list_accounts_for_parent(ParentId=ou(sample, "Root/Staging"))["Accounts"]
    states = {a["Name"]: a["State"] for a in staging}
    assert states == {"staging-1": "ACTIVE", "staging-2": "ACTIVE", "staging-suspended": "SUSPENDED"}
    assert all("State" in a for a in org.list_accounts()["Accounts"])
    emu.post("/account-state", {"account_id": acct(sample, "staging-1"), "state": "PENDING_CLOSURE"})
    assert org.describe_account(AccountId=acct(sample, "staging-1"))["Account"]["State"] == "PENDING_CLOSURE"
    emu.post("/account-state", {"account_id": acct(sample, "staging-2"), "state": "CLOSED"})
    assert org.describe_account(AccountId=acct(sample, "staging-2"))["Account"]["State"] == "CLOSED"


def test_close_account_passes_through_pending_closure_to_suspended(emu, sample, org):
    """CloseAccount puts the account in PENDING_CLOSURE, and later SUSPENDED."""
    # The order is asserted, not a time: the closure takes 2 s (long enough that a loaded
    # machine still reads PENDING_CLOSURE first), and the test waits for SUSPENDED.
    emu.post("/config", {"operation_seconds": 2.0})
    a = acct(sample, "staging-2")
    org.close_account(AccountId=a)
    states = [org.describe_account(AccountId=a)["Account"]["State"]]
    deadline = time.time() + 30
    while states[-1] != "SUSPENDED" and time.time() < deadline:
        time.sleep(0.2)
        states.append(org.describe_account(AccountId=a)["Account"]["State"])
    assert states[0] == "PENDING_CLOSURE", states
    assert states[-1] == "SUSPENDED", states
    assert set(states) == {"PENDING_CLOSURE", "SUSPENDED"}, states


def test_organizations_list_calls_page_at_20_items(emu, org):
    """Organizations list calls answer pages of at most 20 items with a NextToken, and honour
    a smaller MaxResults: clients must follow NextToken and count pages, not items."""
    emu.post("/fixture/generate", {"accounts": 0, "ous": 25, "max_depth": 1, "seed": 3})
    fx = emu.post("/fixture/generate", {"accounts": 45, "ous": 0, "seed": 4})
    root = fx["root_id"]
    n, accounts = pages(org.list_accounts_for_parent, "Accounts", ParentId=root)
    assert (n, len(accounts)) == (3, 46)  # 45 + management account
    assert len({a["Id"] for a in accounts}) == 46
    n, ous = pages(org.list_organizational_units_for_parent, "OrganizationalUnits", ParentId=root)
    assert (n, len(ous)) == (2, 25)
    n, children = pages(org.list_children, "Children", ParentId=root, ChildType="ACCOUNT")
    assert (n, len(children)) == (3, 46)
    n, children = pages(org.list_children, "Children", ParentId=root, ChildType="ORGANIZATIONAL_UNIT")
    assert (n, len(children)) == (2, 25)
    n, _ = pages(org.list_accounts, "Accounts")
    assert n == 3
    n, roots = pages(org.list_roots, "Roots")
    assert (n, len(roots)) == (1, 1)
    n, _ = pages(org.list_accounts_for_parent, "Accounts", ParentId=root, MaxResults=5)
    assert n == 10
    emu.post("/config", {"org_page_size": 7})
    n, _ = pages(org.list_accounts_for_parent, "Accounts", ParentId=root)
    assert n == 7


def test_unknown_parent_is_still_reported_by_organizations(emu, sample, org):
    """Listing under a parent that does not exist answers ParentNotFoundException."""
    with pytest.raises(ClientError) as e:
        org.list_accounts_for_parent(ParentId="ou-zzzz-zzzzzzzz")
    assert error_code(e) == "ParentNotFoundException"


def test_an_accounts_tags_are_its_own_and_an_account_not_in_the_organization_has_none_to_list(emu, sample, org):
    """AWS Organizations API Reference, ListTagsForResource, Errors: TargetNotFoundException
    ("We can't find a root, OU, account, or policy with the TargetId that you specified"), for
    an account that is not in the organization, one that was never in it or one removed from it.
    moto 5.2.5 answers this itself (its resource lookup for tagging), so the layer adds nothing;
    pinned here because org-events reads it as "not in the organization". And the tags of an OU
    are the OU's: ListTagsForResource on an account under it does not show them (tags are not
    inherited; the User Guide's "Tagging AWS Organizations resources" tags each resource)."""
    for gone in ("999999999999",):
        with pytest.raises(ClientError) as e:
            org.list_tags_for_resource(ResourceId=gone)
        assert e.value.response["Error"]["Code"] == "TargetNotFoundException"
    removed = acct(sample, "staging-2")
    org.remove_account_from_organization(AccountId=removed)
    with pytest.raises(ClientError) as e:
        org.list_tags_for_resource(ResourceId=removed)
    assert e.value.response["Error"]["Code"] == "TargetNotFoundException"
    # A key no sample account carries (the sample's accounts have tags of their own).
    org.tag_resource(ResourceId=ou(sample, "Root/Prod"), Tags=[{"Key": "ou-only", "Value": "prod"}])
    own = org.list_tags_for_resource(ResourceId=acct(sample, "prod-web"))["Tags"]
    assert own and all(t["Key"] != "ou-only" for t in own), own
    assert org.list_tags_for_resource(ResourceId=ou(sample, "Root/Prod"))["Tags"] == [{"Key": "ou-only", "Value": "prod"}]


def test_create_account_with_tags_tags_the_new_account(emu, org):
    """AWS Organizations API Reference, CreateAccount, Tags: "A list of tags that you want to
    attach to the newly created account" (readable with ListTagsForResource once the account
    exists)."""
    emu.post("/fixture/sample")
    status = org.create_account(AccountName="tagged", Email="aws+tagged@acme-corp.example",
                                Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "payments"}])
    account = status["CreateAccountStatus"]["AccountId"]
    tags = org.list_tags_for_resource(ResourceId=account)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("team", "payments")]


# ----------------------------------------------------------------------------- trusted access


def test_service_managed_stack_set_needs_trusted_access(emu, cfn, org):
    """SERVICE_MANAGED stack sets need trusted access for StackSets in Organizations; without
    it CreateStackSet answers ValidationError 'You must enable organizations access to operate
    a service managed stack set'. ActivateOrganizationsAccess enables it."""
    emu.post("/fixture/sample", {"trusted_access": False})
    assert cfn.describe_organizations_access()["Status"] == "DISABLED"
    with pytest.raises(ClientError) as e:
        make_stack_set(cfn)
    assert error_code(e) == "ValidationError"
    assert "You must enable organizations access to operate a service managed stack set" in str(e.value)
    cfn.activate_organizations_access()
    assert cfn.describe_organizations_access()["Status"] == "ENABLED"
    principals = [s["ServicePrincipal"] for s in org.list_aws_service_access_for_organization()["EnabledServicePrincipals"]]
    assert "member.org.stacksets.cloudformation.amazonaws.com" in principals
    make_stack_set(cfn)
    assert cfn.describe_stack_set(StackSetName="port-aws-integration")["StackSet"]["PermissionModel"] == "SERVICE_MANAGED"


def test_create_stack_instances_needs_trusted_access_too(emu, sample, cfn):
    """Deactivating trusted access makes CreateStackInstances on a service-managed set fail."""
    name = make_stack_set(cfn)
    cfn.deactivate_organizations_access()
    with pytest.raises(ClientError) as e:
        deploy(cfn, name, [ou(sample, "Root/Prod")])
    assert error_code(e) == "ValidationError"
    assert "enable organizations access" in str(e.value)


# ----------------------------------------------------------------------------- targeting


def test_targeting_an_ou_reaches_every_descendant_ou(emu, sample, cfn):
    """Targeting an OU deploys to every account in its child OUs, recursively (moto stops at
    one level); each instance records the most specific targeted OU it was deployed through."""
    name = make_stack_set(cfn)
    prod, eu = ou(sample, "Root/Prod"), ou(sample, "Root/Prod/EU")
    op = deploy(cfn, name, [prod, eu])
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    got = instances(cfn, name)
    expected = {"prod-web", "prod-data", "prod-eu-1", "prod-eu-payments", "prod-eu-pci", "prod-us-1"}
    assert set(got) == {acct(sample, n) for n in expected}
    assert got[acct(sample, "prod-eu-pci")]["OrganizationalUnitId"] == eu
    assert got[acct(sample, "prod-web")]["OrganizationalUnitId"] == prod
    assert all(i["Status"] == "CURRENT" and i["StackInstanceStatus"]["DetailedStatus"] == "SUCCEEDED" for i in got.values())
    assert cfn.describe_stack_set(StackSetName=name)["StackSet"]["OrganizationalUnitIds"] == [prod, eu]


def test_management_account_is_never_deployed_to(emu, sample, cfn):
    """Service-managed stack sets never deploy to the management account, even when it sits
    inside a targeted OU (here Infrastructure, and the root)."""
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Infrastructure")])
    wait_op(cfn, name, op)
    assert set(instances(cfn, name)) == {acct(sample, "shared-services")}
    op = deploy(cfn, name, [sample["root_id"]])
    wait_op(cfn, name, op)
    got = instances(cfn, name)
    assert "123456789012" not in got
    assert len(got) == len(sample["accounts"]) - 1
    assert "123456789012" not in results(cfn, name, op)


def test_suspended_accounts_are_skipped_not_failed(emu, sample, cfn):
    """Suspended accounts are skipped: the instance is OUTDATED with detailed status
    SKIPPED_SUSPENDED_ACCOUNT, and the operation still SUCCEEDS."""
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Staging")])
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    inst = instances(cfn, name)[acct(sample, "staging-suspended")]
    assert inst["Status"] == "OUTDATED"
    assert inst["StackInstanceStatus"]["DetailedStatus"] == "SKIPPED_SUSPENDED_ACCOUNT"
    assert "StackId" not in inst
    res = results(cfn, name, op)[acct(sample, "staging-suspended")]
    assert res["Status"] == "SUCCEEDED" and "suspended" in res["StatusReason"]
    assert res["AccountGateResult"]["Status"] == "SKIPPED"
    assert instances(cfn, name)[acct(sample, "staging-1")]["Status"] == "CURRENT"


def test_intersection_filter_keeps_only_listed_accounts_inside_the_targets(emu, sample, cfn):
    """AccountFilterType INTERSECTION deploys only to listed accounts that are in the targeted
    OU subtrees; a listed account outside them is ignored."""
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Prod")], [acct(sample, "prod-eu-pci"), acct(sample, "staging-1")], "INTERSECTION")
    wait_op(cfn, name, op)
    assert set(instances(cfn, name)) == {acct(sample, "prod-eu-pci")}


def test_difference_filter_excludes_listed_accounts(emu, sample, cfn):
    """AccountFilterType DIFFERENCE deploys to the OU subtrees minus the listed accounts."""
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Prod/EU")], [acct(sample, "prod-eu-payments")], "DIFFERENCE")
    wait_op(cfn, name, op)
    assert set(instances(cfn, name)) == {acct(sample, "prod-eu-1"), acct(sample, "prod-eu-pci")}


def test_union_filter_is_rejected_by_create_stack_instances(emu, sample, cfn):
    """CreateStackInstances does not accept AccountFilterType UNION."""
    name = make_stack_set(cfn)
    with pytest.raises(ClientError) as e:
        deploy(cfn, name, [ou(sample, "Root/Prod")], [acct(sample, "staging-1")], "UNION")
    assert error_code(e) == "ValidationError"
    assert instances(cfn, name) == {}


@pytest.mark.parametrize(
    "accounts,filter_type",
    [(None, "INTERSECTION"), ([], "DIFFERENCE"), (["111111111111"], "NONE"), (["111111111111"], None), (["12345"], "INTERSECTION")],
)
def test_account_filters_need_consistent_accounts(emu, sample, cfn, accounts, filter_type):
    """INTERSECTION / DIFFERENCE need Accounts; Accounts need a filter type; account IDs are 12 digits."""
    name = make_stack_set(cfn)
    with pytest.raises(ClientError) as e:
        deploy(cfn, name, [ou(sample, "Root/Prod")], accounts, filter_type)
    assert error_code(e) == "ValidationError"


def test_unknown_ou_is_a_validation_error_naming_it(emu, sample, cfn):
    """Targeting an OU ID that does not exist answers ValidationError naming the ID."""
    name = make_stack_set(cfn)
    with pytest.raises(ClientError) as e:
        deploy(cfn, name, ["ou-abcd-12345678"])
    assert error_code(e) == "ValidationError" and "ou-abcd-12345678" in str(e.value)


def test_service_managed_targets_need_ou_ids_and_reject_plain_accounts(emu, sample, cfn):
    """Service-managed stack sets take DeploymentTargets.OrganizationalUnitIds, not Accounts."""
    name = make_stack_set(cfn)
    with pytest.raises(ClientError) as e:
        cfn.create_stack_instances(StackSetName=name, Accounts=[acct(sample, "prod-web")], Regions=REGIONS)
    assert error_code(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        cfn.create_stack_instances(StackSetName=name, DeploymentTargets={"Accounts": [acct(sample, "prod-web")]}, Regions=REGIONS)
    assert error_code(e) == "ValidationError"


def test_self_managed_stack_sets_take_accounts_not_ous(emu, sample, cfn):
    """SELF_MANAGED stack sets deploy to listed Accounts and reject OrganizationalUnitIds."""
    cfn.create_stack_set(StackSetName="self-managed", TemplateBody=TEMPLATE)
    assert cfn.describe_stack_set(StackSetName="self-managed")["StackSet"]["PermissionModel"] == "SELF_MANAGED"
    with pytest.raises(ClientError) as e:
        cfn.create_stack_instances(StackSetName="self-managed", DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod")]}, Regions=REGIONS)
    assert error_code(e) == "ValidationError"
    op = cfn.create_stack_instances(StackSetName="self-managed", Accounts=[acct(sample, "prod-web"), "123456789012"], Regions=REGIONS)["OperationId"]
    assert wait_op(cfn, "self-managed", op)["Status"] == "SUCCEEDED"
    got = instances(cfn, "self-managed")
    assert set(got) == {acct(sample, "prod-web"), "123456789012"}
    assert "OrganizationalUnitId" not in got["123456789012"]


def test_instances_span_every_requested_region(emu, sample, cfn):
    """One stack instance per (account, region)."""
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Prod/US")], regions=["us-east-1", "eu-west-1"])
    wait_op(cfn, name, op)
    got = cfn.list_stack_instances(StackSetName=name)["Summaries"]
    assert sorted(i["Region"] for i in got) == ["eu-west-1", "us-east-1"]
    assert len(results(cfn, name, op)) == 1  # keyed by account; two rows
    rows = cfn.list_stack_set_operation_results(StackSetName=name, OperationId=op)["Summaries"]
    assert len(rows) == 2


# ----------------------------------------------------------------------------- operations


def test_operations_are_asynchronous_and_one_at_a_time(emu, sample, cfn):
    """Mutating calls return an OperationId at once; the operation is RUNNING for a while, its
    instances OUTDATED and RUNNING; meanwhile any other mutating call on the same stack set
    answers OperationInProgressException."""
    emu.post("/config", {"operation_seconds": 1.0})
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Prod/US")])
    described = cfn.describe_stack_set_operation(StackSetName=name, OperationId=op)["StackSetOperation"]
    assert described["Status"] == "RUNNING" and described["Action"] == "CREATE"
    assert "EndTimestamp" not in described
    inst = instances(cfn, name)[acct(sample, "prod-us-1")]
    assert inst["Status"] == "OUTDATED" and inst["StackInstanceStatus"]["DetailedStatus"] == "RUNNING"
    calls = [
        lambda: deploy(cfn, name, [ou(sample, "Root/Staging")]),
        lambda: cfn.update_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod/US")]}, Regions=REGIONS),
        lambda: cfn.delete_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod/US")]}, Regions=REGIONS, RetainStacks=False),
        lambda: cfn.update_stack_set(StackSetName=name, TemplateBody=TEMPLATE),
        lambda: cfn.detect_stack_set_drift(StackSetName=name),
        lambda: cfn.delete_stack_set(StackSetName=name),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "OperationInProgressException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    done = wait_op(cfn, name, op)
    assert done["Status"] == "SUCCEEDED" and done["EndTimestamp"] >= done["CreationTimestamp"]
    assert instances(cfn, name)[acct(sample, "prod-us-1")]["Status"] == "CURRENT"


def test_reusing_an_operation_id_is_rejected(emu, sample, cfn):
    """A caller-supplied OperationId is honoured; supplying it again answers
    OperationIdAlreadyExistsException."""
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Prod/US")], op_id="enroll-0001")
    assert op == "enroll-0001"
    wait_op(cfn, name, op)
    with pytest.raises(ClientError) as e:
        deploy(cfn, name, [ou(sample, "Root/Staging")], op_id="enroll-0001")
    assert error_code(e) == "OperationIdAlreadyExistsException"


def test_injected_failure_shows_in_operation_results_with_its_reason(emu, sample, cfn):
    """A failing account's result is FAILED with the CloudFormation StatusReason; its instance is
    OUTDATED / FAILED; with the default tolerance of 0 the operation is FAILED; the rest succeed."""
    name = make_stack_set(cfn)
    bad = acct(sample, "prod-eu-1")
    emu.post("/fail-account", {"account_id": bad, "reason": OIDC_REASON, "times": 1})
    op = deploy(cfn, name, [ou(sample, "Root/Prod/EU")])
    assert wait_op(cfn, name, op)["Status"] == "FAILED"
    res = results(cfn, name, op)
    assert res[bad]["Status"] == "FAILED" and res[bad]["StatusReason"] == OIDC_REASON
    assert res[acct(sample, "prod-eu-pci")]["Status"] == "SUCCEEDED"
    inst = instances(cfn, name)[bad]
    assert (inst["Status"], inst["StackInstanceStatus"]["DetailedStatus"], inst["StatusReason"]) == ("OUTDATED", "FAILED", OIDC_REASON)
    failed_only = cfn.list_stack_set_operation_results(
        StackSetName=name, OperationId=op, Filters=[{"Name": "OPERATION_RESULT_STATUS", "Values": "FAILED"}]
    )["Summaries"]
    assert [r["Account"] for r in failed_only] == [bad]
    # times=1: the retry succeeds.
    op2 = cfn.update_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod/EU")]}, Regions=REGIONS)["OperationId"]
    assert wait_op(cfn, name, op2)["Status"] == "SUCCEEDED"
    assert instances(cfn, name)[bad]["Status"] == "CURRENT"


SCP_DENY = re.compile(
    r"^User: arn:aws:sts::(\d{12}):assumed-role/(stacksets-exec-[0-9a-f]{32}|[\w+=,.@-]+)/\w+ is not "
    r"authorized to perform: cloudformation:(CreateStack|UpdateStack|DeleteStack) on resource: "
    r"arn:aws:cloudformation:([a-z0-9-]+):(\d{12}):stack/StackSet-[\w-]+/\* with an explicit deny "
    r"in a service control policy$"
)


def test_a_quarantined_account_fails_in_aws_words_until_its_operations_run_out(emu, sample, cfn):
    """A landing zone's quarantine SCP (landing-zone-accelerator-on-aws #850) denies the StackSets
    execution role in a new account. StackSets act there as stacksets-exec-* (CloudFormation
    User Guide, custom execution role: "creates an execution role named stacksets-exec-* in each
    target account"); its call is refused in IAM's words for an SCP ("... with an explicit deny in
    a service control policy", IAM User Guide, access denied messages). Only that account fails,
    through fail-account's rule: result FAILED, instance OUTDATED / FAILED with the same reason,
    for exactly the next N operations that touch it; then it succeeds."""
    name = make_stack_set(cfn)
    eu = ou(sample, "Root/Prod/EU")
    new = acct(sample, "prod-eu-1")
    answer = emu.post("/quarantine", {"account_id": new, "until_operations": 2})
    assert answer["failures"][new]["scp"] is True and answer["failures"][new]["times"] == 2
    op = deploy(cfn, name, [eu], prefs={"FailureTolerancePercentage": 100})
    wait_op(cfn, name, op)
    res = results(cfn, name, op)
    m = SCP_DENY.match(res[new]["StatusReason"])
    assert res[new]["Status"] == "FAILED" and m, res[new]
    assert (m.group(1), m.group(3), m.group(4), m.group(5)) == (new, "CreateStack", REGIONS[0], new)
    assert m.group(2).startswith("stacksets-exec-"), "service-managed: the stacksets-exec role"
    assert res[acct(sample, "prod-eu-pci")]["Status"] == "SUCCEEDED"
    inst = instances(cfn, name)[new]
    assert (inst["Status"], inst["StackInstanceStatus"]["DetailedStatus"]) == ("OUTDATED", "FAILED")
    assert SCP_DENY.match(inst["StatusReason"]).group(3) == "CreateStack"
    # The second operation touching the account is denied too (an update: UpdateStack)...
    op = update_one(cfn, name, sample, new)
    wait_op(cfn, name, op)
    assert SCP_DENY.match(results(cfn, name, op)[new]["StatusReason"]).group(3) == "UpdateStack"
    # ...and the third gets through: the quarantine ended with its operations.
    op = update_one(cfn, name, sample, new)
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    assert instances(cfn, name)[new]["Status"] == "CURRENT"


def test_a_quarantine_lasts_until_lifted_or_for_its_seconds(emu, sample, cfn):
    """Without an end, the deny holds for every operation until lift-quarantine; with seconds,
    until that time has passed (an operation started after it succeeds). A self-managed
    StackSet's execution role is the StackSet's ExecutionRoleName. A DELETE with RetainStacks
    never touches the account, so it is not denied."""
    name = make_stack_set(cfn)
    staging = ou(sample, "Root/Staging")
    a = acct(sample, "staging-1")
    emu.post("/quarantine", {"account_id": a})
    for _ in range(3):
        op = deploy(cfn, name, [staging]) if _ == 0 else update_one(cfn, name, sample, a)
        wait_op(cfn, name, op)
        assert results(cfn, name, op)[a]["Status"] == "FAILED"
    # lift-quarantine ends a quarantine only, never a fail-account failure.
    emu.post("/fail-account", {"account_id": acct(sample, "staging-2"), "reason": ROLE_REASON})
    assert emu.post("/lift-quarantine", {"account_id": acct(sample, "staging-2")})["lifted"] is False
    assert emu.post("/lift-quarantine", {"account_id": a})["lifted"] is True
    op = update_one(cfn, name, sample, a)
    wait_op(cfn, name, op)
    assert results(cfn, name, op)[a]["Status"] == "SUCCEEDED"
    # seconds: denied now, not after they passed.
    emu.post("/quarantine", {"account_id": a, "seconds": 1.5})
    op = update_one(cfn, name, sample, a)
    wait_op(cfn, name, op)
    assert results(cfn, name, op)[a]["Status"] == "FAILED"
    time.sleep(1.6)
    op = update_one(cfn, name, sample, a)
    wait_op(cfn, name, op)
    assert results(cfn, name, op)[a]["Status"] == "SUCCEEDED"
    # Self-managed: the StackSet's own execution role; RetainStacks is never denied.
    emu.post("/quarantine", {"account_id": a})
    cfn.create_stack_set(StackSetName="self", TemplateBody=TEMPLATE, PermissionModel="SELF_MANAGED")
    op = cfn.create_stack_instances(StackSetName="self", Accounts=[a], Regions=REGIONS)["OperationId"]
    wait_op(cfn, "self", op)
    m = SCP_DENY.match(results(cfn, "self", op)[a]["StatusReason"])
    assert m and m.group(2) == "AWSCloudFormationStackSetExecutionRole", m
    op = cfn.delete_stack_instances(StackSetName="self", Accounts=[a], Regions=REGIONS, RetainStacks=True)["OperationId"]
    wait_op(cfn, "self", op)
    assert results(cfn, "self", op)[a]["Status"] == "SUCCEEDED"


@pytest.mark.parametrize("body, says", [
    ({"account_id": "12345", "seconds": 5}, "account_id must be a 12-digit string, got '12345'"),
    ({"account_id": "111111111111", "until_operations": 0}, "until_operations must be a whole number >= 1, got 0"),
    ({"account_id": "111111111111", "until_operations": "2"}, "until_operations must be a whole number >= 1, got '2'"),
    ({"account_id": "111111111111", "seconds": -1}, "seconds must be a number > 0, got -1"),
    ({"account_id": "111111111111", "seconds": 5, "until_operations": 2}, "give until_operations or seconds, not both"),
])
def test_a_bad_quarantine_request_is_refused_naming_the_value(emu, body, says):
    with pytest.raises(AssertionError) as e:
        emu.post("/quarantine", body)
    assert "-> 400" in str(e.value) and says in str(e.value), e.value


def test_failure_tolerance_decides_the_operation_status(emu, sample, cfn):
    """With ConcurrencyMode SOFT_FAILURE_TOLERANCE and FailureToleranceCount 1, one failed
    account leaves the operation SUCCEEDED; two make it FAILED."""
    name = make_stack_set(cfn)
    prefs = {"ConcurrencyMode": "SOFT_FAILURE_TOLERANCE", "FailureToleranceCount": 1, "MaxConcurrentPercentage": 100}
    emu.post("/fail-account", {"account_id": acct(sample, "prod-web"), "reason": ROLE_REASON})
    op = deploy(cfn, name, [ou(sample, "Root/Prod")], prefs=prefs)
    done = wait_op(cfn, name, op)
    assert done["Status"] == "SUCCEEDED"
    assert done["OperationPreferences"]["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"
    assert results(cfn, name, op)[acct(sample, "prod-web")]["StatusReason"] == ROLE_REASON
    emu.post("/fail-account", {"account_id": acct(sample, "prod-data"), "reason": ROLE_REASON})
    op = cfn.update_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod")]}, Regions=REGIONS, OperationPreferences=prefs)["OperationId"]
    assert wait_op(cfn, name, op)["Status"] == "FAILED"
    emu.post("/clear-failures")
    op = cfn.update_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod")]}, Regions=REGIONS, OperationPreferences={"FailureTolerancePercentage": 50})["OperationId"]
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"


def test_list_stack_set_operations_is_newest_first(emu, sample, cfn):
    """ListStackSetOperations lists the stack set's operations, newest first."""
    name = make_stack_set(cfn)
    first = deploy(cfn, name, [ou(sample, "Root/Prod/US")])
    wait_op(cfn, name, first)
    second = cfn.detect_stack_set_drift(StackSetName=name)["OperationId"]
    wait_op(cfn, name, second)
    ops = cfn.list_stack_set_operations(StackSetName=name)["Summaries"]
    assert [o["OperationId"] for o in ops] == [second, first]
    assert [o["Action"] for o in ops] == ["DETECT_DRIFT", "CREATE"]


def list_all_operations(cfn, name, page_size):
    ids, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        out = cfn.list_stack_set_operations(StackSetName=name, MaxResults=page_size, **kw)
        ids += [o["OperationId"] for o in out["Summaries"]]
        token = out.get("NextToken")
        if not token:
            return ids


def test_shuffled_operations_listing_has_no_order_but_lists_each_operation_once(emu, sample, cfn):
    """ListStackSetOperations documents no order (CloudFormation API Reference,
    ListStackSetOperations): with operations_listing.order "shuffled" each listing comes in
    its own order, its pages (NextToken) continue that order, and every operation is listed
    exactly once; the CreationTimestamp orders them."""
    emu.post("/config", {"operations_listing": {"order": "shuffled"}})
    name = make_stack_set(cfn)
    started = [deploy(cfn, name, [ou(sample, "Root/Prod/US")])]
    wait_op(cfn, name, started[0])
    for _ in range(4):
        started.append(cfn.detect_stack_set_drift(StackSetName=name)["OperationId"])
        wait_op(cfn, name, started[-1])
    listings = [list_all_operations(cfn, name, 2) for _ in range(6)]
    for ids in listings:
        assert sorted(ids) == sorted(started)
    assert len({tuple(ids) for ids in listings}) > 1, listings
    ops = cfn.list_stack_set_operations(StackSetName=name)["Summaries"]
    by_time = sorted(ops, key=lambda o: o["CreationTimestamp"], reverse=True)
    assert [o["OperationId"] for o in by_time] == list(reversed(started))


def test_lagging_operations_listing_shows_an_operation_only_after_the_lag(emu, sample, cfn):
    """ListStackSetOperations and ListStackSetOperationResults are eventually consistent
    (API Reference: "This API provides eventually consistent reads"), DescribeStackSetOperation
    strongly consistent ("This API provides strongly consistent reads"): with
    operations_listing.lag_seconds a new operation is described at once, but neither it nor
    its results are listed until the lag has passed."""
    emu.post("/config", {"operations_listing": {"lag_seconds": 1.5}})
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Prod/US")])
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    assert cfn.list_stack_set_operations(StackSetName=name)["Summaries"] == []
    assert cfn.list_stack_set_operation_results(StackSetName=name, OperationId=op)["Summaries"] == []
    time.sleep(1.6)
    assert [o["OperationId"] for o in cfn.list_stack_set_operations(StackSetName=name)["Summaries"]] == [op]
    rows = cfn.list_stack_set_operation_results(StackSetName=name, OperationId=op)["Summaries"]
    assert [(r["Account"], r["Status"]) for r in rows] == [(acct(sample, "prod-us-1"), "SUCCEEDED")]


@pytest.mark.parametrize(
    "bad, says",
    [
        ({"order": "oldest_first"}, "operations_listing.order 'oldest_first'"),
        ({"lag_seconds": -1}, "operations_listing.lag_seconds -1.0"),
        ({"lag": 2}, "unknown operations_listing keys ['lag']"),
    ],
)
def test_a_bad_operations_listing_config_is_refused_naming_the_value(emu, bad, says):
    """The control endpoint refuses an operations_listing it cannot play, naming the value."""
    with pytest.raises(AssertionError) as e:
        emu.post("/config", {"operations_listing": bad})
    assert "-> 400" in str(e.value) and says in str(e.value), e.value


def test_stop_stack_set_operation_cancels_a_running_operation(emu, sample, cfn):
    """StopStackSetOperation stops a running operation (STOPPED); stopping a finished one answers
    InvalidOperationException."""
    emu.post("/config", {"operation_seconds": 5})
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [ou(sample, "Root/Prod/US")])
    cfn.stop_stack_set_operation(StackSetName=name, OperationId=op)
    assert cfn.describe_stack_set_operation(StackSetName=name, OperationId=op)["StackSetOperation"]["Status"] == "STOPPED"
    assert results(cfn, name, op)[acct(sample, "prod-us-1")]["Status"] == "CANCELLED"
    with pytest.raises(ClientError) as e:
        cfn.stop_stack_set_operation(StackSetName=name, OperationId=op)
    assert error_code(e) == "InvalidOperationException"
    with pytest.raises(ClientError) as e:
        cfn.describe_stack_set_operation(StackSetName=name, OperationId="nope")
    assert error_code(e) == "OperationNotFoundException"


def test_update_stack_set_updates_all_instances(emu, sample, cfn):
    """UpdateStackSet changes the template and starts an UPDATE operation over every instance."""
    name = make_stack_set(cfn)
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/EU")]))
    new_template = TEMPLATE.replace("Nothing", "StillNothing")
    op = cfn.update_stack_set(StackSetName=name, TemplateBody=new_template, Parameters=[{"ParameterKey": "IntegrationIdentifier", "ParameterValue": "aws-v3-multi"}])["OperationId"]
    assert wait_op(cfn, name, op)["Action"] == "UPDATE"
    assert len(results(cfn, name, op)) == 3
    ss = cfn.describe_stack_set(StackSetName=name)["StackSet"]
    assert ss["TemplateBody"] == new_template
    assert ss["Parameters"] == [{"ParameterKey": "IntegrationIdentifier", "ParameterValue": "aws-v3-multi"}]
    assert all(i["LastOperationId"] == op for i in instances(cfn, name).values())


def test_update_stack_instances_of_missing_instances_is_an_error(emu, sample, cfn):
    """UpdateStackInstances acts on existing instances only; none matching is an error."""
    name = make_stack_set(cfn)
    with pytest.raises(ClientError) as e:
        cfn.update_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod")]}, Regions=REGIONS)
    assert error_code(e) == "StackInstanceNotFoundException"


# ----------------------------------------------------------------------------- deletion


def delete(cfn, name, ou_ids, accounts, retain=False):
    return cfn.delete_stack_instances(
        StackSetName=name,
        DeploymentTargets={"OrganizationalUnitIds": ou_ids, "AccountFilterType": "INTERSECTION", "Accounts": accounts},
        Regions=REGIONS, RetainStacks=retain,
    )["OperationId"]


@pytest.mark.parametrize("reading", ["now", "recorded"])
def test_moved_account_keeps_its_instance_and_records_the_ou_it_was_deployed_through(emu, sample, cfn, org, reading):
    """ListStackInstances' OrganizationalUnitId is the OU given in DeploymentTargets at
    deployment (API reference, StackInstanceSummary); moving the account does not change it
    and, auto-deployment being off, does not remove the instance."""
    emu.post("/config", {"ou_reading": reading})
    name = make_stack_set(cfn)
    staging, sandbox = ou(sample, "Root/Staging"), ou(sample, "Root/Sandbox")
    wait_op(cfn, name, deploy(cfn, name, [staging]))
    moved = acct(sample, "staging-1")
    org.move_account(AccountId=moved, SourceParentId=staging, DestinationParentId=sandbox)
    assert instances(cfn, name)[moved]["OrganizationalUnitId"] == staging


@pytest.mark.parametrize("reading,through,reached", [
    ("recorded", "Root/Staging", True),   # the recorded OU reaches it
    ("recorded", "Root", False),          # it was not deployed through the root
    ("now", "Root/Staging", False),       # it is no longer under Staging
    ("now", "Root", True),                # it is under the root now
])
def test_a_listed_ou_is_resolved_by_the_configured_reading(emu, sample, cfn, org, reading, through, reached):
    """AWS's API reference does not say whether Update/DeleteStackInstances resolve a listed
    OU through the organization as it is now or through each instance's recorded OU
    (the API reference is silent on it). The `ou_reading` switch plays each reading
    strictly, never both at once."""
    emu.post("/config", {"ou_reading": reading})
    name = make_stack_set(cfn)
    staging, sandbox = ou(sample, "Root/Staging"), ou(sample, "Root/Sandbox")
    wait_op(cfn, name, deploy(cfn, name, [staging]))
    moved = acct(sample, "staging-1")
    org.move_account(AccountId=moved, SourceParentId=staging, DestinationParentId=sandbox)
    op = delete(cfn, name, [ou(sample, through)], [moved])
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    left = instances(cfn, name)
    assert (moved not in left) == reached
    assert acct(sample, "staging-2") in left


@pytest.mark.parametrize("reading", ["now", "recorded"])
def test_listing_the_root_and_the_recorded_ou_reaches_a_moved_account_under_both_readings(emu, sample, cfn, org, reading):
    """With INTERSECTION and explicit accounts, listing the root as well as the recorded OU
    reaches the account under either reading, and nothing else."""
    emu.post("/config", {"ou_reading": reading})
    name = make_stack_set(cfn)
    staging, sandbox = ou(sample, "Root/Staging"), ou(sample, "Root/Sandbox")
    wait_op(cfn, name, deploy(cfn, name, [staging]))
    moved = acct(sample, "staging-1")
    org.move_account(AccountId=moved, SourceParentId=staging, DestinationParentId=sandbox)
    op = delete(cfn, name, [sample["root_id"], staging], [moved])
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    assert set(instances(cfn, name)) == {acct(sample, "staging-2"), acct(sample, "staging-suspended")}


def test_ou_reading_switch_rejects_unknown_readings(emu):
    with pytest.raises(AssertionError, match="400.*ou_reading must be"):
        emu.post("/config", {"ou_reading": "either"})


@pytest.mark.parametrize("action", ["create", "update", "delete"])
def test_more_than_50_ous_in_one_operation_is_a_validation_error(emu, cfn, action):
    """API reference, Create/Update/DeleteStackInstances: "The maximum number of
    organizational unit (OUs) supported by a ... operation is 50." Fifty is accepted."""
    emu.post("/fixture/generate", {"accounts": 60, "ous": 60, "max_depth": 1, "suspended_every": 0, "seed": 3})
    org = emu.client("organizations")
    root = org.list_roots()["Roots"][0]["Id"]
    _, ous = pages(org.list_organizational_units_for_parent, "OrganizationalUnits", ParentId=root)
    ids = [o["Id"] for o in ous]
    assert len(ids) == 60
    name = make_stack_set(cfn)
    wait_op(cfn, name, deploy(cfn, name, ids[:50]))
    some = next(iter(instances(cfn, name)))
    calls = {
        "create": lambda ous: cfn.create_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": ous}, Regions=["us-west-2"]),
        "update": lambda ous: cfn.update_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": ous, "AccountFilterType": "INTERSECTION", "Accounts": [some]}, Regions=REGIONS),
        "delete": lambda ous: cfn.delete_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": ous, "AccountFilterType": "INTERSECTION", "Accounts": [some]}, Regions=REGIONS, RetainStacks=False),
    }
    with pytest.raises(ClientError) as e:
        calls[action](ids)
    assert error_code(e) == "ValidationError"
    assert "maximum number of organizational unit (OUs)" in str(e.value) and "is 50" in str(e.value)
    wait_op(cfn, name, calls[action](ids[:50])["OperationId"])


def test_deleting_a_suspended_accounts_instance_fails_and_leaves_it_inoperable(emu, sample, cfn, org):
    """StackSets cannot reach a suspended account: DeleteStackInstances without RetainStacks
    fails for it and the instance is INOPERABLE (API reference, StackInstanceSummary.Status;
    Knowledge Center "cloudformation-removal-stacksets")."""
    name = make_stack_set(cfn)
    staging = ou(sample, "Root/Staging")
    wait_op(cfn, name, deploy(cfn, name, [staging]))
    gone = acct(sample, "staging-1")
    emu.post("/account-state", {"account_id": gone, "state": "SUSPENDED"})
    op = delete(cfn, name, [staging], [gone])
    wait_op(cfn, name, op)
    res = results(cfn, name, op)[gone]
    assert res["Status"] == "FAILED" and "RetainStacks" in res["StatusReason"]
    inst = instances(cfn, name)[gone]
    assert inst["Status"] == "INOPERABLE"
    assert inst["StackInstanceStatus"]["DetailedStatus"] == "INOPERABLE"


def test_retain_stacks_drops_an_unreachable_accounts_instance(emu, sample, cfn, org):
    """AWS's documented fix (Knowledge Center "cloudformation-removal-stacksets"):
    DeleteStackInstances with RetainStacks true removes the instance of a suspended or
    departed account from the StackSet without touching the account."""
    name = make_stack_set(cfn)
    staging = ou(sample, "Root/Staging")
    wait_op(cfn, name, deploy(cfn, name, [staging]))
    suspended, departed = acct(sample, "staging-1"), acct(sample, "staging-2")
    emu.post("/account-state", {"account_id": suspended, "state": "SUSPENDED"})
    org.remove_account_from_organization(AccountId=departed)
    wait_op(cfn, name, delete(cfn, name, [staging], [suspended, departed]))
    assert instances(cfn, name)[departed]["Status"] == "INOPERABLE"
    op = delete(cfn, name, [staging], [suspended, departed], retain=True)
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    assert {r["Status"] for r in results(cfn, name, op).values()} == {"SUCCEEDED"}
    left = instances(cfn, name)
    assert suspended not in left and departed not in left


def test_an_injected_delete_failure_is_per_account_and_hidden_by_the_tolerance(emu, sample, cfn):
    """With a failure tolerance above zero a delete ends SUCCEEDED although an account
    failed; only ListStackSetOperationResults tells (API reference,
    StackSetOperationPreferences); the failed instance is INOPERABLE."""
    name = make_stack_set(cfn)
    staging = ou(sample, "Root/Staging")
    wait_op(cfn, name, deploy(cfn, name, [staging]))
    a, b = acct(sample, "staging-1"), acct(sample, "staging-2")
    emu.post("/fail-account", {"account_id": a, "reason": "Role is in use", "times": 1})
    op = cfn.delete_stack_instances(
        StackSetName=name,
        DeploymentTargets={"OrganizationalUnitIds": [staging], "AccountFilterType": "INTERSECTION", "Accounts": [a, b]},
        Regions=REGIONS, RetainStacks=False, OperationPreferences={"FailureTolerancePercentage": 100},
    )["OperationId"]
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    res = results(cfn, name, op)
    assert res[a]["Status"] == "FAILED" and res[a]["StatusReason"] == "Role is in use"
    assert res[b]["Status"] == "SUCCEEDED"
    left = instances(cfn, name)
    assert left[a]["Status"] == "INOPERABLE" and b not in left


def test_delete_stack_instances_requires_retain_stacks(emu, sample, cfn):
    """RetainStacks is a required parameter of DeleteStackInstances."""
    name = make_stack_set(cfn)
    body = f"Action=DeleteStackInstances&Version=2010-05-15&StackSetName={name}&Regions.member.1=us-east-1&DeploymentTargets.OrganizationalUnitIds.member.1={ou(sample, 'Root/Prod')}"
    req = urllib.request.Request(emu.endpoint + "/", data=body.encode(), method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400 and b"<Code>ValidationError</Code>" in e.value.read()


def test_stack_set_cannot_be_deleted_while_instances_remain(emu, sample, cfn):
    """DeleteStackSet answers StackSetNotEmptyException while stack instances remain; once they
    are deleted the stack set can be deleted and is listed as DELETED."""
    name = make_stack_set(cfn)
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/US")]))
    with pytest.raises(ClientError) as e:
        cfn.delete_stack_set(StackSetName=name)
    assert error_code(e) == "StackSetNotEmptyException"
    op = cfn.delete_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod/US")]}, Regions=REGIONS, RetainStacks=False)["OperationId"]
    assert wait_op(cfn, name, op)["Action"] == "DELETE"
    assert instances(cfn, name) == {}
    cfn.delete_stack_set(StackSetName=name)
    with pytest.raises(ClientError) as e:
        cfn.describe_stack_set(StackSetName=name)
    assert error_code(e) == "StackSetNotFoundException"
    assert [s["Status"] for s in cfn.list_stack_sets(Status="DELETED")["Summaries"]] == ["DELETED"]
    assert cfn.list_stack_sets(Status="ACTIVE")["Summaries"] == []


def test_out_of_band_instance_deletion_removes_the_instance(emu, sample, cfn):
    """When someone deletes an instance outside this project, it is gone from ListStackInstances."""
    name = make_stack_set(cfn)
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/EU")]))
    gone = acct(sample, "prod-eu-1")
    emu.post("/delete-instance", {"stack_set_name": name, "account_id": gone, "region": "us-east-1"})
    assert gone not in instances(cfn, name)
    with pytest.raises(ClientError) as e:
        cfn.describe_stack_instance(StackSetName=name, StackInstanceAccount=gone, StackInstanceRegion="us-east-1")
    assert error_code(e) == "StackInstanceNotFoundException"


# ----------------------------------------------------------------------------- drift


def test_drift_detection_lifecycle(emu, sample, cfn):
    """Before detection instances are NOT_CHECKED; DetectStackSetDrift is an operation
    (DETECT_DRIFT) after which edited instances are DRIFTED and the others IN_SYNC, and the
    stack set reports its drift detection details."""
    name = make_stack_set(cfn)
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/EU")]))
    assert {i["DriftStatus"] for i in instances(cfn, name).values()} == {"NOT_CHECKED"}
    assert cfn.describe_stack_set(StackSetName=name)["StackSet"]["StackSetDriftDetectionDetails"]["DriftStatus"] == "NOT_CHECKED"
    edited = acct(sample, "prod-eu-pci")
    emu.post("/drift", {"stack_set_name": name, "account_id": edited, "region": "us-east-1"})
    op = cfn.detect_stack_set_drift(StackSetName=name)["OperationId"]
    done = wait_op(cfn, name, op)
    assert (done["Action"], done["Status"]) == ("DETECT_DRIFT", "SUCCEEDED")
    got = instances(cfn, name)
    assert got[edited]["DriftStatus"] == "DRIFTED" and "LastDriftCheckTimestamp" in got[edited]
    assert got[acct(sample, "prod-eu-1")]["DriftStatus"] == "IN_SYNC"
    details = cfn.describe_stack_set(StackSetName=name)["StackSet"]["StackSetDriftDetectionDetails"]
    assert details["DriftStatus"] == "DRIFTED" and details["DriftDetectionStatus"] == "COMPLETED"
    assert (details["DriftedStackInstancesCount"], details["InSyncStackInstancesCount"], details["TotalStackInstancesCount"]) == (1, 2, 3)
    drifted = cfn.list_stack_instances(StackSetName=name, Filters=[{"Name": "DRIFT_STATUS", "Values": "DRIFTED"}])["Summaries"]
    assert [i["Account"] for i in drifted] == [edited]


def test_updating_a_drifted_instance_repairs_it_at_the_next_detection(emu, sample, cfn):
    """Nothing repairs drift by itself; UpdateStackInstances re-applies the template. The
    instance keeps its DRIFTED status until the next detection, which then finds it IN_SYNC."""
    name = make_stack_set(cfn)
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/US")]))
    edited = acct(sample, "prod-us-1")
    emu.post("/drift", {"stack_set_name": name, "account_id": edited, "region": "us-east-1"})
    wait_op(cfn, name, cfn.detect_stack_set_drift(StackSetName=name)["OperationId"])
    op = cfn.update_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod/US")]}, Regions=REGIONS)["OperationId"]
    wait_op(cfn, name, op)
    assert instances(cfn, name)[edited]["DriftStatus"] == "DRIFTED"
    wait_op(cfn, name, cfn.detect_stack_set_drift(StackSetName=name)["OperationId"])
    assert instances(cfn, name)[edited]["DriftStatus"] == "IN_SYNC"
    assert cfn.describe_stack_set(StackSetName=name)["StackSet"]["StackSetDriftDetectionDetails"]["DriftStatus"] == "IN_SYNC"


# ----------------------------------------------------------------------------- listing


def test_list_stack_instances_paginates_and_filters(emu, cfn):
    """ListStackInstances honours MaxResults/NextToken and filters on DETAILED_STATUS and
    LAST_OPERATION_ID; DescribeStackInstance returns one instance."""
    fx = emu.post("/fixture/generate", {"accounts": 30, "ous": 3, "max_depth": 2, "suspended_every": 10, "seed": 5})
    name = make_stack_set(cfn)
    op = deploy(cfn, name, [fx["root_id"]])
    wait_op(cfn, name, op)
    n, items = pages(cfn.list_stack_instances, "Summaries", StackSetName=name, MaxResults=7)
    assert len(items) == 30 and n == 5
    skipped = cfn.list_stack_instances(StackSetName=name, Filters=[{"Name": "DETAILED_STATUS", "Values": "SKIPPED_SUSPENDED_ACCOUNT"}])["Summaries"]
    assert len(skipped) == 3
    by_op = cfn.list_stack_instances(StackSetName=name, Filters=[{"Name": "LAST_OPERATION_ID", "Values": op}])["Summaries"]
    assert len(by_op) == 30
    n, res = pages(cfn.list_stack_set_operation_results, "Summaries", StackSetName=name, OperationId=op, MaxResults=10)
    assert (n, len(res)) == (3, 30)
    one = items[0]
    got = cfn.describe_stack_instance(StackSetName=name, StackInstanceAccount=one["Account"], StackInstanceRegion="us-east-1")["StackInstance"]
    assert got["Account"] == one["Account"] and got["StackSetId"] == one["StackSetId"]


# ----------------------------------------------------------------------------- wire format, throttling, log


def test_cloudformation_answers_are_aws_query_xml(emu, sample):
    """Answers use the awsQuery envelope <XResponse xmlns=...><XResult/><ResponseMetadata/>, and
    errors the <ErrorResponse><Error><Type>Sender</Type><Code/> envelope with the model's status."""
    def post(body):
        req = urllib.request.Request(emu.endpoint + "/", data=body.encode(), method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    status, xml = post("Action=DescribeOrganizationsAccess&Version=2010-05-15")
    assert status == 200
    assert xml.startswith('<DescribeOrganizationsAccessResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeOrganizationsAccessResult><Status>ENABLED</Status></DescribeOrganizationsAccessResult><ResponseMetadata><RequestId>')
    status, xml = post("Action=DescribeStackSet&Version=2010-05-15&StackSetName=missing")
    assert status == 404
    assert xml.startswith('<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>StackSetNotFoundException</Code><Message>')


def test_throttling_follows_the_configured_rate_reproducibly(emu, sample):
    """With a throttle rate, a seeded share of calls answers TooManyRequestsException
    (Organizations, HTTP 400, JSON) or Throttling 'Rate exceeded' (CloudFormation, awsQuery);
    throttled calls never reach the backend, and the same seed gives the same sequence."""
    org = emu.client("organizations")
    cfn = emu.client("cloudformation")

    def run():
        outcomes = []
        for _ in range(150):
            try:
                org.list_roots()
                outcomes.append("ok")
            except ClientError as e:
                assert e.response["Error"]["Code"] == "TooManyRequestsException"
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                assert "another request is already in progress" in e.response["Error"]["Message"]
                outcomes.append("throttled")
        return outcomes

    emu.post("/config", {"throttle": {"organizations": 0.3}, "seed": 42})
    first = run()
    share = first.count("throttled") / len(first)
    assert 0.18 < share < 0.42, share
    emu.post("/config", {"seed": 42})
    assert run() == first
    log = emu.get("/requests")["requests"]
    org_log = [r for r in log if r["service"] == "organizations"]
    assert sum(r["throttled"] for r in org_log) == 2 * first.count("throttled")
    assert all(r["status"] == 400 for r in org_log if r["throttled"])

    emu.post("/config", {"throttle": {"organizations": 0, "cloudformation": 1.0}})
    with pytest.raises(ClientError) as e:
        cfn.describe_organizations_access()
    assert e.value.response["Error"]["Code"] == "Throttling"
    assert e.value.response["Error"]["Message"] == "Rate exceeded"
    # A throttled CreateStackSet never reached the backend.
    with pytest.raises(ClientError):
        make_stack_set(cfn)
    emu.post("/config", {"throttle": {"cloudformation": 0}})
    assert cfn.list_stack_sets()["Summaries"] == []


def test_request_log_records_service_action_and_params(emu, sample, cfn, org):
    """Every AWS call is logged with its service, action and parsed parameters, in order."""
    emu.post("/requests/clear")
    org.list_accounts_for_parent(ParentId=sample["root_id"], MaxResults=5)
    name = make_stack_set(cfn)
    deploy(cfn, name, [ou(sample, "Root/Prod")], op_id="log-op")
    log = emu.get("/requests")["requests"]
    assert [(r["service"], r["action"]) for r in log] == [
        ("organizations", "ListAccountsForParent"),
        ("cloudformation", "CreateStackSet"),
        ("cloudformation", "CreateStackInstances"),
    ]
    assert log[0]["params"] == {"ParentId": sample["root_id"], "MaxResults": 5}
    assert log[2]["params"]["DeploymentTargets.OrganizationalUnitIds.member.1"] == ou(sample, "Root/Prod")
    assert log[2]["params"]["OperationId"] == "log-op"
    assert [r["seq"] for r in log] == sorted(r["seq"] for r in log)
    assert all(r["status"] == 200 and not r["throttled"] for r in log)
    dump = emu.get(f"/stack-instances?stack_set_name={name}")["instances"]
    assert {d["account"] for d in dump} == {acct(sample, n) for n in ("prod-web", "prod-data", "prod-eu-1", "prod-eu-payments", "prod-eu-pci", "prod-us-1")}


def test_other_cloudformation_calls_still_reach_moto(emu, cfn):
    """Everything that is not StackSets is moto's: stacks can be created and described."""
    cfn.create_stack(StackName="plain-stack", TemplateBody=TEMPLATE)
    assert cfn.describe_stacks(StackName="plain-stack")["Stacks"][0]["StackName"] == "plain-stack"


def test_a_stack_is_described_by_its_id_with_parameters_and_after_deletion(emu, cfn):
    """AWS DescribeStacks (API reference): StackName takes the stack name or its unique stack
    ID; a deleted stack is described only by its ID, with status DELETE_COMPLETE. Parameters
    come back as given, up to CloudFormation's 4,096 bytes per value (CloudFormation quotas).
    The control endpoint holds a stack in a status that AWS shows while it works on it."""
    body = json.dumps({
        "Parameters": {"TargetAccountIds": {"Type": "String"}},
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    })
    listed = ",".join(f"{i:012d}" for i in range(300))
    assert len(listed) < 4096
    sid = cfn.create_stack(
        StackName="scope-stack", TemplateBody=body,
        Parameters=[{"ParameterKey": "TargetAccountIds", "ParameterValue": listed}],
    )["StackId"]
    got = cfn.describe_stacks(StackName=sid)["Stacks"][0]
    assert got["StackStatus"] == "CREATE_COMPLETE"
    assert got["Parameters"] == [{"ParameterKey": "TargetAccountIds", "ParameterValue": listed}]
    emu.post("/stack-status", {"stack_id": sid, "status": "UPDATE_IN_PROGRESS"})
    assert cfn.describe_stacks(StackName=sid)["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"
    emu.post("/stack-status", {"stack_id": sid, "status": "UPDATE_COMPLETE"})
    cfn.delete_stack(StackName=sid)
    assert cfn.describe_stacks(StackName=sid)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="scope-stack")


# ----------------------------------------------------------------------------- service quotas
# Source: CloudFormation User Guide, "Understand CloudFormation quotas" (stack instances per
# stack set: 100,000 by default, raisable); Service Quotas API reference, GetServiceQuota.


def test_the_stack_instance_quota_is_aws_default_unless_set(emu):
    sq = emu.client("service-quotas")
    q = sq.get_service_quota(ServiceCode="cloudformation", QuotaCode="L-C8225BA5")["Quota"]
    assert q["Value"] == 100000.0
    assert q["QuotaName"] == "Stack instances per stack set"
    emu.post("/config", {"stack_instance_quota": 2000})
    q = sq.get_service_quota(ServiceCode="cloudformation", QuotaCode="L-C8225BA5")["Quota"]
    assert q["Value"] == 2000.0


def test_reading_the_stack_instance_quota_can_be_denied(emu):
    emu.post("/config", {"stack_instance_quota": "denied"})
    with pytest.raises(ClientError) as e:
        emu.client("service-quotas").get_service_quota(ServiceCode="cloudformation", QuotaCode="L-C8225BA5")
    assert error_code(e) == "AccessDeniedException"


# ----------------------------------------------------------------------------- OIDC providers

PORT_URL = "https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4"


def make_port_stack_set(cfn, name="port-aws-integration", create_oidc="true"):
    cfn.create_stack_set(
        StackSetName=name,
        TemplateBody=TEMPLATE,
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False},
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": "CreateOIDCProvider", "ParameterValue": create_oidc},
            {"ParameterKey": "OIDCProviderUrl", "ParameterValue": PORT_URL},
        ],
    )
    return name


def providers(emu):
    return {(p["account_id"], p["url"]): p["created_by_stack_set"] for p in emu.get("/oidc-providers")["providers"]}


def update_one(cfn, name, sample, account, overrides=None, op_id=None):
    kw = {
        "StackSetName": name,
        "DeploymentTargets": {"OrganizationalUnitIds": [sample["root_id"]], "AccountFilterType": "INTERSECTION", "Accounts": [account]},
        "Regions": REGIONS,
    }
    if overrides is not None:
        kw["ParameterOverrides"] = overrides
    return cfn.update_stack_instances(**kw)["OperationId"]


REUSE = [{"ParameterKey": "CreateOIDCProvider", "ParameterValue": "false"}]


def test_a_member_stack_fails_where_its_oidc_provider_already_exists_in_aws_words(emu, sample, cfn):
    """IAM holds one OIDC provider per URL in an account: CreateOpenIDConnectProvider answers
    EntityAlreadyExists (409) "Provider with url <url> already exists." (IAM API reference,
    CreateOpenIDConnectProvider, Errors). The member stack's AWS::IAM::OIDCProvider fails and
    the instance's StatusReason reads "ResourceLogicalId:..., ResourceType:..., ResourceStatusReason:
    Resource handler returned message: "... (Service: Iam, Status Code: 409, ...)" (RequestToken:
    ..., HandlerErrorCode: AlreadyExists)." as ListStackInstances shows it. The other accounts
    get their stack, which creates the provider."""
    name = make_port_stack_set(cfn)
    had = acct(sample, "prod-eu-1")
    emu.post("/oidc-provider", {"account_id": had})
    op = deploy(cfn, name, [ou(sample, "Root/Prod/EU")])
    wait_op(cfn, name, op)
    res = results(cfn, name, op)
    assert res[had]["Status"] == "FAILED"
    reason = res[had]["StatusReason"]
    assert reason.startswith("ResourceLogicalId:PortOIDCProvider, ResourceType:AWS::IAM::OIDCProvider, ResourceStatusReason:Resource handler returned message:"), reason
    assert f"Provider with url {PORT_URL} already exists. (Service: Iam, Status Code: 409" in reason
    assert reason.endswith("HandlerErrorCode: AlreadyExists)."), reason
    inst = instances(cfn, name)
    assert (inst[had]["Status"], inst[had]["StackInstanceStatus"]["DetailedStatus"]) == ("OUTDATED", "FAILED")
    assert inst[had]["StatusReason"] == reason
    others = [acct(sample, n) for n in ("prod-eu-payments", "prod-eu-pci")]
    assert all(inst[a]["Status"] == "CURRENT" for a in others)
    sid = cfn.describe_stack_set(StackSetName=name)["StackSet"]["StackSetId"]
    assert providers(emu) == {(had, PORT_URL): None, **{(a, PORT_URL): sid for a in others}}


def test_a_parameter_override_reuses_the_existing_provider_and_later_updates_keep_it(emu, sample, cfn):
    """UpdateStackInstances' ParameterOverrides apply to the instances it reaches (the instance
    of a failed create exists); with CreateOIDCProvider=false the stack reuses the provider.
    API reference, UpdateStackInstances: "To leave all parameters set to their present values,
    don't specify this property at all", "To set an overridden parameter back to the value
    specified in the StackSet, specify a parameter list but don't include the parameter in
    the list", and "During StackSet updates, any parameter values overridden for a stack
    instance aren't updated, but retain their overridden value." DescribeStackInstance gives
    the instance's ParameterOverrides."""
    name = make_port_stack_set(cfn)
    had = acct(sample, "prod-eu-1")
    emu.post("/oidc-provider", {"account_id": had})
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/EU")]))
    op = update_one(cfn, name, sample, had, REUSE)
    assert wait_op(cfn, name, op)["Status"] == "SUCCEEDED"
    assert results(cfn, name, op)[had]["Status"] == "SUCCEEDED"
    described = cfn.describe_stack_instance(StackSetName=name, StackInstanceAccount=had, StackInstanceRegion=REGIONS[0])["StackInstance"]
    assert described["Status"] == "CURRENT"
    assert described["ParameterOverrides"] == REUSE
    # Left out: kept, by UpdateStackInstances and by UpdateStackSet.
    op = update_one(cfn, name, sample, had)
    wait_op(cfn, name, op)
    assert results(cfn, name, op)[had]["Status"] == "SUCCEEDED"
    op = cfn.update_stack_set(StackSetName=name, TemplateBody=TEMPLATE.replace("Nothing", "Still"), Parameters=[
        {"ParameterKey": "CreateOIDCProvider", "ParameterValue": "true"},
        {"ParameterKey": "OIDCProviderUrl", "ParameterValue": PORT_URL},
    ])["OperationId"]
    wait_op(cfn, name, op)
    assert all(r["Status"] == "SUCCEEDED" for r in results(cfn, name, op).values())
    described = cfn.describe_stack_instance(StackSetName=name, StackInstanceAccount=had, StackInstanceRegion=REGIONS[0])["StackInstance"]
    assert described["ParameterOverrides"] == REUSE
    # A list without it: back to the StackSet's value, and the provider collides again.
    op = update_one(cfn, name, sample, had, [{"ParameterKey": "OIDCProviderUrl", "UsePreviousValue": True}])
    wait_op(cfn, name, op)
    assert "already exists" in results(cfn, name, op)[had]["StatusReason"]
    assert providers(emu)[(had, PORT_URL)] is None, "the provider the stack did not create is untouched"


def test_deleting_instances_removes_the_providers_their_stacks_created_and_no_other(emu, sample, cfn):
    """CloudFormation deletes only the resources a stack manages: deleting the stack of an
    instance that created the provider deletes it; a provider the stack did not create (the
    instance had CreateOIDCProvider=false) stays. RetainStacks leaves the account as it is."""
    name = make_port_stack_set(cfn)
    had, made, kept = (acct(sample, n) for n in ("prod-eu-1", "prod-eu-payments", "prod-eu-pci"))
    emu.post("/oidc-provider", {"account_id": had})
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/EU")]))
    wait_op(cfn, name, update_one(cfn, name, sample, had, REUSE))
    root = sample["root_id"]
    wait_op(cfn, name, delete(cfn, name, [root], [had, made]))
    wait_op(cfn, name, delete(cfn, name, [root], [kept], retain=True))
    assert instances(cfn, name) == {}
    sid = cfn.describe_stack_set(StackSetName=name)["StackSet"]["StackSetId"]
    assert providers(emu) == {(had, PORT_URL): None, (kept, PORT_URL): sid}


def test_only_the_stack_sets_own_parameters_can_be_overridden(emu, sample, cfn):
    """API reference, UpdateStackInstances ParameterOverrides: "You can only override the
    parameter values that are specified in the StackSet"."""
    name = make_stack_set(cfn)
    wait_op(cfn, name, deploy(cfn, name, [ou(sample, "Root/Prod/EU")]))
    with pytest.raises(ClientError) as e:
        update_one(cfn, name, sample, acct(sample, "prod-eu-1"), REUSE)
    assert error_code(e) == "ValidationError"
    assert "CreateOIDCProvider" in str(e.value)


def test_a_stack_set_without_the_parameter_never_meets_a_provider(emu, sample, cfn):
    """A template with no OIDC provider to create (no CreateOIDCProvider parameter) is not
    affected by one in the account."""
    name = make_stack_set(cfn)
    emu.post("/oidc-provider", {"account_id": acct(sample, "prod-eu-1")})
    op = deploy(cfn, name, [ou(sample, "Root/Prod/EU")])
    wait_op(cfn, name, op)
    assert all(r["Status"] == "SUCCEEDED" for r in results(cfn, name, op).values())


def test_put_events_is_logged_with_its_entries(emu):
    """The request log records EventBridge PutEvents with its entries (the tests read the
    change events the functions put from it)."""
    events = emu.client("events")
    out = events.put_events(Entries=[{
        "Source": "port.aws-integration", "DetailType": "Port role scope changed",
        "Detail": json.dumps({"counts": {"enrolled": 1}}),
    }])
    assert out["FailedEntryCount"] == 0 and out["Entries"][0]["EventId"]
    log = [r for r in emu.get("/requests")["requests"] if r["service"] == "events"]
    assert [r["action"] for r in log] == ["PutEvents"]
    (entry,) = log[0]["params"]["Entries"]
    assert entry["Source"] == "port.aws-integration"
    assert json.loads(entry["Detail"]) == {"counts": {"enrolled": 1}}


def test_put_events_can_fail_an_entry_inside_a_successful_answer(emu):
    """AWS: a PutEvents answer of HTTP 200 can still report failed entries, with
    FailedEntryCount > 0 and an ErrorCode per entry; InternalFailure and ThrottlingException
    are retryable (API reference, PutEventsResultEntry; user guide, "Handling failures with
    PutEvents"). The switch fails the next N requests so; later ones succeed."""
    emu.post("/config", {"events_failed_entries": {"count": 1, "code": "ThrottlingException"}})
    events = emu.client("events")
    entry = {"Source": "port.aws-integration", "DetailType": "t", "Detail": "{}"}
    first = events.put_events(Entries=[entry])
    assert first["FailedEntryCount"] == 1
    assert first["Entries"][0]["ErrorCode"] == "ThrottlingException"
    assert "EventId" not in first["Entries"][0]
    second = events.put_events(Entries=[entry])
    assert second["FailedEntryCount"] == 0 and second["Entries"][0]["EventId"]


# ----------------------------------------------------------------------------- delegated administrator

STACKSETS = "member.org.stacksets.cloudformation.amazonaws.com"


def as_account(emu, account_id, service):
    """A client signed with credentials of `account_id` (AssumeRole into it, as a person signed
    in there would be): moto and the layer take the account from the access key."""
    creds = emu.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/admin", RoleSessionName="fidelity"
    )["Credentials"]
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=emu.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"total_max_attempts": 1}),
    )


def register(org, account_id):
    org.register_delegated_administrator(AccountId=account_id, ServicePrincipal=STACKSETS)


def test_a_member_account_is_the_caller_of_its_own_credentials(emu, sample):
    """STS GetCallerIdentity answers the account the credentials belong to."""
    member = acct(sample, "shared-services")
    assert as_account(emu, member, "sts").get_caller_identity()["Account"] == member


def test_delegated_administrators_are_listed_from_the_management_account_and_the_delegated_admin(emu, sample, org):
    """ListDelegatedAdministrators "can be called only from the organization's management
    account or by a member account that is a delegated administrator" (AWS Organizations API
    reference): a plain member gets AccessDeniedException."""
    da, plain = acct(sample, "shared-services"), acct(sample, "prod-web")
    assert org.list_delegated_administrators(ServicePrincipal=STACKSETS)["DelegatedAdministrators"] == []
    register(org, da)
    listed = org.list_delegated_administrators(ServicePrincipal=STACKSETS)["DelegatedAdministrators"]
    assert [a["Id"] for a in listed] == [da]
    from_da = as_account(emu, da, "organizations").list_delegated_administrators(ServicePrincipal=STACKSETS)
    assert [a["Id"] for a in from_da["DelegatedAdministrators"]] == [da]
    with pytest.raises(ClientError) as e:
        as_account(emu, plain, "organizations").list_delegated_administrators(ServicePrincipal=STACKSETS)
    assert error_code(e) == "AccessDeniedException"


def test_a_delegated_administrator_reads_the_organization_and_a_plain_member_may_not(emu, sample, org):
    """Organizations reads (ListRoots, ListAccountsForParent, ...) work from the management
    account or a delegated administrator; DescribeOrganization from any member (AWS
    Organizations API reference)."""
    da, plain = acct(sample, "shared-services"), acct(sample, "prod-web")
    register(org, da)
    da_org = as_account(emu, da, "organizations")
    root = da_org.list_roots()["Roots"][0]["Id"]
    assert root == sample["root_id"]
    _, accounts = pages(da_org.list_accounts, "Accounts")
    assert {a["Id"] for a in accounts} == {v["id"] for v in sample["accounts"].values()} | {sample["management_account_id"]}
    plain_org = as_account(emu, plain, "organizations")
    assert plain_org.describe_organization()["Organization"]["MasterAccountId"] == sample["management_account_id"]
    with pytest.raises(ClientError) as e:
        plain_org.list_roots()
    assert error_code(e) == "AccessDeniedException"


def test_call_as_delegated_admin_acts_on_the_management_accounts_stack_sets(emu, sample, org):
    """CallAs DELEGATED_ADMIN from a registered delegated administrator: the StackSet is the
    management account's, its ARN carries the management account's ID
    (terraform-provider-aws #29338), and instances deploy through the organization."""
    da, mgmt = acct(sample, "shared-services"), sample["management_account_id"]
    register(org, da)
    cfn = as_account(emu, da, "cloudformation")
    cfn.create_stack_set(
        StackSetName="ss", TemplateBody=TEMPLATE, PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False}, CallAs="DELEGATED_ADMIN",
    )
    arn = cfn.describe_stack_set(StackSetName="ss", CallAs="DELEGATED_ADMIN")["StackSet"]["StackSetARN"]
    assert arn.split(":")[4] == mgmt
    op = cfn.create_stack_instances(
        StackSetName="ss", DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod/US")]},
        Regions=REGIONS, CallAs="DELEGATED_ADMIN",
    )["OperationId"]
    deadline = time.time() + 10
    while cfn.describe_stack_set_operation(StackSetName="ss", OperationId=op, CallAs="DELEGATED_ADMIN")["StackSetOperation"]["Status"] == "RUNNING":
        assert time.time() < deadline
        time.sleep(0.05)
    listed = cfn.list_stack_instances(StackSetName="ss", CallAs="DELEGATED_ADMIN")["Summaries"]
    assert [i["Account"] for i in listed] == [acct(sample, "prod-us-1")]
    # The management account sees the same StackSet as its own.
    assert emu.client("cloudformation").describe_stack_set(StackSetName="ss")["StackSet"]["StackSetARN"] == arn


def test_a_delegated_administrator_that_leaves_out_call_as_does_not_find_the_stack_set(emu, sample, org, cfn):
    """Without CallAs (= SELF) a member account acts on its own StackSets: the management
    account's is "StackSet ... not found" (StackSetNotFoundException; aws-cloudformation/rain
    #585, terraform-provider-aws #24520); creating a service-managed one is refused with
    "You must be the management account or delegated admin account of an organization before
    operating a SERVICE_MANAGED stack set" (terraform-provider-aws #32536, #22867)."""
    da = acct(sample, "shared-services")
    register(org, da)
    make_stack_set(cfn, "ss")
    member_cfn = as_account(emu, da, "cloudformation")
    for call in (
        lambda: member_cfn.describe_stack_set(StackSetName="ss"),
        lambda: member_cfn.list_stack_instances(StackSetName="ss"),
        lambda: member_cfn.list_stack_set_operations(StackSetName="ss", CallAs="SELF"),
        lambda: member_cfn.create_stack_instances(
            StackSetName="ss", DeploymentTargets={"OrganizationalUnitIds": [ou(sample, "Root/Prod")]}, Regions=REGIONS
        ),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "StackSetNotFoundException"
        assert "StackSet ss not found" in str(e.value)
    with pytest.raises(ClientError) as e:
        member_cfn.create_stack_set(StackSetName="other", TemplateBody=TEMPLATE, PermissionModel="SERVICE_MANAGED", AutoDeployment={"Enabled": False})
    assert error_code(e) == "ValidationError"
    assert "must be the management account or delegated admin account" in str(e.value)
    assert member_cfn.list_stack_sets()["Summaries"] == []


def test_call_as_delegated_admin_from_an_unregistered_account_is_a_validation_error(emu, sample, cfn):
    """CallAs DELEGATED_ADMIN from an account that is no registered delegated administrator
    (or lacks organizations:ListDelegatedAdministrators): ValidationError "Account used is not
    a delegated administrator" (terraform-provider-aws PR #37069, cdklabs/cdk-stacksets #265)."""
    make_stack_set(cfn, "ss")
    plain = as_account(emu, acct(sample, "prod-web"), "cloudformation")
    with pytest.raises(ClientError) as e:
        plain.describe_stack_set(StackSetName="ss", CallAs="DELEGATED_ADMIN")
    assert error_code(e) == "ValidationError"
    assert "Account used is not a delegated administrator" in str(e.value)
    # Nor may the management account call as one (it cannot be registered).
    with pytest.raises(ClientError) as e:
        cfn.describe_stack_set(StackSetName="ss", CallAs="DELEGATED_ADMIN")
    assert "Account used is not a delegated administrator" in str(e.value)


def test_the_request_log_records_call_as_and_the_caller_of_every_stack_set_request(emu, sample, org, cfn):
    """Test-bed feature: each StackSet request's CallAs (null when left out) and caller."""
    da = acct(sample, "shared-services")
    register(org, da)
    make_stack_set(cfn, "ss")
    emu.post("/requests/clear")
    as_account(emu, da, "cloudformation").describe_stack_set(StackSetName="ss", CallAs="DELEGATED_ADMIN")
    cfn.describe_stack_set(StackSetName="ss")
    log = [r for r in emu.get("/requests")["requests"] if r["action"] == "DescribeStackSet"]
    assert [(r["caller"], r["call_as"]) for r in log] == [(da, "DELEGATED_ADMIN"), (sample["management_account_id"], None)]
