"""The functions' permissions: least privilege, scoped to this StackSet."""

import re

import cfn

READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|List|Get)[A-Za-z]*$")

STACKSET = f"arn:aws:cloudformation:{cfn.REGION}:{cfn.ACCOUNT}:stackset/Port-Integration-v3:*"
STACKSET_TARGET = f"arn:aws:cloudformation:*:{cfn.ACCOUNT}:stackset-target/Port-Integration-v3:*"
MEMBER_TYPES = "arn:aws:cloudformation:*:*:type/resource/AWS-IAM-*"

# What the Rust code calls (REFERENCE.md, issue 5).
ORGANIZATIONS_READS = {
    "organizations:DescribeOrganization",
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent",
    "organizations:ListParents",
    "organizations:DescribeOrganizationalUnit",
    "organizations:DescribeAccount",
    "organizations:ListAWSServiceAccessForOrganization",
}
STACKSET_ACTIONS = {
    "cloudformation:DescribeStackSet",
    "cloudformation:ListStackInstances",
    "cloudformation:DescribeStackInstance",
    "cloudformation:CreateStackInstances",
    "cloudformation:UpdateStackInstances",
    "cloudformation:DeleteStackInstances",
    "cloudformation:DescribeStackSetOperation",
    "cloudformation:ListStackSetOperations",
    "cloudformation:ListStackSetOperationResults",
    "cloudformation:DetectStackSetDrift",
}


def every_statement(template, member, ev):
    docs = cfn.all_policy_documents(template, ev)
    docs += cfn.all_policy_documents(member, cfn.Evaluator(member, {
        "RoleName": "PortIntegrationRole-x",
        "OIDCProviderUrl": "https://" + cfn.DEFAULT_ISSUER,
        "OIDCJwtSubject": "system:serviceaccount:org-x-port-oidc-sa",
        "CreateOIDCProvider": "true",
        "IntegrationIdentifier": "x",
    }))
    assert len(docs) >= 4, docs
    for where, doc in docs:
        for s in cfn.statements(doc):
            yield where, s


def test_no_wildcard_action_anywhere(template, member, ev):
    for where, s in every_statement(template, member, ev):
        assert "NotAction" not in s and "NotResource" not in s, where
        for a in cfn.as_list(s["Action"]):
            assert a != "*" and not a.endswith(":*") and "*" not in a, (where, a)


def test_no_wildcard_resource_on_mutating_actions(template, member, ev):
    for where, s in every_statement(template, member, ev):
        if s.get("Effect") != "Allow" or "Resource" not in s:
            continue
        if "*" in cfn.as_list(s["Resource"]):
            bad = [a for a in cfn.as_list(s["Action"]) if not READ_ONLY.match(a)]
            assert not bad, f"{where}: Resource '*' on mutating actions {bad}"


def function_statements(template, ev, function):
    """All Allow statements that reach a function's role (managed policies it references,
    and inline documents)."""
    out = []
    for p in cfn.as_list(template["Resources"][function]["Properties"]["Policies"]):
        if isinstance(p, dict) and "Ref" in p:
            res = template["Resources"][p["Ref"]]
            assert res["Type"] == "AWS::IAM::ManagedPolicy"
            out += cfn.statements(cfn.policy_document(ev, res["Properties"]["PolicyDocument"]))
        else:
            assert isinstance(p, dict) and "Statement" in p, (
                f"{function}: only this template's own policies, no SAM policy templates or "
                f"AWS managed policies: {cfn.plain(p)}"
            )
            out += cfn.statements(cfn.policy_document(ev, p))
    # Policies attached to the role SAM generates for the function (<Function>Role).
    for res in template["Resources"].values():
        if res["Type"] == "AWS::IAM::RolePolicy" and cfn.plain(res["Properties"]["RoleName"]) == {
            "Ref": f"{function}Role"
        }:
            out += cfn.statements(cfn.policy_document(ev, res["Properties"]["PolicyDocument"]))
    return out


def granted(statements):
    actions = {}
    for s in statements:
        assert s["Effect"] == "Allow"
        for a in cfn.as_list(s["Action"]):
            actions.setdefault(a, set()).update(cfn.as_list(s["Resource"]))
    return actions


