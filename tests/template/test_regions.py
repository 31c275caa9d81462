"""Where the main stack may run (issue 20): us-east-1 in the management account; from a
delegated administrator, the regions where AWS registers delegated administrators for
CloudFormation StackSets, less GovCloud. The list lives three times (template.yaml's rule, the
companion's DelegatedAdminRegion, shared/src/core/regions.rs): these tests keep them equal.

Sources (also in shared/src/core/regions.rs and docs/delegated-administrator.md): AWS CloudFormation User Guide,
"Register a delegated administrator member account"; AWS Compute Blog, "Expanding cross-Region
event routing with Amazon EventBridge" (no routing to or from GovCloud and China)."""

import re

import pytest

import cfn
from conftest import REQUIRED

RUST = cfn.ROOT / "shared" / "src" / "core" / "regions.rs"
MANAGEMENT = "999988887777"
RULE = "DeployInADelegatedAdminRegion"
# Outside AWS's list (or, for GovCloud and China, out for this project), so refused.
UNLISTED = [
    "eu-south-1",
    "eu-south-2",
    "eu-central-2",
    "ap-east-1",
    "ap-northeast-3",
    "ap-south-2",
    "me-central-1",
    "me-south-1",
    "af-south-1",
    "ca-west-1",
    "us-gov-west-1",
    "us-gov-east-1",
    "cn-north-1",
]
REGION_CODE = re.compile(r"\b[a-z]{2}(?:-gov)?-[a-z]+-\d\b")


def rust_const(name: str) -> list[str]:
    """A `pub const NAME: [&str; N] = [...]` of regions.rs, in order; N checked too."""
    m = re.search(rf"pub const {name}: \[&str; (\d+)\] = \[(.*?)\];", RUST.read_text(), re.S)
    assert m, f"{name} not found in {RUST}"
    values = re.findall(r'"([^"]*)"', m.group(2))
    assert len(values) == int(m.group(1))
    return values


def rule_list(template) -> list[str]:
    assertion = template["Rules"][RULE]["Assertions"][0]["Assert"]
    items, value = cfn.plain(assertion["Fn::Contains"])
    assert value == {"Ref": "AWS::Region"}
    return items


def rule_description(template) -> str:
    return " ".join(template["Rules"][RULE]["Assertions"][0]["AssertDescription"].split())


def rules(template, region, management_account_id=MANAGEMENT):
    ev = cfn.Evaluator(template, {**REQUIRED, "ManagementAccountId": management_account_id})
    ev.pseudo["AWS::Region"] = region
    return ev.rules_failing()


# ------------------------------------------------------------------ one list, three places
def test_the_templates_and_the_rust_code_hold_the_same_list(template, companion):
    rust = rust_const("DELEGATED_ADMIN_REGIONS")
    assert rule_list(template) == rust
    assert cfn.plain(companion["Parameters"]["DelegatedAdminRegion"]["AllowedValues"]) == rust
    assert len(set(rust)) == len(rust), "no duplicates"
    # AWS's list, less GovCloud (us-gov-east-1, us-gov-west-1).
    assert sorted(rust) == sorted(
        [
            "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-south-1", "ap-northeast-1",
            "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ca-central-1", "eu-central-1",
            "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "il-central-1", "sa-east-1",
        ]
    )


def test_the_messages_name_exactly_the_regions_of_the_list(template, companion):
    rust = rust_const("DELEGATED_ADMIN_REGIONS")
    spec = companion["Parameters"]["DelegatedAdminRegion"]
    for where, text in [
        ("template.yaml AssertDescription", rule_description(template)),
        ("companion ConstraintDescription", " ".join(spec["ConstraintDescription"].split())),
    ]:
        assert sorted(set(REGION_CODE.findall(text))) == sorted(rust), where
        assert "GovCloud" in text, f"{where}: says why GovCloud is out"


def test_the_opt_in_regions_are_named_with_what_to_enable(template, companion):
    opt_in = rust_const("OPT_IN_REGIONS")
    assert opt_in == ["il-central-1"]
    desc = rule_description(template)
    param = " ".join(companion["Parameters"]["DelegatedAdminRegion"]["Description"].split())
    for r in opt_in:
        for text in (desc, param):
            assert f"{r} (Tel Aviv) is an opt-in region" in text
            assert "every account in scope" in text


# ------------------------------------------------------------------ template.yaml's rule
def test_a_delegated_administrator_in_us_east_2_passes_the_rule(template):
    assert rules(template, "us-east-2") == []


@pytest.mark.parametrize("region", rust_const("DELEGATED_ADMIN_REGIONS"))
def test_every_listed_region_passes_from_a_delegated_administrator(template, region):
    assert rules(template, region) == []


@pytest.mark.parametrize("region", UNLISTED)
def test_an_unlisted_region_fails_from_a_delegated_administrator_naming_the_regions(template, region):
    assert rules(template, region) == [RULE]
    desc = rule_description(template)
    assert "us-east-2" in desc and "sa-east-1" in desc
    assert region not in desc


def test_in_the_management_account_the_delegated_admin_rule_does_not_apply(template):
    # us-east-2 is refused by the us-east-1 rule alone; us-east-1 passes both modes.
    assert rules(template, "us-east-2", management_account_id="") == ["DeployInUsEast1"]
    assert rules(template, "eu-south-1", management_account_id="") == ["DeployInUsEast1"]
    assert rules(template, "us-east-1", management_account_id="") == []
    assert rules(template, "us-east-1") == []


# ------------------------------------------------------------------ the companion's parameter
@pytest.mark.parametrize("value", ["us-east-1", "us-east-2", "eu-west-1", "ap-southeast-2", "il-central-1"])
def test_the_companion_accepts_a_listed_region(companion, value):
    spec = companion["Parameters"]["DelegatedAdminRegion"]
    assert "AllowedPattern" not in spec, "AllowedValues alone decide"
    assert value in cfn.plain(spec["AllowedValues"])


@pytest.mark.parametrize("value", [*UNLISTED, "Europe (Ireland)", "", "us-east-2 "])
def test_the_companion_refuses_an_unlisted_region(companion, value):
    assert value not in cfn.plain(companion["Parameters"]["DelegatedAdminRegion"]["AllowedValues"])


def test_the_documented_table_lists_the_same_regions():
    doc = (cfn.ROOT / "docs" / "delegated-administrator.md").read_text()
    section = doc.split("## Regions for a delegated administrator", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| ([a-z]{2}-[a-z]+-\d) \| (.+) \|$", section, re.M)
    assert [r for r, _ in rows] == rust_const("DELEGATED_ADMIN_REGIONS")
    assert [r for r, name in rows if "opt-in" in name] == rust_const("OPT_IN_REGIONS")
