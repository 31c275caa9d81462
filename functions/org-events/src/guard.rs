//! The last look before every StackSet change.
//!
//! org-events plans from a read of the organization, the StackSet and its own stack; the
//! change it then starts must not be based on a read that something else has overtaken. So
//! `Guarded` wraps the StackSet port and, right before each `start` (create, update, delete,
//! drift detection; also every retry after an operation in progress), checks:
//! - the deployment stack (when the function has one) is still settled and shows the same
//!   scope generation the run planned with: otherwise the custom resource is applying a new
//!   scope (or deleting everything) and this run stands aside;
//! - no StackSet operation other than this run's own was started since the run read the
//!   state: otherwise its plan may be stale and the run plans again from a fresh read.
//!
//! A refused start returns an error that the engine passes up unchanged; the handler reads
//! the reason with `take_trip`.

use std::sync::Mutex;

use shared::core::StackInstance;
use shared::ports::{
    AwsError, AwsResult, OpKind, Operation, OperationResult, StackApi, StackSetApi, StackSetInfo,
    StackSetReader, StackSetWriter, StackState, Targets,
};

use crate::config::{Generation, StackPhase};

/// Why a StackSet change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trip {
    /// The deployment stack is busy, gone, or shows another scope than the run planned with.
    Stack(String),
    /// Another StackSet operation started after the run read the state.
    Superseded(String),
}

impl Trip {
    pub fn why(&self) -> &str {
        match self {
            Self::Stack(w) | Self::Superseded(w) => w,
        }
    }
}

/// What the run planned with.
#[derive(Debug, Default)]
struct Armed {
    stack_id: Option<String>,
    generation: Option<Generation>,
    /// The newest StackSet operation when the run first looked at the operations (the
    /// engine and the event path look before they read anything): `None` until then.
    baseline: Option<Option<String>>,
    /// Operations this run started (they do not supersede it).
    own: Vec<String>,
    trip: Option<Trip>,
}

/// No deployment stack: the scope comes from the environment (local runs, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStack;

impl StackApi for NoStack {
    async fn describe_stack(&self, stack_id: &str) -> AwsResult<StackState> {
        Err(AwsError::NotFound {
            what: format!("stack {stack_id} (this function was given no stack reader)"),
        })
    }
}

/// The StackSet port with the check before each change.
pub struct Guarded<S, K> {
    pub inner: S,
    pub stack: K,
    state: Mutex<Armed>,
}

impl<S, K> Guarded<S, K> {
    pub fn new(inner: S, stack: K) -> Self {
        Self {
            inner,
            stack,
            state: Mutex::new(Armed::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Armed) -> T) -> T {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Starts a run: the stack and scope generation it plans with.
    pub fn arm(&self, stack_id: Option<String>, generation: Option<Generation>) {
        self.with(|a| {
            *a = Armed {
                stack_id,
                generation,
                baseline: None,
                own: vec![],
                trip: None,
            }
        });
    }

    /// The operations this run started so far.
    pub fn own(&self) -> Vec<String> {
        self.with(|a| a.own.clone())
    }

    /// Why the last start was refused, if it was (cleared by reading).
    pub fn take_trip(&self) -> Option<Trip> {
        self.with(|a| a.trip.take())
    }
}

impl<S: StackSetApi, K: StackApi> Guarded<S, K> {
    async fn check(&self, name: &str) -> Result<(), Trip> {
        let (stack_id, generation, baseline, own) = self.with(|a| {
            (
                a.stack_id.clone(),
                a.generation.clone(),
                a.baseline.clone(),
                a.own.clone(),
            )
        });
        if let Some(id) = stack_id {
            let stack = self.stack.describe_stack(&id).await.map_err(|e| {
                Trip::Stack(format!(
                    "could not read the deployment stack before changing the StackSet ({e})"
                ))
            })?;
            match StackPhase::of(&stack.status) {
                StackPhase::Settled => {}
                _ => {
                    return Err(Trip::Stack(format!(
                        "the deployment stack became {} while this run planned: the custom \
                         resource owns the StackSet until it finishes",
                        stack.status
                    )))
                }
            }
            if generation.as_ref() != Some(&Generation::of(&stack)) {
                return Err(Trip::Stack(
                    "the deployment stack's scope changed while this run planned: the custom \
                     resource applied the new one"
                        .into(),
                ));
            }
        }
        let newest = self
            .inner
            .recent_operations(name, 1)
            .await
            .map_err(|e| {
                Trip::Superseded(format!(
                    "could not list the StackSet's operations before changing it ({e})"
                ))
            })?
            .into_iter()
            .next()
            .map(|o| o.id);
        let Some(baseline) = baseline else {
            // Nothing was read before this change: nothing can be stale.
            self.with(|a| a.baseline = Some(newest));
            return Ok(());
        };
        match newest {
            Some(id) if Some(&id) != baseline.as_ref() && !own.contains(&id) => {
                Err(Trip::Superseded(format!(
                    "StackSet operation {id} started after this run read the state"
                )))
            }
            _ => Ok(()),
        }
    }
}

impl<S: StackSetReader, K: StackApi> StackSetReader for Guarded<S, K> {
    fn set_call_as(&self, call_as: shared::core::CallAs) {
        self.inner.set_call_as(call_as)
    }

    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        self.inner.describe(name).await
    }

    async fn instances(&self, name: &str) -> AwsResult<Vec<StackInstance>> {
        self.inner.instances(name).await
    }

    async fn instances_of(
        &self,
        name: &str,
        accounts: &[shared::core::AccountId],
    ) -> AwsResult<Vec<StackInstance>> {
        self.inner.instances_of(name, accounts).await
    }

    async fn operation(&self, name: &str, id: &str) -> AwsResult<Operation> {
        self.inner.operation(name, id).await
    }

    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        let ops = self.inner.recent_operations(name, max).await?;
        self.with(|a| {
            if a.baseline.is_none() {
                a.baseline = Some(ops.first().map(|o| o.id.clone()));
            }
        });
        Ok(ops)
    }

    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        self.inner.operation_results(name, id).await
    }
}

impl<S: StackSetApi, K: StackApi> StackSetWriter for Guarded<S, K> {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        if let Err(trip) = self.check(name).await {
            let message = trip.why().to_owned();
            tracing::info!(kind = kind.as_str(), why = %message, "StackSet change refused");
            self.with(|a| a.trip = Some(trip));
            return Err(AwsError::Other {
                service: "org-events",
                action: "check before a StackSet change",
                message,
            });
        }
        let r = self
            .inner
            .start(name, kind, targets, regions, operation_id)
            .await;
        let started = match &r {
            Ok(id) => Some(id.clone()),
            Err(AwsError::OperationIdExists) => Some(operation_id.to_owned()),
            Err(_) => None,
        };
        if let Some(id) = started {
            self.with(|a| a.own.push(id));
        }
        r
    }
}
