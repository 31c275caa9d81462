//! `StackSetWriter` for `CfnStackSets`: starting Create, Update, Delete and DetectDrift
//! operations with the project's preferences, remembering each as one of ours.

use crate::adapters::errors::classify;
use crate::ports::{AwsError, AwsResult, OpKind, StackSetWriter, Targets};

use super::convert::{deployment_targets, parameter_overrides};
use super::preferences;
use super::CfnStackSets;

impl StackSetWriter for CfnStackSets {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        let c = &self.client;
        let dt = deployment_targets(targets);
        let regions = regions.to_vec();
        let started: AwsResult<Option<String>> = match kind {
            OpKind::Create => c
                .create_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .deployment_targets(dt.clone())
                .set_regions(Some(regions.clone()))
                .operation_preferences(preferences())
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "CreateStackInstances", e)),
            OpKind::Update => c
                .update_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .deployment_targets(dt.clone())
                .set_parameter_overrides(parameter_overrides(targets))
                .set_regions(Some(regions.clone()))
                .operation_preferences(preferences())
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "UpdateStackInstances", e)),
            OpKind::Delete => c
                .delete_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .deployment_targets(dt.clone())
                .set_regions(Some(regions.clone()))
                .operation_preferences(preferences())
                .retain_stacks(targets.retain_stacks)
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "DeleteStackInstances", e)),
            OpKind::DetectDrift => c
                .detect_stack_set_drift()
                .stack_set_name(name)
                .call_as(self.call_as())
                .operation_preferences(preferences())
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "DetectStackSetDrift", e)),
        };
        let id = match started {
            Ok(id) => id.unwrap_or_else(|| operation_id.to_owned()),
            // This process's own: an earlier delivery of the same request started it.
            Err(AwsError::OperationIdExists) => {
                self.remember(name, operation_id, kind, targets);
                return Err(AwsError::OperationIdExists);
            }
            Err(e) => return Err(e),
        };
        self.remember(name, &id, kind, targets);
        Ok(id)
    }
}
