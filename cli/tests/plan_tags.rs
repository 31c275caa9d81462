//! `orgscope plan --target-account-tags / --excluded-account-tags` against the sample
//! organization, whose accounts carry tags (tests/emulator/fidelity/orgs.py, SAMPLE_TAGS):
//! env=prod on the Prod accounts but prod-eu-1, team=payments on the two payments accounts,
//! port:exclude=true on prod-eu-pci, env=staging on staging-1 and staging-2. Run as a person
//! holding the documented policy (docs/orgscope-policy.json), which must allow
//! `organizations:ListTagsForResource`.

mod common;

use std::process::Output;

use e2e::{Fixture, TestBed};
use serde_json::Value;

async fn orgscope(bed: &TestBed, args: &[&str]) -> Output {
    common::orgscope(bed, args, &[]).await
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn by_id<'a>(v: &'a Value, key: &str, id: &str) -> &'a Value {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {key}: {v:#}"))
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(f: &Fixture, names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| f.account(n)).collect();
    v.sort();
    v
}

const PROD_NOT_OPTED_OUT: [&str; 2] = ["env=prod", "port:exclude=true"];

#[tokio::test]
async fn tags_over_the_root_keep_exactly_the_tagged_accounts_each_with_its_tag_reason() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let [target, excluded] = PROD_NOT_OPTED_OUT;
    let args = [
        "plan",
        "--target-ou-ids",
        &f.root(),
        "--target-account-tags",
        target,
        "--excluded-account-tags",
        excluded,
    ];
    let out = orgscope(&bed, &[&args[..], &["--output", "json"]].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v = common::json(&out);
    assert_eq!(
        ids(&v, "accounts"),
        sorted(
            &f,
            &["prod-web", "prod-data", "prod-eu-payments", "prod-us-1"]
        ),
        "env=prod, and not the opted-out prod-eu-pci"
    );
    for a in v["accounts"].as_array().unwrap() {
        assert_eq!(a["tags_matched"], serde_json::json!(["env=prod"]), "{a}");
        assert!(
            a["reason"]
                .as_str()
                .unwrap()
                .ends_with("; TargetAccountTags `env=prod` met"),
            "{a}"
        );
    }
    let reason = |name: &str| {
        by_id(&v, "skipped", &f.account(name))["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        reason("prod-eu-pci"),
        "ExcludedAccountTags: `port:exclude=true` matches (its port:exclude tag is `true`), \
         which excludes it whatever else says"
    );
    for absent in ["prod-eu-1", "shared-services", "sandbox-orphan"] {
        assert_eq!(
            reason(absent),
            "TargetAccountTags: `env=prod` is unmet (it has no env tag)",
            "{absent}"
        );
    }
    for staging in ["staging-1", "staging-2"] {
        assert_eq!(
            reason(staging),
            "TargetAccountTags: `env=prod` is unmet (its env tag is `staging`)"
        );
    }
    let code = by_id(&v, "skipped", &f.account("staging-1"))["reason_code"].clone();
    assert_eq!(code["code"], "target_tag_unmet");
    assert_eq!(code["actual"], "staging");
    assert!(reason("staging-suspended").contains("SUSPENDED"));
    assert!(by_id(&v, "skipped", &f.management())["reason"]
        .as_str()
        .unwrap()
        .contains("management account"));
    assert_eq!(v["target_account_tags"], "env=prod");
    assert_eq!(v["excluded_account_tags"], "port:exclude=true");
    // Tags are read only for the accounts they decide: the 10 ACTIVE members under the root
    // (not the management account, not the SUSPENDED one).
    assert_eq!(v["organizations_calls"]["list_tags"], 10, "{v:#}");

    // The text: the filter, the order it applies in, and every account's tag verdict.
    let out = orgscope(&bed, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = common::redact(&common::stdout(&out), &f);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[2..4],
        [
            "Tags: TargetAccountTags env=prod (all must match); ExcludedAccountTags \
             port:exclude=true (any one excludes)",
            "Order: the account tags narrow the accounts the target OUs give, then ALL keeps \
             every account left. Tags on OUs and the root are not inherited by their accounts.",
        ],
        "{text}"
    );
    // moto's account IDs are random, so the order within an OU is not fixed: each line alone.
    let line = |name: &str| {
        let needle = format!("<{name}>  {name} ");
        let found: Vec<&&str> = lines.iter().filter(|l| l.contains(&needle)).collect();
        assert_eq!(found.len(), 1, "{name}: {text}");
        found[0].split_once(&needle).unwrap().1.trim().to_owned()
    };
    for kept in ["prod-web", "prod-data", "prod-eu-payments", "prod-us-1"] {
        assert_eq!(line(kept), "TargetAccountTags `env=prod` met", "{kept}");
        assert!(text.contains(&format!("✔ <{kept}>")), "{kept}");
    }
    assert_eq!(
        line("prod-eu-pci"),
        "ExcludedAccountTags: `port:exclude=true` matches (its port:exclude tag is `true`), \
         which excludes it whatever else says"
    );
    assert_eq!(
        line("prod-eu-1"),
        "TargetAccountTags: `env=prod` is unmet (it has no env tag)"
    );
    assert_eq!(
        line("staging-2"),
        "TargetAccountTags: `env=prod` is unmet (its env tag is `staging`)"
    );
    assert!(
        text.contains(
            "\n4 in scope, 8 skipped (1 SUSPENDED, 1 excluded by tag, 1 management account, 5 \
             target tag unmet)\n"
        ),
        "{text}"
    );
}

/// The worked example of the README and the parameter descriptions: the tags narrow the OU's
/// accounts first, then DIFFERENCE takes the listed account out of what is left.
#[tokio::test]
async fn tags_narrow_the_ou_accounts_before_difference_applies() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let web = f.account("prod-web");
    let out = orgscope(
        &bed,
        &[
            "plan",
            "--target-ou-ids",
            &f.ou("Root/Prod"),
            "--account-scope",
            "DIFFERENCE",
            "--target-account-ids",
            &web,
            "--target-account-tags",
            "env=prod",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v = common::json(&out);
    assert_eq!(
        ids(&v, "accounts"),
        sorted(
            &f,
            &["prod-data", "prod-eu-payments", "prod-eu-pci", "prod-us-1"]
        )
    );
    assert_eq!(
        by_id(&v, "skipped", &web)["reason"],
        "DIFFERENCE: excluded by TargetAccountIds"
    );
    assert_eq!(
        by_id(&v, "skipped", &f.account("prod-eu-1"))["reason"],
        "TargetAccountTags: `env=prod` is unmet (it has no env tag)"
    );
    // The listed account's tags are not read: the list already decides it.
    assert_eq!(v["organizations_calls"]["list_tags"], 5, "{v:#}");
}

/// A bad term exits 2, as other bad input does, with the message every entry point gives
/// (`Scope::with_tag_parameters`), before any AWS call.
#[tokio::test]
async fn a_bad_tag_term_exits_2_with_the_shared_message() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let base = shared::core::Scope::parse(&f.root().as_str().into(), "ALL", &"".into()).unwrap();
    for (flag, value, target, excluded) in [
        ("--target-account-tags", "env=prod,=x", "env=prod,=x", ""),
        (
            "--excluded-account-tags",
            "port:exclude=tr#ue",
            "",
            "port:exclude=tr#ue",
        ),
        (
            "--target-account-tags",
            "env=prod,env=dev",
            "env=prod,env=dev",
            "",
        ),
    ] {
        let shared = base
            .clone()
            .with_tag_parameters(target, excluded)
            .unwrap_err()
            .to_string();
        for cmd in ["plan", "doctor", "status"] {
            let out = orgscope(&bed, &[cmd, "--target-ou-ids", &f.root(), flag, value]).await;
            assert_eq!(out.status.code(), Some(2), "{cmd} {flag} {value}");
            assert_eq!(stderr(&out), format!("error: {shared}\n"), "{cmd}");
            assert!(common::stdout(&out).is_empty(), "{cmd}");
        }
    }
    let out = orgscope(
        &bed,
        &[
            "plan",
            "--target-ou-ids",
            &f.root(),
            "--target-account-tags",
            "=x",
        ],
    )
    .await;
    assert!(
        stderr(&out).contains("TargetAccountTags: the term `=x` has an empty key"),
        "{}",
        stderr(&out)
    );
}

fn check<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {v:#}"))
}

/// doctor with a tag filter: an "Account tags" check states the filter and the order, counts
/// what is left, and names each account the tags dropped with its reason; a listed account
/// the tags drop is a WARN with the fix. Without a filter there is no such check.
#[tokio::test]
async fn doctor_names_the_accounts_the_tags_drop_and_warns_for_a_listed_one() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let prod = f.ou("Root/Prod");
    let listed = format!("{},{}", f.account("prod-web"), f.account("prod-eu-1"));
    let out = orgscope(
        &bed,
        &[
            "doctor",
            "--target-ou-ids",
            &prod,
            "--account-scope",
            "INTERSECTION",
            "--target-account-ids",
            &listed,
            "--target-account-tags",
            "env=prod",
            "--output",
            "json",
        ],
    )
    .await;
    let v = common::json(&out);
    let tags = check(&v, "account-tags");
    assert_eq!(tags["status"], "PASS", "{tags}");
    let detail = tags["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Tags: TargetAccountTags env=prod (all must match) Order: the account tags narrow the accounts the target OUs give, then INTERSECTION with TargetAccountIds applies to the accounts left."),
        "{detail}"
    );
    assert!(
        detail.contains(&format!(
            "1 account in scope after the tags, 1 dropped by them; {} (prod-eu-1): \
             TargetAccountTags: `env=prod` is unmet (it has no env tag)",
            f.account("prod-eu-1")
        )),
        "{detail}"
    );
    let eu1 = check(&v, &format!("account:{}", f.account("prod-eu-1")));
    assert_eq!(eu1["status"], "WARN", "{eu1}");
    assert!(
        eu1["detail"]
            .as_str()
            .unwrap()
            .contains("is listed, but the tags drop it: TargetAccountTags: `env=prod` is unmet"),
        "{eu1}"
    );
    assert!(eu1["fix"].as_str().unwrap().contains("Tag the account"));
    let web = check(&v, &format!("account:{}", f.account("prod-web")));
    assert_eq!(web["status"], "PASS");
    assert!(web["detail"]
        .as_str()
        .unwrap()
        .ends_with("in scope; TargetAccountTags `env=prod` met"));
    assert_eq!(
        v["scope"]["in_scope"][0]["tags_matched"],
        serde_json::json!(["env=prod"])
    );

    // Nothing left: a WARN that says where tags are set, and that OU tags do not count.
    let out = orgscope(
        &bed,
        &[
            "doctor",
            "--target-ou-ids",
            &prod,
            "--target-account-tags",
            "team=nobody",
            "--output",
            "json",
        ],
    )
    .await;
    let v = common::json(&out);
    let tags = check(&v, "account-tags");
    assert_eq!(tags["status"], "WARN", "{tags}");
    assert!(tags["fix"]
        .as_str()
        .unwrap()
        .contains("OU and root tags do not count"));

    let out = orgscope(
        &bed,
        &["doctor", "--target-ou-ids", &prod, "--output", "json"],
    )
    .await;
    let v = common::json(&out);
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != "account-tags"),
        "no filter, no tag check"
    );
}

