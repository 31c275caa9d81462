"""The functions' permissions: least privilege, scoped to this StackSet."""

import re

import cfn

READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|List|Get)[A-Za-z]*$")

STACKSET = f"arn:aws:cloudformation:{cfn.REGION}:{cfn.ACCOUNT}:stackset/Port-Integration-v3:*"
STACKSET_TARGET = f"arn:aws:cloudformation:*:{cfn.ACCOUNT}:stackset-target/Port-Integration-v3:*"
MEMBER_TYPES = "arn:aws:cloudformation:*:*:type/resource/AWS-IAM-*"

# The services whose SDK clients each adapter drives (shared/src/adapters/<file>.rs, or every
# .rs file of a directory adapter), and the custom-resource function's own Lambda client (its
# self-invocation).
ADAPTER_SERVICES = {
    "shared/src/adapters/organizations.rs": "organizations",
    "shared/src/adapters/cloudformation": "cloudformation",
    "shared/src/adapters/eventbridge.rs": "events",
    "shared/src/adapters/sts.rs": "sts",
    "shared/src/adapters/iam.rs": "iam",
    "shared/src/adapters/cloudtrail.rs": "cloudtrail",
    "shared/src/adapters/servicequotas.rs": "service-quotas",
    "functions/custom-resource/src/aws.rs": "lambda",
}
# The SDK method that sends an action whose IAM name is not the method's name in PascalCase.
IAM_NAME = {"lambda:Invoke": "lambda:InvokeFunction"}
# Granted to the functions' roles for Lambda itself, not for their code (Lambda developer
# guide): the asynchronous invocations' dead-letter queue ("Adding a dead-letter queue":
# sqs:SendMessage), and the poller of OrgEventsQueue's event source mapping ("Using Lambda
# with Amazon SQS", execution role permissions).
FOR_LAMBDA_ITSELF = {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def actions_the_code_sends():
    """Every action the code can send, read from the Rust source: each call of an SDK
    operation in each adapter (`.list_accounts()`, the snake_case name the Rust SDK gives
    the operation ListAccounts; operation names from botocore's service models), named as
    IAM names it (IAM action names are case-insensitive)."""
    from botocore import xform_name
    from botocore.session import get_session

    session = get_session()
    out = set()
    for path, service in ADAPTER_SERVICES.items():
        where = cfn.ROOT / path
        files = sorted(where.rglob("*.rs")) if where.is_dir() else [where]
        assert files, path
        src = "\n".join(f.read_text() for f in files)
        for op in session.get_service_model(service).operation_names:
            if re.search(rf"\.{xform_name(op)}\(\)", src):
                action = f"{service.replace('-', '')}:{op}"
                out.add(IAM_NAME.get(action, action).lower())
    return out


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


def test_functions_are_granted_nothing_the_code_does_not_send(template, ev):
    """Least privilege, both ways: the end-to-end suites run each function as the principal
    template.yaml makes it, so a call the template does not allow fails there with
    AccessDenied; here, every action granted is one the code sends (or one Lambda itself
    needs), so an action the code stopped sending cannot stay granted."""
    sent = actions_the_code_sends()
    assert "organizations:listaccounts" in sent and "lambda:invokefunction" in sent, sorted(sent)
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        actions = granted(function_statements(template, ev, fn))
        unused = {a for a in actions if a.lower() not in sent} - FOR_LAMBDA_ITSELF
        assert not unused, (fn, sorted(unused))
        # GetCallerIdentity needs no permission: not granted.
        assert "sts:GetCallerIdentity" not in actions


def test_the_code_scan_finds_every_action_of_an_adapter():
    """The scan the test above relies on can fail: it finds a call spread over lines."""
    sent = actions_the_code_sends()
    for a in ("organizations:listaccountsforparent", "cloudformation:createstackinstances",
              "events:putevents", "cloudformation:describestacks"):
        assert a in sent, (a, sorted(sent))


def stackset_actions(actions):
    return {a for a in actions if a.startswith("cloudformation:") and a != "cloudformation:DescribeStacks"}


def test_stackset_actions_name_this_stackset_only(template, ev):
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        actions = granted(function_statements(template, ev, fn))
        assert len(stackset_actions(actions)) >= 9, (fn, sorted(actions))
        for a in stackset_actions(actions):
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
                assert a.startswith("organizations:"), (fn, a)


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
