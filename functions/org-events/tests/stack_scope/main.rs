//! One source of truth for the scope: org-events reads it from its own deployment stack's
//! parameters (the custom resource's properties) at every invocation, stands aside while the
//! stack is being created, updated or deleted, and checks the stack again right before every
//! StackSet change. End to end against the emulator: a real CloudFormation stack (moto) whose
//! status the test holds where CloudFormation would be while the custom resource works, and the
//! custom resource's reconcile run through the same engine.

#[path = "../common/mod.rs"]
mod common;

mod races;
mod scope_source;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{event, function_config_as, mutating, World};
use e2e::{Deployment, Function, REGION, STACK_SET};
use org_events::handler::Disposition;
use org_events::{Config, Handler, HandlerError, Invocation, Summary};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, CfnStacks, SdkOrganizations};
use shared::core::{LeavePolicy, PlanPolicy, RawList, Scope};
use shared::engine::{Engine, EngineConfig, Outcome, Request};
use shared::ports::TokioClock;

type StackHandler = Handler<SdkOrganizations, CfnStackSets, TokioClock, CfnStacks>;

const STACK_TEMPLATE: &str = r#"{
  "Parameters": {
    "TargetOUIds": {"Type": "String"},
    "AccountScope": {"Type": "String"},
    "TargetAccountIds": {"Type": "String", "Default": ""},
    "OnAccountLeavesScope": {"Type": "String", "Default": "DELETE"},
    "StackSetName": {"Type": "String"}
  },
  "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
}"#;

/// The sample organization, the StackSet, a deployment stack holding the scope, and an
/// org-events handler configured the way the template configures it (STACK_ID, no scope).
struct StackWorld {
    w: World,
    cfn: aws_sdk_cloudformation::Client,
    stack_id: String,
    handler: StackHandler,
    seq: std::sync::atomic::AtomicU64,
}

fn params(ous: &str, mode: &str, accounts: &str) -> Vec<aws_sdk_cloudformation::types::Parameter> {
    [
        ("TargetOUIds", ous),
        ("AccountScope", mode),
        ("TargetAccountIds", accounts),
        ("OnAccountLeavesScope", "DELETE"),
        ("StackSetName", STACK_SET),
    ]
    .iter()
    .map(|(k, v)| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(*k)
            .parameter_value(*v)
            .build()
    })
    .collect()
}

impl StackWorld {
    async fn new(ous: &str, mode: &str, accounts: &str, settle: &str) -> Self {
        let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.5).await;
        let conf = w.bed.sdk_config().await;
        let cfn = aws_sdk_cloudformation::Client::new(&conf);
        let ous = w.ous(ous);
        let stack_id = cfn
            .create_stack()
            .stack_name("port-orgscope")
            .template_body(STACK_TEMPLATE)
            .set_parameters(Some(params(&ous, mode, accounts)))
            .send()
            .await
            .expect("CreateStack")
            .stack_id()
            .expect("stack id")
            .to_owned();
        // Exactly what template.yaml gives the function: no scope in the environment.
        let env = [
            ("STACK_ID", stack_id.as_str()),
            ("STACK_SET_REGIONS", REGION),
            ("SETTLE_SECONDS", settle),
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
        assert!(
            config.scope.targets.is_empty(),
            "no scope from the environment"
        );
        let fconf =
            function_config_as(&w.bed, &Deployment::management().with_stack(&stack_id)).await;
        let handler = stack_handler(&fconf, config).await;
        Self {
            w,
            cfn,
            stack_id,
            handler,
            seq: Default::default(),
        }
    }

    async fn invoke(&self, ev: &Value) -> Result<Summary, HandlerError> {
        invoke_on(&self.handler, &self.seq, ev).await
    }

    /// Holds the stack in `status`, as CloudFormation shows it while it works.
    async fn set_status(&self, status: &str) {
        self.w
            .bed
            .control(
                "stack-status",
                json!({"stack_id": self.stack_id, "status": status}),
            )
            .await;
    }

