//! Issue 15: org-events deployed in a registered delegated administrator for StackSets. It
//! learns the mode from its stack's `ManagementAccountId` parameter (no extra call), handles
//! the Organizations events the management account forwards to its bus, and runs the
//! schedule; every StackSet call carries `CallAs: DELEGATED_ADMIN` (the emulator records each
//! request's `CallAs` and caller, and answers a missing one as AWS does: "StackSet ... not
//! found"). The same scenarios run deployed in the management account. With a tag filter
//! (issue 23), a forwarded `TagResource` / `UntagResource` on an account enrolls or withdraws it.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{event, move_event};
use e2e::{DeployAs, Deployment, Fixture, Function, TestBed, REGION, STACK_SET};
use org_events::{Config, Handler, Invocation, Summary};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, CfnStacks, SdkOrganizations};
use shared::engine::EngineConfig;
use shared::ports::TokioClock;

type StackHandler = Handler<SdkOrganizations, CfnStackSets, TokioClock, CfnStacks>;

/// The deployment stack's parameters, as template.yaml declares them (the scope and the mode).
const STACK_TEMPLATE: &str = r#"{
  "Parameters": {
    "TargetOUIds": {"Type": "String"},
    "AccountScope": {"Type": "String"},
    "TargetAccountIds": {"Type": "String", "Default": ""},
    "OnAccountLeavesScope": {"Type": "String", "Default": "DELETE"},
    "StackSetName": {"Type": "String"},
    "ManagementAccountId": {"Type": "String", "Default": ""}
  },
  "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
}"#;

/// The same parameters and the tag filter's (issue 23). A stack made from `STACK_TEMPLATE` lacks
/// them, as one created before they existed does: the other tests show it reads as no filter.
fn template_with_tags() -> String {
    let last = r#""ManagementAccountId": {"Type": "String", "Default": ""}"#;
    assert!(STACK_TEMPLATE.contains(last));
    STACK_TEMPLATE.replace(
        last,
        &format!(
            r#"{last},
    "TargetAccountTags": {{"Type": "String", "Default": ""}},
    "ExcludedAccountTags": {{"Type": "String", "Default": ""}}"#
        ),
    )
}

struct Deployed {
    bed: TestBed,
    f: Fixture,
    mode: DeployAs,
    handler: StackHandler,
    orgs: aws_sdk_organizations::Client,
    invocations: AtomicU32,
}

impl Deployed {
    /// The sample organization; the StackSet and the deployment stack (scope: `Root/Prod`,
    /// ALL) created in the deployment's account; org-events configured as template.yaml
    /// configures it (STACK_ID only).
    async fn new(mode: DeployAs) -> Self {
        Self::from_template(mode, STACK_TEMPLATE, &[]).await
    }

    /// As `new`, the stack made from `template` with `extra` parameters.
    async fn from_template(mode: DeployAs, template: &str, extra: &[(&str, &str)]) -> Self {
        let bed = TestBed::start().await;
        let f = bed.sample().await;
        bed.configure(json!({"operation_seconds": 0.3})).await;
        let conf = bed.deploy_config(mode, &f).await;
        bed.create_stack_set_as(&conf, mode).await;
        let parameters = [
            ("TargetOUIds", f.ou("Root/Prod")),
            ("AccountScope", "ALL".to_owned()),
            ("StackSetName", STACK_SET.to_owned()),
            ("ManagementAccountId", mode.management_account_id(&f)),
        ]
        .into_iter()
        .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
        .map(|(k, v)| {
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect();
        let stack_id = aws_sdk_cloudformation::Client::new(&conf)
            .create_stack()
            .stack_name("port-orgscope")
            .template_body(template)
            .set_parameters(Some(parameters))
            .send()
            .await
            .expect("CreateStack")
            .stack_id()
            .expect("stack id")
            .to_owned();
        assert!(
            stack_id.contains(&format!(":{}:", mode.account(&f))),
            "the stack is in the deployment's account: {stack_id}"
        );
        let env = [
            ("STACK_ID", stack_id.as_str()),
            ("STACK_SET_REGIONS", REGION),
            ("SETTLE_SECONDS", "0"),
            ("STACK_POLL_SECONDS", "0.2"),
        ];
        let config = Config::from_env(
            |k| {
                env.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            },
            REGION,
        )
        .expect("valid config");
        // The function runs as the principal template.yaml makes it in this mode.
        let deployment = Deployment::of(mode, &f).with_stack(&stack_id);
        let fconf = bed.function_config(Function::OrgEvents, &deployment).await;
        let mut handler = Handler::new(
            SdkOrganizations::new(&fconf),
            CfnStackSets::new(&fconf),
            TokioClock,
            config,
        )
        .with_stack(CfnStacks::new(&fconf));
        handler.engine = EngineConfig {
            poll_initial: Duration::from_millis(100),
            poll_max: Duration::from_millis(500),
            ..EngineConfig::default()
        };
        // The test moves accounts as the management account's users do.
        let orgs = aws_sdk_organizations::Client::new(&bed.sdk_config().await);
        bed.control("requests/clear", json!({})).await;
        Self {
            bed,
            f,
            mode,
            handler,
            orgs,
            invocations: AtomicU32::new(0),
        }
    }

    async fn invoke(&self, ev: &Value) -> Summary {
        self.handler
            .handle(
                ev,
                &Invocation {
                    request_id: format!(
                        "req-{:04}-0000-4000-8000-000000000000",
                        self.invocations.fetch_add(1, Ordering::Relaxed) + 1
                    ),
                    deadline: Instant::now() + Duration::from_secs(120),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", self.mode))
    }

    fn ids(&self, names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|n| self.f.account(n)).collect();
        v.sort();
        v
    }

    async fn assert_every_stackset_call_as_the_mode(&self) {
        assert!(self.bed.stackset_call_count().await > 0, "{:?}", self.mode);
        assert_eq!(
            self.bed
                .stackset_calls_not_as(self.mode.call_as(), &self.mode.account(&self.f))
                .await,
            Vec::<String>::new(),
            "{:?}",
            self.mode
        );
    }
}

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];

#[tokio::test]
async fn the_scheduled_run_enrolls_the_scope_in_both_modes_with_every_call_as_the_mode() {
    for mode in DeployAs::BOTH {
        let d = Deployed::new(mode).await;
        let s = d.invoke(&event("scheduled.json", &[])).await;
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            d.ids(PROD),
            "{mode:?}: {s:?}"
        );
        // The next scheduled run finds nothing to change (its drift detection included).
        d.invoke(&event("scheduled.json", &[])).await;
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            d.ids(PROD),
            "{mode:?}"
        );
        d.assert_every_stackset_call_as_the_mode().await;
        // The mode is the stack parameter it reads anyway: no call decides it.
        for action in ["ListDelegatedAdministrators", "GetCallerIdentity"] {
            assert_eq!(d.bed.count_of(action).await, 0, "{mode:?} {action}");
        }
    }
}

