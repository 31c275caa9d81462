//! The org-events Lambda: wiring only. See `lib.rs`.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use org_events::{Config, Handler, Invocation};
use serde_json::Value;
use shared::adapters::{load_config, CfnStackSets, CfnStacks, EventBridgeFeed, SdkOrganizations};
use shared::counted::{CallCounts, Counted};
use shared::metrics;
use shared::ports::TokioClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // LOG_LEVEL filters the function's own lines; Lambda's filter stays at INFO or DEBUG so
    // that the metrics line always passes (shared::logging).
    shared::logging::init();
    let conf = load_config().await;
    let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
    // Invalid configuration fails the start-up (an init error), with the scope engine's words.
    let config = match Config::from_env(
        // Lossy: a value that is not UTF-8 reaches the parser (and is rejected by name)
        // instead of silently counting as unset.
        |k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()),
        &region,
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            eprintln!("org-events: invalid configuration: {e}");
            return Err(e.into());
        }
    };
    match &config.stack_id {
        Some(stack) => tracing::info!(
            stack = %stack,
            regions = ?config.regions,
            "org-events ready; the scope is read from the deployment stack at each invocation"
        ),
        None => tracing::info!(
            stack_set = %config.stack_set,
            targets = config.scope.targets.len(),
            mode = %config.scope.mode,
            regions = ?config.regions,
            "org-events ready; the scope comes from the environment (no STACK_ID)"
        ),
    }
    let calls = CallCounts::new();
    let mut handler = Handler::new(
        Counted::new(SdkOrganizations::new(&conf), calls.clone()),
        Counted::new(CfnStackSets::new(&conf), calls.clone()),
        TokioClock,
        config,
    )
    .with_stack(CfnStacks::new(&conf))
    .with_feed(EventBridgeFeed::new(&conf));
    handler.calls = Some(calls);
    if let Ok(id) = std::env::var(metrics::INTEGRATION_ENV) {
        handler.integration_id = id;
    }
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let inv = Invocation::from_lambda(&event.context.request_id, event.context.deadline());
        handler
            .handle(&event.payload, &inv)
            .await
            .map_err(Error::from)
    }))
    .await
}