    /// A stack update to the new scope (the stack's parameters change at once, as
    /// DescribeStacks shows them from the start of an update), left UPDATE_IN_PROGRESS.
    async fn begin_update(&self, ous: &str, mode: &str, accounts: &str) {
        let ous = self.w.ous(ous);
        self.cfn
            .update_stack()
            .stack_name(&self.stack_id)
            .template_body(STACK_TEMPLATE)
            .set_parameters(Some(params(&ous, mode, accounts)))
            .send()
            .await
            .expect("UpdateStack");
        self.set_status("UPDATE_IN_PROGRESS").await;
    }

    /// What the custom resource does on Create/Update: reconcile to the scope, same engine.
    async fn custom_resource_applies(&self, ous: &str, mode: &str, accounts: &str) {
        let scope = Scope::parse(
            &RawList::Text(self.w.ous(ous)),
            mode,
            &RawList::Text(accounts.into()),
        )
        .unwrap();
        let conf = custom_resource_config(&self.w.bed).await;
        let (org, ss) = (SdkOrganizations::new(&conf), CfnStackSets::new(&conf));
        let engine = Engine {
            org: &org,
            stacksets: &ss,
            clock: &TokioClock,
            config: fast_engine(),
        };
        let regions = BTreeSet::from([REGION.to_owned()]);
        let req = Request {
            scope: &scope,
            stack_set: STACK_SET,
            regions: &regions,
            policy: PlanPolicy {
                on_leave: LeavePolicy::Delete,
                max_retry_attempts: 0,
                repair_drift: false,
            },
            seed: "custom-resource-update",
            deadline: Instant::now() + Duration::from_secs(60),
            done_kinds: &[],
            // A stack Create/Update is the user's change (as the custom resource passes it).
            user_change: true,
            tag_reads: Default::default(),
        };
        match engine
            .reconcile(&req)
            .await
            .expect("custom resource reconcile")
        {
            Outcome::Done(r) => assert!(r.failures.is_empty(), "{:?}", r.failures),
            Outcome::Pending { operation, .. } => panic!("still running: {operation:?}"),
        }
    }

    /// What the custom resource does on Delete: remove every instance.
    async fn custom_resource_removes_all(&self) {
        let conf = custom_resource_config(&self.w.bed).await;
        let (org, ss) = (SdkOrganizations::new(&conf), CfnStackSets::new(&conf));
        let engine = Engine {
            org: &org,
            stacksets: &ss,
            clock: &TokioClock,
            config: fast_engine(),
        };
        let out = engine
            .remove_all(
                STACK_SET,
                &[self.w.f.root()],
                "custom-resource-delete",
                Instant::now() + Duration::from_secs(60),
            )
            .await
            .expect("remove all");
        assert!(matches!(out, Outcome::Done(_)));
    }
}

impl World {
    /// Comma-separated OU IDs from fixture paths (`Root/Prod,Root/Staging`).
    fn ous(&self, paths: &str) -> String {
        paths
            .split(',')
            .map(|p| self.resolve_ou(p))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn fast_engine() -> EngineConfig {
    EngineConfig {
        poll_initial: Duration::from_millis(100),
        poll_max: Duration::from_millis(500),
        ..EngineConfig::default()
    }
}

/// What the custom-resource function runs as (the same engine, its own principal).
async fn custom_resource_config(bed: &e2e::TestBed) -> aws_config::SdkConfig {
    bed.function_config(Function::CustomResource, &Deployment::management())
        .await
}

async fn stack_handler(conf: &aws_config::SdkConfig, config: Config) -> StackHandler {
    let mut h = Handler::new(
        SdkOrganizations::new(conf),
        CfnStackSets::new(conf),
        TokioClock,
        config,
    )
    .with_stack(CfnStacks::new(conf));
    h.engine = fast_engine();
    h
}

async fn invoke_on(
    h: &StackHandler,
    seq: &std::sync::atomic::AtomicU64,
    ev: &Value,
) -> Result<Summary, HandlerError> {
    let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.handle(
        ev,
        &Invocation {
            request_id: format!("stack-{n:04}-0000-4000-8000-000000000000"),
            deadline: Instant::now() + Duration::from_secs(120),
        },
    )
    .await
}

fn schedule() -> Value {
    event("scheduled.json", &[])
}