/// status with a tag filter, after every Prod account was enrolled: the filter and its order
/// under the scope line; the enrolled account the opt-out tag now drops is EXTRA with the
/// term and its value; the kept accounts carry the terms they met (`tags` in the JSON).
#[tokio::test]
async fn status_shows_an_enrolled_account_a_tag_now_drops_as_extra_with_the_tag() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(e2e::STACK_SET, true).await;
    common::cfn(&bed)
        .await
        .create_stack_instances()
        .stack_set_name(e2e::STACK_SET)
        .deployment_targets(
            aws_sdk_cloudformation::types::DeploymentTargets::builder()
                .organizational_unit_ids(f.ou("Root/Prod"))
                .build(),
        )
        .regions(e2e::REGION)
        .send()
        .await
        .expect("CreateStackInstances");
    common::wait_idle(&bed).await;
    let args = |output: &'static str| {
        vec![
            "status".to_owned(),
            "--target-ou-ids".to_owned(),
            f.ou("Root/Prod"),
            "--target-account-tags".to_owned(),
            "env=prod".to_owned(),
            "--excluded-account-tags".to_owned(),
            "port:exclude=true".to_owned(),
            "--output".to_owned(),
            output.to_owned(),
        ]
    };
    let json_args = args("json");
    let out = orgscope(
        &bed,
        &json_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let v = common::json(&out);
    let row = |name: &str| {
        v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["account"] == f.account(name))
            .unwrap_or_else(|| panic!("{name}: {v:#}"))
            .clone()
    };
    let pci = row("prod-eu-pci");
    assert_eq!(pci["state"], "extra", "{pci}");
    assert_eq!(
        pci["detail"],
        "out of scope: ExcludedAccountTags: `port:exclude=true` matches (its port:exclude tag is \
         `true`), which excludes it whatever else says"
    );
    let eu1 = row("prod-eu-1");
    assert_eq!(eu1["state"], "extra", "{eu1}");
    assert_eq!(
        eu1["tags"],
        "TargetAccountTags: `env=prod` is unmet (it has no env tag)"
    );
    let web = row("prod-web");
    assert_eq!(web["state"], "current", "{web}");
    assert!(
        web["tags"]
            .as_str()
            .unwrap()
            .ends_with("; TargetAccountTags `env=prod` met"),
        "{web}"
    );

    let text_args = args("text");
    let out = orgscope(
        &bed,
        &text_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let text = common::stdout(&out);
    assert!(
        text.contains(
            "Tags: TargetAccountTags env=prod (all must match); ExcludedAccountTags \
             port:exclude=true (any\n       one excludes)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Order: the account tags narrow the accounts the target OUs give"),
        "{text}"
    );
    assert!(
        text.contains("excludes it whatever else says"),
        "the EXTRA account's reason: {text}"
    );
}