def test_functions_get_what_the_code_calls(template, ev):
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        actions = granted(function_statements(template, ev, fn))
        missing = (ORGANIZATIONS_READS | STACKSET_ACTIONS) - set(actions)
        assert not missing, (fn, missing)
        # GetCallerIdentity needs no permission: not granted.
        assert "sts:GetCallerIdentity" not in actions


def test_stackset_actions_name_this_stackset_only(template, ev):
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        actions = granted(function_statements(template, ev, fn))
        for a in STACKSET_ACTIONS:
            res = actions[a]
            assert "*" not in res, (fn, a)
            assert STACKSET in res, (fn, a, res)
            assert res <= {STACKSET, STACKSET_TARGET, MEMBER_TYPES}, (fn, a, res)
        for a in ("cloudformation:CreateStackInstances", "cloudformation:DeleteStackInstances",
                  "cloudformation:UpdateStackInstances"):
            assert actions[a] == {STACKSET, STACKSET_TARGET, MEMBER_TYPES}, (fn, a)


def test_stackset_scope_follows_the_parameter(template):
    ev = cfn.Evaluator(template, {"TargetOUIds": "r-abcd", "PortOrgId": "o", "StackSetName": "Other"})
    actions = granted(function_statements(template, ev, "OrgEventsFunction"))
    assert actions["cloudformation:CreateStackInstances"] == {
        STACKSET.replace("Port-Integration-v3", "Other"),
        STACKSET_TARGET.replace("Port-Integration-v3", "Other"),
        MEMBER_TYPES,
    }


def test_only_read_only_calls_on_any_resource(template, ev):
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        for a, res in granted(function_statements(template, ev, fn)).items():
            if "*" in res:
                assert READ_ONLY.match(a), (fn, a)
                assert a.startswith(("organizations:", "cloudformation:DescribeOrganizationsAccess")), (fn, a)


def test_self_invoke_only_own_arn(template, ev):
    cr = granted(function_statements(template, ev, "CustomResourceFunction"))
    # The function's own ARN, whatever name CloudFormation generates for it.
    assert cr["lambda:InvokeFunction"] == {"<GetAtt CustomResourceFunction.Arn>"}
    oe = granted(function_statements(template, ev, "OrgEventsFunction"))
    assert not [a for a in oe if a.startswith("lambda:")]


def test_no_iam_or_organizations_writes(template, ev):
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        for a in granted(function_statements(template, ev, fn)):
            assert not a.startswith(("iam:", "sts:AssumeRole")), (fn, a)
            if a.startswith("organizations:"):
                assert READ_ONLY.match(a), (fn, a)


def test_org_events_reads_only_its_own_stack(template, ev):
    """org-events reads the scope from its own stack (DescribeStacks on AWS::StackId); the
    custom resource does not need to."""
    oe = granted(function_statements(template, ev, "OrgEventsFunction"))
    assert oe["cloudformation:DescribeStacks"] == {cfn.STACK_ID}
    cr = granted(function_statements(template, ev, "CustomResourceFunction"))
    assert "cloudformation:DescribeStacks" not in cr


DEFAULT_BUS = f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:event-bus/default"


def rust_constant(name):
    """A string constant of the change feed's code (shared/src/core/change.rs)."""
    src = (cfn.ROOT / "shared" / "src" / "core" / "change.rs").read_text()
    m = re.search(rf'pub const {name}: &str = "([^"]+)";', src)
    assert m, name
    return m.group(1)


def test_both_functions_put_change_events_on_the_default_bus_only(template, ev):
    """events:PutEvents on this account's default bus, nothing else, and only events with
    the source and detail-type the code sends (condition keys events:source and
    events:detail-type)."""
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        statements = function_statements(template, ev, fn)
        put = [s for s in statements if "events:PutEvents" in cfn.as_list(s["Action"])]
        assert len(put) == 1, (fn, put)
        (s,) = put
        assert cfn.as_list(s["Action"]) == ["events:PutEvents"], fn
        assert set(cfn.as_list(s["Resource"])) == {DEFAULT_BUS}, (fn, s["Resource"])
        assert s["Condition"] == {"StringEquals": {
            "events:source": rust_constant("SOURCE"),
            "events:detail-type": rust_constant("DETAIL_TYPE"),
        }}, fn
        others = [a for a in granted(statements) if a.startswith("events:")]
        assert others == ["events:PutEvents"], (fn, others)
