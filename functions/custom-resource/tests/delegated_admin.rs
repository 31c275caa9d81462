//! Issue 15: the custom resource deployed in the management account and in a registered
//! delegated administrator for StackSets runs the same lifecycle (Create, Update, Delete),
//! and in delegated-administrator mode EVERY StackSet call carries `CallAs: DELEGATED_ADMIN`
//! (the emulator records each request's `CallAs` and caller, and acts as AWS does on a
//! missing one: "StackSet ... not found"). A member account that is not registered, or a
//! `ManagementAccountId` that disagrees with the facts, fails before any StackSet call, with
//! the command to run or the value to set.

mod common;

use std::time::Duration;

use common::{fast_settings, request, Capture, Live};
use custom_resource::aws::HttpResponder;
use custom_resource::handler::{Handler, Invocation};
use custom_resource::preflight_only;
use e2e::lambda::ResponseSink;
use e2e::{DeployAs, Deployment, Fixture, Function, TestBed, STACK_SET};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::core::mode::register_command;
use shared::core::AccountId;
use shared::ports::TokioClock;

/// A custom resource handler with the clients of `conf`'s account, as the function deployed
/// there has them.
fn handler(conf: &aws_config::SdkConfig, sink_reinvoke: Capture) -> Live<SdkIdentity> {
    let mut responder = HttpResponder::new();
    responder.base_delay = Duration::from_millis(50);
    Handler {
        org: SdkOrganizations::new(conf),
        stacksets: CfnStackSets::new(conf),
        identity: SdkIdentity::new(conf),
        clock: TokioClock,
        responder,
        reinvoker: sink_reinvoke,
        feed: shared::feed::NoFeed,
        settings: fast_settings(),
    }
}

struct Deployed {
    bed: TestBed,
    f: Fixture,
    mode: DeployAs,
    sink: ResponseSink,
    handler: Live<SdkIdentity>,
}

impl Deployed {
    /// The sample organization, the StackSet created as the template creates it in `mode`,
    /// and the function's handler in the deployment's account.
    async fn new(mode: DeployAs) -> Self {
        let bed = TestBed::start().await;
        let f = bed.sample().await;
        let conf = bed.deploy_config(mode, &f).await;
        bed.create_stack_set_as(&conf, mode).await;
        bed.control("requests/clear", json!({})).await;
        let sink = ResponseSink::start().await;
        // The function runs as the principal template.yaml makes it in this mode.
        let fconf = bed
            .function_config(Function::CustomResource, &Deployment::of(mode, &f))
            .await;
        let handler = handler(&fconf, Capture::default());
        Self {
            bed,
            f,
            mode,
            sink,
            handler,
        }
    }

    fn props(&self, ous: &str, scope: &str) -> Value {
        json!({
            "TargetOUIds": ous,
            "AccountScope": scope,
            "TargetAccountIds": "",
            "StackSetName": STACK_SET,
            "ManagementAccountId": self.mode.management_account_id(&self.f),
        })
    }

    async fn invoke(&self, req: Value) -> Value {
        let s = self
            .handler
            .handle(
                req,
                Invocation {
                    request_id: "lambda-request".into(),
                    deadline: std::time::Instant::now() + Duration::from_secs(120),
                },
            )
            .await;
        assert!(
            !s.reinvoked,
            "a test-bed operation finishes within one invocation"
        );
        self.sink.bodies().last().cloned().expect("an answer")
    }

    fn ids(&self, names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|n| self.f.account(n)).collect();
        v.sort();
        v
    }
}