#[tokio::test]
async fn an_event_forwarded_from_the_management_account_enrolls_the_moved_account() {
    for mode in DeployAs::BOTH {
        let d = Deployed::new(mode).await;
        d.invoke(&event("scheduled.json", &[])).await;
        // staging-1 moves into Prod in the management account; the event it emits there
        // (account = the management account) reaches the delegated administrator's bus by
        // the companion template's forwarding rule, unchanged.
        let (acct, from, to) = (
            d.f.account("staging-1"),
            d.f.ou("Root/Staging"),
            d.f.ou("Root/Prod"),
        );
        d.orgs
            .move_account()
            .account_id(&acct)
            .source_parent_id(&from)
            .destination_parent_id(&to)
            .send()
            .await
            .expect("MoveAccount");
        let mut ev = move_event(&acct, &from, &to);
        ev["account"] = json!(d.f.management());
        ev["region"] = json!("us-east-1");
        let s = d.invoke(&ev).await;
        let mut want = d.ids(PROD);
        want.push(acct.clone());
        want.sort();
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            want,
            "{mode:?}: {s:?}"
        );
        d.assert_every_stackset_call_as_the_mode().await;
    }
}

#[tokio::test]
async fn a_tag_event_forwarded_from_the_management_account_enrolls_and_withdraws_the_account() {
    for mode in DeployAs::BOTH {
        let d = Deployed::from_template(
            mode,
            &template_with_tags(),
            &[("TargetAccountTags", "stage=prod")],
        )
        .await;
        let (web, data) = (d.f.account("prod-web"), d.f.account("prod-data"));
        let tag = |account: &str, value: Option<&str>| {
            let (d, account) = (&d, account.to_owned());
            let value = value.map(str::to_owned);
            async move {
                let mut ev = match &value {
                    Some(v) => {
                        d.orgs
                            .tag_resource()
                            .resource_id(&account)
                            .tags(
                                aws_sdk_organizations::types::Tag::builder()
                                    .key("stage")
                                    .value(v)
                                    .build()
                                    .unwrap(),
                            )
                            .send()
                            .await
                            .expect("TagResource");
                        event(
                            "tag-resource.json",
                            &[
                                ("/detail/requestParameters/resourceId", json!(account)),
                                (
                                    "/detail/requestParameters/tags",
                                    json!([{"key": "stage", "value": v}]),
                                ),
                            ],
                        )
                    }
                    None => {
                        d.orgs
                            .untag_resource()
                            .resource_id(&account)
                            .tag_keys("stage")
                            .send()
                            .await
                            .expect("UntagResource");
                        event(
                            "untag-resource.json",
                            &[
                                ("/detail/requestParameters/resourceId", json!(account)),
                                ("/detail/requestParameters/tagKeys", json!(["stage"])),
                            ],
                        )
                    }
                };
                // Recorded in the management account (us-east-1), forwarded unchanged.
                ev["account"] = json!(d.f.management());
                ev["region"] = json!("us-east-1");
                ev
            }
        };
        tag(&web, Some("prod")).await;
        d.invoke(&event("scheduled.json", &[])).await;
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            vec![web.clone()],
            "{mode:?}: the filter, read from the stack"
        );
        let ev = tag(&data, Some("prod")).await;
        d.bed.control("requests/clear", json!({})).await;
        let s = d.invoke(&ev).await;
        let org_calls = d
            .bed
            .requests()
            .await
            .iter()
            .filter(|r| r["service"] == "organizations")
            .count();
        println!("{mode:?}: tag added: {org_calls} Organizations calls");
        assert!(org_calls <= 10, "{mode:?}: {org_calls} Organizations calls");
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            d.ids(&["prod-web", "prod-data"]),
            "{mode:?}: {s:?}"
        );
        let ev = tag(&web, None).await;
        let s = d.invoke(&ev).await;
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            vec![data.clone()],
            "{mode:?}: {s:?}"
        );
        d.assert_every_stackset_call_as_the_mode().await;
        assert_eq!(
            d.bed.denied().await,
            vec![],
            "{mode:?}: no call was refused"
        );
    }
}
