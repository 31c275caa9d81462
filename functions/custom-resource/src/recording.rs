//! The StackSet API as the engine sees it for one CloudFormation request: it records whether
//! this request may have changed the StackSet, so that every answer after that point carries
//! the live PhysicalResourceId and CloudFormation's rollback Delete removes what was made.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use shared::ports::{
    AwsError, AwsResult, OpKind, ReadsThrough, StackSetReader, StackSetWriter, Targets,
};

/// What one request did to the StackSet so far. Lives outside the work's future, so that it
/// is still known when that future is dropped at the hard stop or unwinds in a panic.
#[derive(Debug, Default)]
pub struct Mutations {
    /// A mutating call was accepted, or found already accepted (OperationIdExists).
    accepted: AtomicBool,
    /// Mutating calls sent and not yet answered: AWS may have acted on them.
    in_flight: AtomicUsize,
}

impl Mutations {
    /// Starts from what earlier invocations of the same request recorded.
    pub fn carried(accepted: bool) -> Self {
        Self {
            accepted: AtomicBool::new(accepted),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// True once the StackSet may have been changed for this request: a mutating call was
    /// accepted, or one was sent and its answer never came (a dropped call may have reached
    /// AWS, so it counts).
    pub fn any(&self) -> bool {
        self.accepted.load(Ordering::SeqCst) || self.in_flight.load(Ordering::SeqCst) > 0
    }
}

/// A refusal that proves AWS did not start the operation.
fn refused(e: &AwsError) -> bool {
    matches!(
        e,
        AwsError::OperationInProgress
            | AwsError::Throttled(_)
            | AwsError::AccessDenied(_)
            | AwsError::TrustedAccessDisabled(_)
            | AwsError::Validation(_)
            | AwsError::NotFound { .. }
            | AwsError::NoOrganization
    )
}

/// Wraps the function's StackSet adapter for one request.
pub struct Recording<'a, S> {
    pub inner: &'a S,
    pub mutations: &'a Mutations,
}

impl<S: StackSetReader> ReadsThrough for Recording<'_, S> {
    type Reader = S;
    fn reader(&self) -> &S {
        self.inner
    }
}

impl<S: StackSetWriter> StackSetWriter for Recording<'_, S> {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        if kind == OpKind::DetectDrift {
            // Drift detection changes no stack instance.
            return self
                .inner
                .start(name, kind, targets, regions, operation_id)
                .await;
        }
        self.mutations.in_flight.fetch_add(1, Ordering::SeqCst);
        let r = self
            .inner
            .start(name, kind, targets, regions, operation_id)
            .await;
        match &r {
            Err(e) if refused(e) => {}
            // Accepted, already accepted (OperationIdExists), or an error that does not say
            // whether AWS acted (a dropped connection): the StackSet may have changed.
            _ => self.mutations.accepted.store(true, Ordering::SeqCst),
        }
        self.mutations.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A StackSet API whose `start` answers what it is told to.
    struct Answers(AwsResult<String>);

    impl StackSetWriter for Answers {
        async fn start(
            &self,
            _: &str,
            _: OpKind,
            _: &Targets,
            _: &[String],
            _: &str,
        ) -> AwsResult<String> {
            self.0.clone()
        }
    }

    async fn after(answer: AwsResult<String>, kind: OpKind) -> bool {
        let m = Mutations::default();
        let api = Answers(answer);
        let rec = Recording {
            inner: &api,
            mutations: &m,
        };
        let targets = Targets {
            ous: vec![],
            accounts: vec![],
            filter: "NONE".into(),
            retain_stacks: false,
            parameter_overrides: Default::default(),
        };
        let _ = rec.start("S", kind, &targets, &[], "op").await;
        m.any()
    }

    #[tokio::test]
    async fn an_accepted_or_already_accepted_operation_counts_as_a_change() {
        assert!(after(Ok("op".into()), OpKind::Create).await);
        assert!(after(Err(AwsError::OperationIdExists), OpKind::Delete).await);
        let dropped = AwsError::Other {
            service: "cloudformation",
            action: "CreateStackInstances",
            message: "dispatch failure: connection reset".into(),
        };
        assert!(
            after(Err(dropped), OpKind::Update).await,
            "AWS may have acted"
        );
    }

    #[tokio::test]
    async fn a_refused_call_or_drift_detection_changes_nothing() {
        assert!(!after(Err(AwsError::OperationInProgress), OpKind::Create).await);
        assert!(!after(Err(AwsError::Validation("50 OUs".into())), OpKind::Create).await);
        assert!(
            !after(
                Err(AwsError::Throttled("Rate exceeded".into())),
                OpKind::Delete
            )
            .await
        );
        assert!(!after(Ok("op".into()), OpKind::DetectDrift).await);
    }

    #[test]
    fn an_unanswered_call_counts_and_a_carried_change_is_kept() {
        let m = Mutations::default();
        m.in_flight.fetch_add(1, Ordering::SeqCst);
        assert!(m.any(), "a call dropped mid-flight may have reached AWS");
        assert!(Mutations::carried(true).any());
        assert!(!Mutations::carried(false).any());
    }
}
