//! The functions run as the principals template.yaml makes them: the emulator reads the
//! template (after the SAM transform), collects every policy that reaches the function's
//! execution role, evaluates it for this deployment's parameters, and authorizes each request
//! signed with the returned credentials against those policies alone, answering AWS's
//! AccessDenied otherwise (`tests/emulator/fidelity/iam.py`, `template_iam.py`).

use serde_json::{json, Value};

use crate::{DeployAs, Fixture, TestBed, REGION, STACK_SET};

/// The account moto serves by default: the sample organization's management account.
pub const MANAGEMENT_ACCOUNT: &str = "123456789012";

/// A function of template.yaml (its logical ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CustomResource,
    OrgEvents,
}

impl Function {
    pub fn logical_id(self) -> &'static str {
        match self {
            Self::CustomResource => "CustomResourceFunction",
            Self::OrgEvents => "OrgEventsFunction",
        }
    }
}

/// Where and how the stack is deployed: what the template's policies are evaluated for.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The account the stack is deployed in.
    pub account: String,
    /// The `ManagementAccountId` parameter: empty in the management account.
    pub management_account_id: String,
    /// The `StackSetName` parameter.
    pub stack_set: String,
    /// The stack's ID (`AWS::StackId`), when the test created the stack.
    pub stack_id: Option<String>,
    /// Actions taken out of every statement: shows that the enforcement can refuse.
    pub without: Vec<String>,
}

impl Deployment {
    /// Deployed in the management account (`ManagementAccountId` empty).
    pub fn management() -> Self {
        Self {
            account: MANAGEMENT_ACCOUNT.into(),
            management_account_id: String::new(),
            stack_set: STACK_SET.into(),
            stack_id: None,
            without: Vec::new(),
        }
    }

    /// Deployed in `mode` in the sample organization.
    pub fn of(mode: DeployAs, f: &Fixture) -> Self {
        Self {
            account: mode.account(f),
            management_account_id: mode.management_account_id(f),
            ..Self::management()
        }
    }

    pub fn with_stack(mut self, stack_id: &str) -> Self {
        self.stack_id = Some(stack_id.into());
        self
    }

    /// Deployed with `StackSetName` = `name`.
    pub fn for_stack_set(mut self, name: &str) -> Self {
        self.stack_set = name.into();
        self
    }

    pub fn without(mut self, action: &str) -> Self {
        self.without.push(action.into());
        self
    }
}

/// Temporary credentials of a principal the emulator authorizes.
#[derive(Debug, Clone)]
pub struct Principal {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub arn: String,
    pub account: String,
    /// The policy documents the principal holds, as the emulator evaluates them.
    pub policies: Vec<Value>,
}

impl Principal {
    fn from_answer(v: Value) -> Self {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Self {
            access_key_id: s("access_key_id"),
            secret_access_key: s("secret_access_key"),
            session_token: s("session_token"),
            arn: s("arn"),
            account: s("account_id"),
            policies: v["policies"].as_array().cloned().unwrap_or_default(),
        }
    }
}

impl TestBed {
    /// The principal `function`'s execution role is once the template is deployed as
    /// `deployment` says.
    pub async fn function_principal(
        &self,
        function: Function,
        deployment: &Deployment,
    ) -> Principal {
        let mut body = json!({
            "function": function.logical_id(),
            "account_id": deployment.account,
            "region": REGION,
            "parameters": {
                "StackSetName": deployment.stack_set,
                "ManagementAccountId": deployment.management_account_id,
            },
            "remove_actions": deployment.without,
        });
        if let Some(id) = &deployment.stack_id {
            body["stack_id"] = json!(id);
        }
        if function == Function::CustomResource {
            // The name the test bed's Lambda gives the function (its self-invocation's target).
            body["function_name"] = json!(crate::lambda::FUNCTION_NAME);
        }
        Principal::from_answer(self.control("principal/template", body).await)
    }

    /// A principal holding exactly `policies` (the CLI's documented policy, say).
    pub async fn principal_with(
        &self,
        name: &str,
        account: &str,
        policies: Vec<Value>,
    ) -> Principal {
        Principal::from_answer(
            self.control(
                "principal",
                json!({"name": name, "account_id": account, "policies": policies}),
            )
            .await,
        )
    }

    /// One principal holding what the template gives `function` in each of `deployments`
    /// (say, for each StackSet name a bad-input corpus uses): each row's calls are allowed as
    /// they would be in a stack deployed with that row's parameters.
    pub async fn function_principal_for_each(
        &self,
        function: Function,
        deployments: &[Deployment],
    ) -> Principal {
        let mut policies = Vec::new();
        for d in deployments {
            policies.extend(self.function_principal(function, d).await.policies);
        }
        let account = deployments
            .first()
            .map(|d| d.account.clone())
            .unwrap_or_default();
        self.principal_with(function.logical_id(), &account, policies)
            .await
    }

    /// SDK configuration signed as `principal`.
    pub async fn config_as(&self, principal: &Principal) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                principal.access_key_id.clone(),
                principal.secret_access_key.clone(),
                Some(principal.session_token.clone()),
                None,
                "test-principal",
            ))
            .retry_config(shared::adapters::retry_config())
            .load()
            .await
    }

    /// SDK configuration of `function` deployed as `deployment`: what its handler runs with.
    pub async fn function_config(
        &self,
        function: Function,
        deployment: &Deployment,
    ) -> aws_config::SdkConfig {
        let p = self.function_principal(function, deployment).await;
        self.config_as(&p).await
    }

    /// Environment for a child process (a function binary, the CLI) signed as `principal`.
    pub fn env_as(&self, principal: &Principal) -> Vec<(&'static str, String)> {
        let mut env: Vec<(&'static str, String)> = self
            .env()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY") && !k.starts_with("AWS_SECRET"))
            .collect();
        env.push(("AWS_ACCESS_KEY_ID", principal.access_key_id.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY", principal.secret_access_key.clone()));
        env.push(("AWS_SESSION_TOKEN", principal.session_token.clone()));
        env
    }

    /// Environment for `function`'s binary deployed as `deployment`.
    pub async fn function_env(
        &self,
        function: Function,
        deployment: &Deployment,
    ) -> Vec<(&'static str, String)> {
        let p = self.function_principal(function, deployment).await;
        self.env_as(&p)
    }

    /// Requests the emulator refused with AccessDenied since the last clear:
    /// `(action, AWS's message)`.
    pub async fn denied(&self) -> Vec<(String, String)> {
        self.requests()
            .await
            .into_iter()
            .filter_map(|r| {
                r["denied"].as_str().map(|m| {
                    (
                        r["action"].as_str().unwrap_or_default().to_owned(),
                        m.to_owned(),
                    )
                })
            })
            .collect()
    }
}
