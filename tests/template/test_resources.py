"""The StackSet, the functions, the custom resource, events, logs, tags, outputs."""

import json
import tomllib

import pytest

import cfn

TAGGED_TYPES = {
    "AWS::IAM::OIDCProvider",
    "AWS::IAM::Role",
    "AWS::CloudFormation::StackSet",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
}


# ------------------------------------------------------------------ StackSet
def test_stackset_is_service_managed_without_auto_deployment(template):
    ss = template["Resources"]["PortStackSet"]
    assert ss["Type"] == "AWS::CloudFormation::StackSet"
    p = ss["Properties"]
    assert p["PermissionModel"] == "SERVICE_MANAGED"
    assert p["AutoDeployment"]["Enabled"] is False
    # SELF in the management account, DELEGATED_ADMIN from a delegated administrator
    # (test_delegated_admin.py evaluates both).
    assert cfn.plain(p["CallAs"]) == {"Fn::If": ["DelegatedAdmin", "DELEGATED_ADMIN", "SELF"]}
    assert p["ManagedExecution"]["Active"] is False
    assert "CAPABILITY_NAMED_IAM" in p["Capabilities"]
    assert cfn.plain(p["StackSetName"]) == {"Ref": "StackSetName"}
    # The custom resource owns the instances.
    assert "StackInstancesGroup" not in p
    assert "TemplateURL" not in p


def test_member_template_file_is_the_stackset_body(template):
    body = template["Resources"]["PortStackSet"]["Properties"]["TemplateBody"]
    text = cfn.MEMBER_TEMPLATE.read_text()
    lines = text.splitlines(keepends=True)
    assert lines[0].startswith("# GENERATED"), "run scripts/extract-member-template"
    body_text = "".join(line for line in lines if not line.startswith("# GENERATED")
                        and not line.startswith("# scripts/extract-member-template"))
    assert body_text == str(body), (
        "templates/member-role.yaml differs from template.yaml's StackSet TemplateBody: "
        "run scripts/extract-member-template"
    )


# ------------------------------------------------------------------ functions
def workspace_binaries():
    root = tomllib.loads((cfn.ROOT / "Cargo.toml").read_text())
    members = root["workspace"]["members"]
    bins = {}
    for m in members:
        manifest = tomllib.loads((cfn.ROOT / m / "Cargo.toml").read_text())
        for b in manifest.get("bin", []):
            bins[b["name"]] = m
    return bins


