//! Wiring only: clients, settings, the Lambda runtime.
#![recursion_limit = "256"]

use std::sync::Arc;

use custom_resource::aws::{HttpResponder, LambdaReinvoker};
use custom_resource::handler::{Handler, Invocation, Settings};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::adapters::{load_config, CfnStackSets, EventBridgeFeed, SdkIdentity, SdkOrganizations};
use shared::counted::{CallCounts, Counted};
use shared::metrics;
use shared::ports::TokioClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // LOG_LEVEL filters the function's own lines; Lambda's filter stays at INFO or DEBUG so
    // that the metrics line always passes (shared::logging).
    shared::logging::init();
    let conf = load_config().await;
    let region = conf
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let calls = CallCounts::new();
    let mut settings = Settings::new(&region);
    settings.calls = Some(calls.clone());
    if let Ok(id) = std::env::var(metrics::INTEGRATION_ENV) {
        settings.integration_id = id;
    }
    let handler = Arc::new(Handler {
        org: Counted::new(SdkOrganizations::new(&conf), calls.clone()),
        stacksets: Counted::new(CfnStackSets::new(&conf), calls),
        identity: SdkIdentity::new(&conf),
        clock: TokioClock,
        responder: HttpResponder::new(),
        reinvoker: LambdaReinvoker {
            client: aws_sdk_lambda::Client::new(&conf),
            // Lambda sets this for every function; the re-invocation targets this function.
            function_arn: std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
        },
        feed: EventBridgeFeed::new(&conf),
        settings,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let inv = Invocation {
                request_id: event.context.request_id.clone(),
                deadline: shared::wall::instant_at(event.context.deadline()),
            };
            let summary = handler.handle(event.payload, inv).await;
            Ok::<Value, Error>(serde_json::to_value(summary)?)
        }
    }))
    .await
}
