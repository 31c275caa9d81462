//! The deployment as a test sets it up: the SDK configuration of each mode, the StackSets
//! the template would create, and a naive caller's delete.

use aws_sdk_cloudformation::types::{AutoDeployment, Capability, PermissionModels};

use crate::{
    repo_root, DeployAs, Fixture, TestBed, MEMBER_TEMPLATE, PORT_OIDC_URL, REGION, STACK_SET,
};

impl TestBed {
    /// The SDK configuration a deployment in `mode` runs with; in delegated-administrator
    /// mode the account is registered first.
    pub async fn deploy_config(&self, mode: DeployAs, f: &Fixture) -> aws_config::SdkConfig {
        match mode {
            DeployAs::ManagementAccount => self.sdk_config().await,
            DeployAs::DelegatedAdmin => {
                let account = mode.account(f);
                self.register_delegated_admin(&account).await;
                self.member_config(&account).await
            }
        }
    }

    /// Creates the StackSet as the template does in `mode` (`CallAs` on the
    /// `AWS::CloudFormation::StackSet`), with `conf` of the deployment's account.
    pub async fn create_stack_set_as(&self, conf: &aws_config::SdkConfig, mode: DeployAs) {
        aws_sdk_cloudformation::Client::new(conf)
            .create_stack_set()
            .stack_set_name(STACK_SET)
            .template_body(MEMBER_TEMPLATE)
            .capabilities(Capability::CapabilityNamedIam)
            .permission_model(PermissionModels::ServiceManaged)
            .auto_deployment(AutoDeployment::builder().enabled(false).build())
            .call_as(aws_sdk_cloudformation::types::CallAs::from(mode.call_as()))
            .send()
            .await
            .expect("CreateStackSet");
    }

    /// Creates a StackSet as the template would: service-managed, auto-deployment off.
    pub async fn create_stack_set(&self, name: &str, service_managed: bool) {
        let conf = self.sdk_config().await;
        let cfn = aws_sdk_cloudformation::Client::new(&conf);
        let mut req = cfn
            .create_stack_set()
            .stack_set_name(name)
            .template_body(MEMBER_TEMPLATE)
            .capabilities(Capability::CapabilityNamedIam);
        if service_managed {
            req = req
                .permission_model(PermissionModels::ServiceManaged)
                .auto_deployment(AutoDeployment::builder().enabled(false).build());
        } else {
            req = req.permission_model(PermissionModels::SelfManaged);
        }
        req.send().await.expect("CreateStackSet");
    }

    /// Creates a StackSet as the template's `PortStackSet` does, with the member template's
    /// real parameters: the emulator then plays Port's OIDC provider per account (see
    /// `has_oidc_provider`).
    pub async fn create_port_stack_set(&self, name: &str, create_oidc_provider: bool) {
        use aws_sdk_cloudformation::types::Parameter;
        let conf = self.sdk_config().await;
        let cfn = aws_sdk_cloudformation::Client::new(&conf);
        let template = std::fs::read_to_string(repo_root().join("templates/member-role.yaml"))
            .expect("templates/member-role.yaml");
        let param = |k: &str, v: &str| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        };
        cfn.create_stack_set()
            .stack_set_name(name)
            .template_body(template)
            .capabilities(Capability::CapabilityNamedIam)
            .permission_model(PermissionModels::ServiceManaged)
            .auto_deployment(AutoDeployment::builder().enabled(false).build())
            .parameters(param("RoleName", "PortIntegrationRole-test"))
            .parameters(param("OIDCProviderUrl", PORT_OIDC_URL))
            .parameters(param(
                "OIDCJwtSubject",
                "system:serviceaccount:org-test-port-oidc-sa",
            ))
            .parameters(param(
                "CreateOIDCProvider",
                if create_oidc_provider {
                    "true"
                } else {
                    "false"
                },
            ))
            .parameters(param("IntegrationIdentifier", "test"))
            .send()
            .await
            .expect("CreateStackSet");
    }

    /// `DeleteStackInstances` without `RetainStacks` for one account through one OU, as a
    /// naive caller would (to set up an INOPERABLE instance).
    pub async fn delete_instances_plain(&self, stack_set: &str, ou: &str, account: &str) {
        use aws_sdk_cloudformation::types::{AccountFilterType, DeploymentTargets};
        let conf = self.sdk_config().await;
        aws_sdk_cloudformation::Client::new(&conf)
            .delete_stack_instances()
            .stack_set_name(stack_set)
            .deployment_targets(
                DeploymentTargets::builder()
                    .organizational_unit_ids(ou)
                    .accounts(account)
                    .account_filter_type(AccountFilterType::Intersection)
                    .build(),
            )
            .regions(REGION)
            .retain_stacks(false)
            .send()
            .await
            .expect("DeleteStackInstances");
    }
}