@pytest.mark.parametrize(
    "function, binary",
    [("CustomResourceFunction", "custom-resource"), ("OrgEventsFunction", "org-events")],
)
def test_function_build(template, function, binary):
    g = template["Globals"]["Function"]
    assert g["Runtime"] == "provided.al2023"
    assert g["Handler"] == "bootstrap"
    assert cfn.plain(g["Architectures"]) == ["arm64"]
    assert g["CodeUri"] == "."
    f = template["Resources"][function]
    assert f["Type"] == "AWS::Serverless::Function"
    assert f["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert f["Metadata"]["BuildProperties"]["Binary"] == binary
    assert binary in workspace_binaries(), f"no [[bin]] {binary} in the Cargo workspace"
    for key in ("Runtime", "Handler", "Architectures", "CodeUri"):
        assert key not in f["Properties"], f"{function}: {key} comes from Globals"


def test_timeouts_and_memory(template):
    g = template["Globals"]["Function"]
    assert g["Timeout"] == 900 and g["MemorySize"] == 256
    for fn in ("CustomResourceFunction", "OrgEventsFunction"):
        p = template["Resources"][fn]["Properties"]
        assert "Timeout" not in p and "MemorySize" not in p


def test_no_function_reserves_concurrency(template):
    """ReservedConcurrentExecutions fails to deploy when it would leave the account less than
    its minimum unreserved concurrency (new accounts often have a quota of 10), and here it
    would fail after enrollment: no function reserves any, unconditionally or not."""
    for name, r in template["Resources"].items():
        if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            assert "ReservedConcurrentExecutions" not in r["Properties"], name
    assert "ReservedConcurrentExecutions" not in template["Globals"]["Function"]


@pytest.mark.parametrize(
    "function, retries", [("CustomResourceFunction", 0), ("OrgEventsFunction", 2)]
)
def test_async_failures_are_kept(template, function, retries):
    p = template["Resources"][function]["Properties"]
    eic = p["EventInvokeConfig"]
    assert eic["MaximumRetryAttempts"] == retries
    assert 60 <= eic["MaximumEventAgeInSeconds"] <= 21600
    dlq = cfn.plain(p["DeadLetterQueue"])
    assert dlq["Type"] == "SQS"
    assert dlq["TargetArn"] == {"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]}
    q = template["Resources"]["FailedInvocationsQueue"]["Properties"]
    assert q["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize(
    "function, suffix",
    [("CustomResourceFunction", "custom-resource"), ("OrgEventsFunction", "org-events")],
)
def test_logs(template, ev, function, suffix):
    p = template["Resources"][function]["Properties"]
    lc = p["LoggingConfig"]
    assert lc["LogFormat"] == "JSON"
    # Lambda's filter stays at INFO (DEBUG at DEBUG); LogLevel reaches the function as
    # LOG_LEVEL (test_alarms.py: the metrics pass at every LogLevel).
    assert cfn.plain(lc["ApplicationLogLevel"]) == {"Fn::If": ["LambdaLogsAtDebug", "DEBUG", "INFO"]}
    group = template["Resources"][lc["LogGroup"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    # The function's name is generated; its logs go to this group, named after the stack.
    assert ev.eval(group["Properties"]["LogGroupName"]) == f"/aws/lambda/{cfn.STACK}-{suffix}"
    assert group["Properties"]["RetentionInDays"] in (90, 180, 365, 400, 545, 731)
    env = p["Environment"]["Variables"]
    assert cfn.plain(env["LOG_LEVEL"]) == {"Ref": "LogLevel"}
    # One variable decides the function's level (shared/src/logging.rs).
    assert "RUST_LOG" not in env


def test_every_log_group_has_retention(template):
    for name, r in template["Resources"].items():
        if r["Type"] == "AWS::Logs::LogGroup":
            assert r["Properties"].get("RetentionInDays"), name


def test_org_events_environment_holds_no_scope(template):
    """The scope is read from the stack's own parameters at each invocation, so nothing of it
    is in the environment (Lambda caps all variables at 4 KB; 300 account IDs are 3,899
    bytes): only the stack's ID and fixed settings."""
    env = cfn.plain(template["Resources"]["OrgEventsFunction"]["Properties"]["Environment"]["Variables"])
    assert env == {
        "STACK_ID": {"Ref": "AWS::StackId"},
        "STACK_SET_REGIONS": {"Ref": "AWS::Region"},
        "MAX_RETRY_ATTEMPTS": "3",
        "LOG_LEVEL": {"Ref": "LogLevel"},
        "INTEGRATION_IDENTIFIER": {"Ref": "IntegrationIdentifier"},
    }
    refs = json.dumps(env)
    for scope_param in ("TargetOUIds", "AccountScope", "TargetAccountIds", "OnAccountLeavesScope", "StackSetName"):
        assert scope_param not in refs


def test_org_events_triggers(template):
    """Every event the management account receives that can change the scope, and none that
    only member accounts record (AcceptHandshake, LeaveOrganization). The rules send them to
    the org-events queue (test_org_events_queue.py); the schedule invokes the function."""
    assert cfn.org_events_patterns(template) == {
        "OrganizationsApiCalls": {
            "source": ["aws.organizations"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["organizations.amazonaws.com"],
                "eventName": [
                    "MoveAccount",
                    "RemoveAccountFromOrganization",
                    "CloseAccount",
                    "CreateOrganizationalUnit",
                    "DeleteOrganizationalUnit",
                    # An account's tags (the tag filter); on an OU, a root or a policy they are
                    # ignored by the function.
                    "TagResource",
                    "UntagResource",
                ],
            },
        },
        # Recorded in the management account, unlike the member's own AcceptHandshake and
        # LeaveOrganization calls; no detail-type assumed.
        "AccountMembership": {
            "source": ["aws.organizations"],
            "detail": {"eventName": ["AccountJoinedOrganization", "AccountDepartedOrganization"]},
        },
        "AccountCreated": {
            "source": ["aws.organizations"],
            "detail-type": ["AWS Service Event via CloudTrail"],
            "detail": {"eventName": ["CreateAccountResult"]},
        },
        "ControlTowerAccount": {
            "source": ["aws.controltower"],
            "detail-type": ["AWS Service Event via CloudTrail"],
            "detail": {"eventName": ["CreateManagedAccount", "UpdateManagedAccount"]},
        },
    }
    events = cfn.plain(template["Resources"]["OrgEventsFunction"]["Properties"]["Events"])
    # The schedule is the function's only event source of its own.
    assert list(events) == ["Reconcile"]
    s = events["Reconcile"]
    assert s["Type"] == "Schedule"
    assert s["Properties"]["Schedule"] == {"Ref": "ReconcileSchedule"}
    # The default "Scheduled Event" payload (source aws.events): no custom Input.
    assert "Input" not in s["Properties"]


# ------------------------------------------------------------------ custom resource
def test_custom_resource(template):
    cr = template["Resources"]["PortStackSetInstances"]
    assert cr["Type"] == "Custom::PortStackSetInstances"
    assert set(cfn.as_list(cr["DependsOn"])) >= {
        "PortStackSet",
        # The first Create already runs with the function's retry settings (no retry).
        "CustomResourceFunctionEventInvokeConfig",
        # and may continue a long wait in a new invocation.
        "CustomResourceSelfInvokePolicy",
    }
    p = cfn.plain(cr["Properties"])
    assert p["ServiceToken"] == {"Fn::GetAtt": ["CustomResourceFunction", "Arn"]}
    assert p["ServiceTimeout"] == 3600
    assert {k: v for k, v in p.items() if k not in ("ServiceToken", "ServiceTimeout")} == {
        "StackSetName": {"Ref": "StackSetName"},
        "TargetOUIds": {"Ref": "TargetOUIds"},
        "AccountScope": {"Ref": "AccountScope"},
        "TargetAccountIds": {"Ref": "TargetAccountIds"},
        # Issue 23; "" (the defaults): no tag filter.
        "TargetAccountTags": {"Ref": "TargetAccountTags"},
        "ExcludedAccountTags": {"Ref": "ExcludedAccountTags"},
        "OnAccountLeavesScope": {"Ref": "OnAccountLeavesScope"},
        "ManagementAccountId": {"Ref": "ManagementAccountId"},
        # After CloudFormation's UpdateStackSet for a change of either, the Update reads every
        # instance back and reports the accounts that did not take it.
        "PortRolePolicyArns": {"Ref": "PortRolePolicyArns"},
        "PortRolePermissionsBoundaryArn": {"Ref": "PortRolePermissionsBoundaryArn"},
    }


def test_outputs(template, ev):
    out = cfn.plain(template["Outputs"])
    attr = lambda name: {"Fn::GetAtt": ["PortStackSetInstances", name]}  # noqa: E731
    # In the management account: the role this stack creates (the delegated administrator's
    # value is in test_delegated_admin.py).
    assert ev.eval(out["PortIntegrationRoleArn"]["Value"]) == "<GetAtt PortIntegrationRole.Arn>"
    assert ev.eval(out["PortIntegrationRoleName"]["Value"]) == ev.ref("PortIntegrationRole")
    assert out["IntegrationIdentifier"]["Value"] == {"Ref": "IntegrationIdentifier"}
    assert out["OrganizationId"]["Value"] == attr("OrganizationId")
    assert out["ManagementAccountId"]["Value"] == attr("ManagementAccountId")
    assert out["EnrolledAccountIds"]["Value"] == attr("AccountIds")
    assert out["EnrolledAccountCount"]["Value"] == attr("AccountCount")
    assert out["EnrolledAccountIdsTruncated"]["Value"] == attr("AccountIdsTruncated")
    assert out["StackSetName"]["Value"] == {"Ref": "StackSetName"}
    # Not for Port: where failed events and waiting organization events are.
    assert out["FailedInvocationsQueueUrl"]["Value"] == {"Ref": "FailedInvocationsQueue"}
    assert out["OrgEventsQueueUrl"]["Value"] == {"Ref": "OrgEventsQueue"}
    for name, o in out.items():
        assert len(o.get("Description", "")) > 20, name


# ------------------------------------------------------------------ tags
def test_tags(template, member):
    g = cfn.plain(template["Globals"]["Function"]["Tags"])
    assert g == {"port:integration": {"Ref": "IntegrationIdentifier"}}
    seen = 0
    for t in (template, member):
        for name, r in t["Resources"].items():
            if r["Type"] in TAGGED_TYPES:
                tags = {x["Key"]: cfn.plain(x["Value"]) for x in r["Properties"]["Tags"]}
                assert tags.get("port:integration") == {"Ref": "IntegrationIdentifier"}, name
                seen += 1
    assert seen >= 8


# ------------------------------------------------------------------ samconfig
def test_samconfig():
    cfg = tomllib.loads((cfn.ROOT / "samconfig.toml").read_text())
    assert cfg["version"] == 0.1
    d = cfg["default"]
    assert d["build"]["parameters"]["beta_features"] is True
    deploy = d["deploy"]["parameters"]
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}
    assert deploy["confirm_changeset"] is True
    assert deploy["region"] == "us-east-1"
    assert deploy["resolve_s3"] is True
