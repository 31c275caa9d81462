//! The scope of a run, from the deployment stack: read at the start of each run, waited for
//! while CloudFormation works on the stack, and stood aside from when the stack is gone or
//! stuck. Without a deployment stack the start-up settings are the scope.

use std::sync::Arc;

use shared::ports::{
    AwsError, ChangeFeed, Clock, OrganizationsApi, StackApi, StackSetApi, StackSetReader,
};

use super::{Handler, HandlerError, Invocation, SETTLE_RESERVE};
use crate::config::{Generation, StackPhase};

impl<O: OrganizationsApi, S: StackSetApi, C: Clock, K: StackApi, F: ChangeFeed>
    Handler<O, S, C, K, F>
{
    /// With a deployment stack: waits while CloudFormation works on it, then takes its
    /// parameters as this run's scope. `Some(why)` when the run must stand aside.
    pub(super) async fn resolve(&self, inv: &Invocation) -> Result<Option<String>, HandlerError> {
        let Some(id) = self.config.stack_id.clone() else {
            self.stacksets.set_call_as(self.config.call_as);
            self.stacksets.arm(None, None);
            return Ok(None);
        };
        loop {
            let stack = match self.stacksets.stack.describe_stack(&id).await {
                Ok(s) => s,
                Err(AwsError::NotFound { .. }) => {
                    return Ok(Some(format!(
                        "the deployment stack {id} does not exist: nothing to do"
                    )))
                }
                Err(error) => {
                    return Err(HandlerError::Stack {
                        stack_id: id,
                        error,
                    })
                }
            };
            match StackPhase::of(&stack.status) {
                StackPhase::Settled => {
                    let generation = Generation::of(&stack);
                    let config = self.config.with_stack_parameters(&stack)?;
                    self.stacksets.set_call_as(config.call_as);
                    let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
                    if applied.1.as_ref() != Some(&generation) {
                        // What a reconcile under another scope covered says nothing now.
                        self.memo.forget();
                        tracing::info!(targets = config.scope.targets.len(), mode = %config.scope.mode, accounts = config.scope.accounts.len(), stack_set = %config.stack_set, "scope read from the deployment stack");
                    }
                    *applied = (Arc::new(config), Some(generation.clone()));
                    drop(applied);
                    self.stacksets.arm(Some(id), Some(generation));
                    return Ok(None);
                }
                StackPhase::Gone => {
                    return Ok(Some(format!(
                        "the deployment stack is {}: the custom resource removes (or removed) \
                         every stack instance, and org-events changes nothing",
                        stack.status
                    )))
                }
                StackPhase::Stuck => {
                    return Ok(Some(format!(
                        "the deployment stack is {}: org-events changes nothing until the \
                         stack is settled again (continue or roll back its update in \
                         CloudFormation)",
                        stack.status
                    )))
                }
                StackPhase::Busy => {
                    let poll = self.config.stack_poll;
                    if self.clock.now() + poll + SETTLE_RESERVE >= inv.deadline {
                        return Ok(Some(format!(
                            "the deployment stack was still {} at this invocation's deadline: \
                             the custom resource is applying the scope; the next event or the \
                             scheduled run looks again",
                            stack.status
                        )));
                    }
                    tracing::info!(status = %stack.status, "the deployment stack is changing; waiting for it to settle");
                    self.clock.sleep(poll).await;
                }
            }
        }
    }
}