fn account_ids(answer: &Value) -> Vec<String> {
    let mut v: Vec<String> = answer["Data"]["AccountIds"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn create_update_and_delete_work_alike_from_the_management_account_and_a_delegated_administrator(
) {
    // AWS documents that a delegated administrator's StackSet ARN carries the management
    // account's ID, not which account its stackset-target ARNs carry: the test bed's IAM
    // plays both readings, and the function, as template.yaml permits it, passes under each.
    let runs = [
        (DeployAs::ManagementAccount, "management"),
        (DeployAs::DelegatedAdmin, "management"),
        (DeployAs::DelegatedAdmin, "caller"),
    ];
    for (mode, targets) in runs {
        let d = Deployed::new(mode).await;
        d.bed
            .configure(json!({"iam_target_account": targets}))
            .await;
        let eu = d.f.ou("Root/Prod/EU");
        let create = request(&d.sink, "create", "c1", d.props(&eu, "ALL"));
        let a = d.invoke(create).await;
        assert_eq!(a["Status"], "SUCCESS", "{mode:?}: {a}");
        let want = d.ids(&["prod-eu-1", "prod-eu-payments", "prod-eu-pci"]);
        assert_eq!(account_ids(&a), want, "{mode:?}");
        assert_eq!(a["Data"]["ManagementAccountId"], d.f.management());
        assert_eq!(d.bed.instance_accounts(STACK_SET).await, want, "{mode:?}");

        let mut update = request(
            &d.sink,
            "update",
            "u1",
            d.props(&d.f.ou("Root/Prod/US"), "ALL"),
        );
        update["OldResourceProperties"] = d.props(&eu, "ALL");
        update["PhysicalResourceId"] = a["PhysicalResourceId"].clone();
        let a = d.invoke(update).await;
        assert_eq!(a["Status"], "SUCCESS", "{mode:?}: {a}");
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            d.ids(&["prod-us-1"]),
            "{mode:?}"
        );

        let mut delete = request(
            &d.sink,
            "delete",
            "d1",
            d.props(&d.f.ou("Root/Prod/US"), "ALL"),
        );
        delete["PhysicalResourceId"] = a["PhysicalResourceId"].clone();
        let a = d.invoke(delete).await;
        assert_eq!(a["Status"], "SUCCESS", "{mode:?}: {a}");
        assert_eq!(
            d.bed.instance_accounts(STACK_SET).await,
            Vec::<String>::new()
        );

        // The cost of the decision: one ListDelegatedAdministrators per Create and Update in a
        // delegated administrator, none in the management account (Delete decides nothing).
        let listings = match mode {
            DeployAs::ManagementAccount => 0,
            DeployAs::DelegatedAdmin => 2,
        };
        assert_eq!(
            d.bed.count_of("ListDelegatedAdministrators").await,
            listings,
            "{mode:?}"
        );
        assert_eq!(
            d.bed.denied().await,
            vec![],
            "{mode:?} {targets}: no call refused"
        );
        // Every StackSet call of the lifecycle came from the deployment's account with the
        // mode's CallAs (a missing DELEGATED_ADMIN would have been "StackSet not found").
        assert!(d.bed.stackset_call_count().await > 5, "{mode:?}");
        assert_eq!(
            d.bed
                .stackset_calls_not_as(mode.call_as(), &mode.account(&d.f))
                .await,
            Vec::<String>::new(),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn the_stack_sets_arn_carries_the_management_accounts_id_in_delegated_administrator_mode() {
    let d = Deployed::new(DeployAs::DelegatedAdmin).await;
    let info = shared::ports::StackSetReader::describe(
        &CfnStackSets::calling_as(
            &d.bed
                .member_config(&DeployAs::DelegatedAdmin.account(&d.f))
                .await,
            shared::core::CallAs::DelegatedAdmin,
        ),
        STACK_SET,
    )
    .await
    .expect("DescribeStackSet as the delegated administrator");
    let arn = info.arn.expect("an ARN");
    assert_eq!(
        arn.split(':').nth(4),
        Some(d.f.management().as_str()),
        "{arn}"
    );
}

/// What an unregistered member account gets, from the instance resource and from the
/// preflight resource: FAILED, naming the register command with its own ID, and not one
/// StackSet call.
#[tokio::test]
async fn an_unregistered_member_account_fails_naming_the_register_command_and_calls_no_stack_set_api(
) {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let member = f.account("prod-web");
    let deployment = Deployment {
        account: member.clone(),
        management_account_id: f.management(),
        ..Deployment::management()
    };
    let conf = bed
        .function_config(Function::CustomResource, &deployment)
        .await;
    bed.control("requests/clear", json!({})).await;
    let sink = ResponseSink::start().await;
    let h = handler(&conf, Capture::default());
    let props = json!({
        "TargetOUIds": f.ou("Root/Prod"),
        "AccountScope": "ALL",
        "StackSetName": STACK_SET,
        "ManagementAccountId": f.management(),
    });
    let mut preflight = request(&sink, "preflight-create", "p1", props.clone());
    preflight["ResourceType"] = json!(preflight_only::RESOURCE_TYPE);
    for req in [request(&sink, "create", "c1", props.clone()), preflight] {
        h.handle(
            req,
            Invocation {
                request_id: "r".into(),
                deadline: std::time::Instant::now() + Duration::from_secs(60),
            },
        )
        .await;
        let a = sink.bodies().last().cloned().expect("an answer");
        assert_eq!(a["Status"], "FAILED", "{a}");
        let reason = a["Reason"].as_str().unwrap();
        let command = register_command(&AccountId::parse(&member).unwrap());
        assert!(reason.contains(&command), "{reason}");
        assert!(
            reason.contains(&format!(
                "deploy this stack in the management account {}",
                f.management()
            )),
            "{reason}"
        );
        assert!(
            reason.starts_with("Preflight failed") || !reason.contains("Preflight"),
            "{reason}"
        );
    }
    assert_eq!(bed.stackset_call_count().await, 0);
}

#[tokio::test]
async fn a_management_account_id_that_disagrees_with_the_facts_fails_with_the_value_to_set() {
    // A delegated administrator that left ManagementAccountId empty.
    let d = Deployed::new(DeployAs::DelegatedAdmin).await;
    let mut props = d.props(&d.f.ou("Root/Prod"), "ALL");
    props["ManagementAccountId"] = json!("");
    let a = d
        .invoke(request(&d.sink, "create", "c1", props.clone()))
        .await;
    assert_eq!(a["Status"], "FAILED", "{a}");
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.ends_with(&format!(
            "Fix: set ManagementAccountId to {}",
            d.f.management()
        )),
        "{reason}"
    );
    // ... or set it to another account.
    props["ManagementAccountId"] = json!(d.f.account("prod-web"));
    let a = d.invoke(request(&d.sink, "create", "c2", props)).await;
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "ManagementAccountId is `{}`",
            d.f.account("prod-web")
        )),
        "{reason}"
    );
    assert!(
        reason.ends_with(&format!(
            "Fix: set ManagementAccountId to {}",
            d.f.management()
        )),
        "{reason}"
    );
    assert_eq!(
        d.bed.instance_accounts(STACK_SET).await,
        Vec::<String>::new()
    );

    // The management account with ManagementAccountId set.
    let m = Deployed::new(DeployAs::ManagementAccount).await;
    let mut props = m.props(&m.f.ou("Root/Prod"), "ALL");
    props["ManagementAccountId"] = json!(m.f.management());
    let a = m.invoke(request(&m.sink, "create", "c1", props)).await;
    assert_eq!(a["Status"], "FAILED", "{a}");
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.contains("Fix: set ManagementAccountId to an empty value"),
        "{reason}"
    );
    assert_eq!(m.bed.mutating_stackset_calls().await, Vec::<String>::new());
}
