//! Drives the custom-resource handler with real SDK clients against the local test bed, a
//! local ResponseURL listener, and a re-invoker that hands continuations back to the test.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custom_resource::aws::HttpResponder;
use custom_resource::handler::{Handler, Invocation, Reinvoker, Settings, Summary};
use e2e::lambda::ResponseSink;
use e2e::{repo_root, Deployment, Function, TestBed, REGION, STACK_SET};
use serde_json::{json, Value};
use shared::adapters::{CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::core::AccountId;
use shared::engine::EngineConfig;
use shared::ports::{AwsResult, IdentityApi, StackSetApi, TokioClock};

/// Continuations the handler asked to be re-invoked with.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<Value>>>);

impl Reinvoker for Capture {
    async fn reinvoke(&self, payload: &Value) -> Result<(), String> {
        self.0.lock().unwrap().push(payload.clone());
        Ok(())
    }
}

impl Capture {
    pub fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// An identity that says the caller is some other account.
pub struct FixedIdentity(pub AccountId);

impl IdentityApi for FixedIdentity {
    async fn caller_account(&self) -> AwsResult<AccountId> {
        Ok(self.0.clone())
    }
}

pub type Live<I> = Handler<SdkOrganizations, CfnStackSets, I, TokioClock, HttpResponder, Capture>;

pub struct Rig<I> {
    pub bed: TestBed,
    pub sink: ResponseSink,
    pub reinvoked: Capture,
    pub handler: Live<I>,
}

/// A fresh test bed and the handler deployed in the management account, running as the
/// principal template.yaml makes the function (`e2e::iam`).
pub async fn rig() -> Rig<SdkIdentity> {
    let bed = TestBed::start().await;
    let conf = function_config(&bed).await;
    let identity = SdkIdentity::new(&conf);
    rig_with(bed, identity).await
}

/// The custom-resource function's SDK configuration, deployed in the management account:
/// IAM allows it exactly what template.yaml gives its execution role.
pub async fn function_config(bed: &TestBed) -> aws_config::SdkConfig {
    bed.function_config(Function::CustomResource, &Deployment::management())
        .await
}

/// Settings scaled down for tests: a 0.5 s margin, fast polls.
pub fn fast_settings() -> Settings {
    let mut settings = Settings::new(REGION);
    settings.margin = Duration::from_millis(500);
    settings.engine = EngineConfig {
        poll_initial: Duration::from_millis(100),
        poll_max: Duration::from_millis(500),
        ..EngineConfig::default()
    };
    settings
}

/// A handler with real Organizations and STS clients, the given StackSet API and re-invoker,
/// and fast settings.
pub fn handler_with<S: StackSetApi, R: Reinvoker>(
    conf: &aws_config::SdkConfig,
    stacksets: S,
    reinvoker: R,
) -> Handler<SdkOrganizations, S, SdkIdentity, TokioClock, HttpResponder, R> {
    let mut responder = HttpResponder::new();
    responder.base_delay = Duration::from_millis(50);
    Handler {
        org: SdkOrganizations::new(conf),
        stacksets,
        identity: SdkIdentity::new(conf),
        clock: TokioClock,
        responder,
        reinvoker,
        feed: shared::feed::NoFeed,
        settings: fast_settings(),
    }
}

/// One invocation with `left` of Lambda time.
pub fn inv(left: Duration) -> Invocation {
    Invocation {
        request_id: "lambda-request".into(),
        deadline: Instant::now() + left,
    }
}

pub async fn rig_with<I: IdentityApi>(bed: TestBed, identity: I) -> Rig<I> {
    let conf = function_config(&bed).await;
    rig_on(bed, identity, &conf).await
}

/// A fresh test bed and the handler running as the principal of `deployment` (say, with an
/// action taken out of the template's policy).
pub async fn rig_as(deployment: &Deployment) -> Rig<SdkIdentity> {
    let bed = TestBed::start().await;
    let conf = bed
        .function_config(Function::CustomResource, deployment)
        .await;
    let identity = SdkIdentity::new(&conf);
    rig_on(bed, identity, &conf).await
}

/// A fresh test bed and the handler running with what the template gives the function in a
/// stack deployed with each of these `StackSetName`s (a corpus whose rows name several).
pub async fn rig_for_stack_sets(names: &[&str]) -> Rig<SdkIdentity> {
    let bed = TestBed::start().await;
    let each: Vec<Deployment> = names
        .iter()
        .map(|n| Deployment::management().for_stack_set(n))
        .collect();
    let p = bed
        .function_principal_for_each(Function::CustomResource, &each)
        .await;
    let conf = bed.config_as(&p).await;
    let identity = SdkIdentity::new(&conf);
    rig_on(bed, identity, &conf).await
}

async fn rig_on<I: IdentityApi>(bed: TestBed, identity: I, conf: &aws_config::SdkConfig) -> Rig<I> {
    let conf = conf.clone();
    let sink = ResponseSink::start().await;
    let reinvoked = Capture::default();
    let mut responder = HttpResponder::new();
    responder.base_delay = Duration::from_millis(50);
    let handler = Handler {
        org: SdkOrganizations::new(&conf),
        stacksets: CfnStackSets::new(&conf),
        identity,
        clock: TokioClock,
        responder,
        reinvoker: reinvoked.clone(),
        feed: shared::feed::NoFeed,
        settings: fast_settings(),
    };
    Rig {
        bed,
        sink,
        reinvoked,
        handler,
    }
}

/// A request from the events/ fixture of that type, aimed at this rig's ResponseURL.
pub fn request(sink: &ResponseSink, kind: &str, request_id: &str, props: Value) -> Value {
    let path = repo_root().join(format!("events/cfn-{kind}.json"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["ResponseURL"] = json!(sink.url(request_id));
    v["RequestId"] = json!(request_id);
    let mut p = props;
    p["ServiceToken"] = v["ResourceProperties"]["ServiceToken"].clone();
    v["ResourceProperties"] = p;
    v
}

pub fn props(ous: &str, mode: &str, accounts: &str) -> Value {
    json!({
        "TargetOUIds": ous,
        "AccountScope": mode,
        "TargetAccountIds": accounts,
        "StackSetName": STACK_SET,
    })
}

impl<I: IdentityApi> Rig<I> {
    /// One invocation with a generous Lambda deadline.
    pub async fn invoke(&self, payload: Value) -> Summary {
        self.invoke_with_deadline(payload, Duration::from_secs(120))
            .await
    }

    pub async fn invoke_with_deadline(&self, payload: Value, left: Duration) -> Summary {
        self.handler
            .handle(
                payload,
                Invocation {
                    request_id: "lambda-request".into(),
                    deadline: Instant::now() + left,
                },
            )
            .await
    }

    /// The last body CloudFormation received.
    pub fn last_answer(&self) -> Value {
        self.sink.bodies().last().cloned().expect("an answer")
    }

    /// The answer CloudFormation should receive for SUCCESS on Create/Update.
    pub fn success(&self, req: &Value, accounts: &[String], org: &Value) -> Value {
        let mut ids = accounts.to_vec();
        ids.sort();
        json!({
            "Status": "SUCCESS",
            "PhysicalResourceId": format!("stackset-instances/{STACK_SET}"),
            "StackId": req["StackId"],
            "RequestId": req["RequestId"],
            "LogicalResourceId": "PortStackSetInstances",
            "NoEcho": false,
            "Data": {
                "AccountIds": ids.join(","),
                "AccountCount": ids.len().to_string(),
                "AccountIdsTruncated": "false",
                "OrganizationId": org["organization_id"],
                "ManagementAccountId": org["management_account_id"],
            }
        })
    }
}

/// The live PhysicalResourceId: what a Create that changed the StackSet answers.
pub fn live_id() -> String {
    format!("stackset-instances/{STACK_SET}")
}

/// The Delete CloudFormation sends to roll back (or delete) a resource whose Create answered
/// `answer`: same properties, the PhysicalResourceId that answer gave.
pub fn rollback_delete(
    sink: &ResponseSink,
    request_id: &str,
    props: Value,
    answer: &Value,
) -> Value {
    let mut del = request(sink, "delete", request_id, props);
    del["PhysicalResourceId"] = answer["PhysicalResourceId"].clone();
    del
}

/// `DeleteStackSet`, as CloudFormation's rollback of the template's StackSet resource sends it.
pub async fn delete_stack_set(bed: &TestBed) -> Result<(), String> {
    let conf = bed.sdk_config().await;
    aws_sdk_cloudformation::Client::new(&conf)
        .delete_stack_set()
        .stack_set_name(STACK_SET)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{}", aws_sdk_cloudformation::error::DisplayErrorContext(&e)))
}
