//! The local AWS test bed for end-to-end tests: one emulator process per test (moto behind our
//! fidelity layer, see `tests/emulator/README.md`), its control API, and SDK clients aimed at it.

pub mod esm;
pub mod http;
pub mod iam;
pub mod lambda;
pub mod lambda_logs;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_cloudformation::types::{AutoDeployment, Capability, PermissionModels};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use iam::{Deployment, Function, Principal, MANAGEMENT_ACCOUNT};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The region every test uses.
pub const REGION: &str = "us-east-1";
/// The StackSet name tests create.
pub const STACK_SET: &str = "Port-Integration-v3";

/// Port's default OIDC issuer.
pub const PORT_OIDC_URL: &str =
    "https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4";

/// A tiny member template: the emulator records instances, it does not run stacks.
pub const MEMBER_TEMPLATE: &str = r#"{"Resources":{"PortIntegrationRole":{"Type":"AWS::IAM::Role","Properties":{"RoleName":"PortIntegrationRole-test","AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[]}}}}}"#;

/// SDK configuration aimed at `endpoint` (the emulator, or a proxy in front of it) in `region`,
/// retrying as the functions and the CLI do (`shared::adapters::retry_config`).
pub async fn sdk_config_for(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .retry_config(shared::adapters::retry_config())
        .load()
        .await
}

/// How the test bed resolves a listed OU in Update/DeleteStackInstances. AWS's documents
/// leave it open, so the engine must be right under both and the tests that withdraw, move
/// or delete run under both (`for reading in OuReading::BOTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuReading {
    /// Through the organization as it is now (an account no longer in the organization is
    /// found only through the OU its instance recorded).
    Now,
    /// Through the OU each instance recorded when it was deployed.
    Recorded,
}

impl OuReading {
    pub const BOTH: [OuReading; 2] = [OuReading::Now, OuReading::Recorded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Now => "now",
            Self::Recorded => "recorded",
        }
    }
}

/// Where the integration is deployed: the two modes of issue 15. Lifecycle tests run in both
/// (`for mode in DeployAs::BOTH`), as they run under both OU readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployAs {
    /// The organization's management account (`CallAs: SELF`).
    ManagementAccount,
    /// A member account registered as delegated administrator for StackSets
    /// (`CallAs: DELEGATED_ADMIN`): the sample's `shared-services`.
    DelegatedAdmin,
}

impl DeployAs {
    pub const BOTH: [DeployAs; 2] = [DeployAs::ManagementAccount, DeployAs::DelegatedAdmin];
    /// The sample account that plays the delegated administrator.
    pub const DELEGATED_ADMIN_ACCOUNT: &'static str = "shared-services";

    /// The `CallAs` every StackSet call of this mode must carry, as AWS spells it.
    pub fn call_as(self) -> &'static str {
        match self {
            Self::ManagementAccount => "SELF",
            Self::DelegatedAdmin => "DELEGATED_ADMIN",
        }
    }

    /// The `ManagementAccountId` parameter (and property) of this mode.
    pub fn management_account_id(self, f: &Fixture) -> String {
        match self {
            Self::ManagementAccount => String::new(),
            Self::DelegatedAdmin => f.management(),
        }
    }

    /// The account the stack is deployed in.
    pub fn account(self, f: &Fixture) -> String {
        match self {
            Self::ManagementAccount => f.management(),
            Self::DelegatedAdmin => f.account(Self::DELEGATED_ADMIN_ACCOUNT),
        }
    }
}

/// One running emulator; killed on drop.
pub struct TestBed {
    child: Child,
    pub endpoint: String,
    http: reqwest::Client,
}

/// The sample organization's IDs by name (see the emulator README for the tree).
#[derive(Debug, Clone)]
pub struct Fixture(pub Value);

impl Fixture {
    /// An account ID by name, e.g. `prod-eu-pci`.
    pub fn account(&self, name: &str) -> String {
        self.0["accounts"][name]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no account {name} in fixture"))
            .to_owned()
    }
    /// An OU ID by path, e.g. `Root/Prod/EU`.
    pub fn ou(&self, path: &str) -> String {
        self.0["ous"][path]
            .as_str()
            .unwrap_or_else(|| panic!("no OU {path} in fixture"))
            .to_owned()
    }
    pub fn root(&self) -> String {
        self.0["root_id"].as_str().unwrap().to_owned()
    }
    pub fn management(&self) -> String {
        self.0["management_account_id"].as_str().unwrap().to_owned()
    }
}

/// Set (e.g. `shuffled,lag=2`), every test bed lists StackSet operations as AWS may: in no
/// order and/or behind by `lag` seconds (the emulator's `operations_listing`; AWS: "This API
/// provides eventually consistent reads", CloudFormation API Reference,
/// ListStackSetOperations and ListStackSetOperationResults, and no order documented).
/// scripts/test runs the suites that read operations a second time under it.
pub const OPERATIONS_LISTING_VAR: &str = "E2E_OPERATIONS_LISTING";

/// Parses `E2E_OPERATIONS_LISTING`: comma-separated `shuffled` | `newest_first` | `lag=<seconds>`.
pub fn operations_listing(text: &str) -> Result<Value, String> {
    let mut order = "newest_first";
    let mut lag = 0.0_f64;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "shuffled" | "newest_first" => order = part,
            _ => match part.strip_prefix("lag=").map(str::parse::<f64>) {
                Some(Ok(s)) if s >= 0.0 => lag = s,
                _ => {
                    return Err(format!(
                        "{OPERATIONS_LISTING_VAR}: {part:?} is not understood: use \
                         shuffled, newest_first and/or lag=<seconds>, e.g. shuffled,lag=2"
                    ))
                }
            },
        }
    }
    Ok(json!({ "order": order, "lag_seconds": lag }))
}

/// How far behind `E2E_OPERATIONS_LISTING` makes the operations lists (zero when unset): a
/// test that reads them from another process waits this long after starting an operation.
pub fn operations_listing_lag() -> Duration {
    std::env::var(OPERATIONS_LISTING_VAR)
        .ok()
        .and_then(|t| operations_listing(&t).ok())
        .and_then(|v| v["lag_seconds"].as_f64())
        .map(Duration::from_secs_f64)
        .unwrap_or_default()
}

/// Set to `short`, every test bed answers the Organizations List calls in short pages: fewer
/// items than the page maximum, now and then none, with a NextToken while more are left (the
/// emulator's `organizations_pages`; AWS Organizations API reference, every List call: "These
/// operations can occasionally return an empty set of results even when there are more results
/// available. The NextToken response parameter value is null only when there are no more
/// results to display."). scripts/test runs the suites that read Organizations again under it.
pub const ORGANIZATIONS_PAGES_VAR: &str = "E2E_ORGANIZATIONS_PAGES";

/// Parses `E2E_ORGANIZATIONS_PAGES`: `short` or `full` (the default).
pub fn organizations_pages(text: &str) -> Result<&'static str, String> {
    match text.trim() {
        "short" => Ok("short"),
        "full" | "" => Ok("full"),
        other => Err(format!(
            "{ORGANIZATIONS_PAGES_VAR}: {other:?} is not understood: use short (pages below the \
             maximum, some empty) or full"
        )),
    }
}

/// Whether `E2E_ORGANIZATIONS_PAGES=short` is set: a test asserting a call count that holds only
/// for full pages skips that count (and says so) under it.
pub fn short_organizations_pages() -> bool {
    std::env::var(ORGANIZATIONS_PAGES_VAR)
        .ok()
        .and_then(|t| organizations_pages(&t).ok())
        == Some("short")
}

impl TestBed {
    /// Starts an emulator on a free port. Needs `tests/emulator/setup` to have run.
    pub async fn start() -> Self {
        let root = repo_root();
        let python = root.join(".venv/emulator/bin/python");
        assert!(
            python.exists(),
            "the emulator is not installed: run tests/emulator/setup (scripts/test does)"
        );
        let mut child = Command::new(python)
            .arg(root.join("tests/emulator/server.py"))
            .args(["--port", "0", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start emulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("emulator did not start within 60 s")
            .expect("read emulator stdout")
            .expect("emulator exited before announcing its endpoint");
        let endpoint = line
            .strip_prefix("ENDPOINT ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim()
            .to_owned();
        // Keep draining stdout so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let bed = Self {
            child,
            endpoint,
            http: reqwest::Client::new(),
        };
        if let Ok(text) = std::env::var(OPERATIONS_LISTING_VAR) {
            let listing = operations_listing(&text).unwrap_or_else(|e| panic!("{e}"));
            bed.configure(json!({ "operations_listing": listing }))
                .await;
        }
        if let Ok(text) = std::env::var(ORGANIZATIONS_PAGES_VAR) {
            let pages = organizations_pages(&text).unwrap_or_else(|e| panic!("{e}"));
            bed.configure(json!({ "organizations_pages": pages })).await;
        }
        bed
    }

    /// POST a control call; panics on failure (a broken test bed is a broken test).
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_fidelity/{path}", self.endpoint))
            .json(&body)
            .send()
            .await
            .expect("control call");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "control {path}: {status} {v}");
        v
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/_fidelity/{path}", self.endpoint))
            .send()
            .await
            .expect("control call")
            .json()
            .await
            .expect("json")
    }

    /// Builds the sample organization (trusted access on).
    pub async fn sample(&self) -> Fixture {
        Fixture(
            self.control("fixture/sample", json!({"trusted_access": true}))
                .await,
        )
    }

    pub async fn configure(&self, body: Value) {
        self.control("config", body).await;
    }

    /// Switches how a listed OU is resolved on Update/DeleteStackInstances.
    pub async fn set_ou_reading(&self, reading: OuReading) {
        self.configure(json!({"ou_reading": reading.as_str()}))
            .await;
    }

    /// Sets an account's Organizations `State` (`SUSPENDED`, `CLOSED`, ...).
    pub async fn set_account_state(&self, account: &str, state: &str) {
        self.control(
            "account-state",
            json!({"account_id": account, "state": state}),
        )
        .await;
    }

    /// Makes the next `times` StackSet operations touching `account` fail for it.
    pub async fn fail_account(&self, account: &str, reason: &str, times: u32) {
        self.control(
            "fail-account",
            json!({"account_id": account, "reason": reason, "times": times}),
        )
        .await;
    }

    /// The account leaves the organization (`RemoveAccountFromOrganization`).
    pub async fn remove_account(&self, account: &str) {
        let conf = self.sdk_config().await;
        aws_sdk_organizations::Client::new(&conf)
            .remove_account_from_organization()
            .account_id(account)
            .send()
            .await
            .expect("RemoveAccountFromOrganization");
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

    /// The parameters of every `action` request since the last clear (CloudFormation's
    /// flat form parameters).
    pub async fn params_of(&self, action: &str) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["action"] == action && r["throttled"] != true)
            .map(|r| r["params"].clone())
            .collect()
    }

    /// The `Entries` of every EventBridge `PutEvents` request since the last clear, one list
    /// per request (the change events the functions put, and their resends).
    pub async fn put_events(&self) -> Vec<Vec<Value>> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["service"] == "events" && r["action"] == "PutEvents")
            .map(|r| {
                r["params"]["Entries"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Every AWS request the emulator saw, in order.
    pub async fn requests(&self) -> Vec<Value> {
        self.get("requests").await["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Holds the `nth` (1 = next) `service` `action` call from now on in the emulator until
    /// [`TestBed::release`]: the call is logged when it arrives and answered only after the
    /// test's other side has acted (`POST /_fidelity/hold`). Returns the hold's id.
    pub async fn hold(&self, service: &str, action: &str, nth: u32) -> u64 {
        self.control(
            "hold",
            json!({"service": service, "action": action, "nth": nth}),
        )
        .await["id"]
            .as_u64()
            .expect("hold id")
    }

    /// Waits until the held call has arrived and is waiting (`GET /_fidelity/held`); panics
    /// after 60 s naming the hold (the call never came).
    pub async fn wait_held(&self, id: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let holds = self.get("held").await;
            let hold = holds["holds"]
                .as_array()
                .and_then(|h| h.iter().find(|h| h["id"] == id).cloned())
                .unwrap_or_else(|| panic!("no hold {id}: {holds}"));
            if hold["state"] != "armed" {
                assert_eq!(hold["state"], "waiting", "{hold}");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the held call never came within 60 s: {hold}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lets the held call go on.
    pub async fn release(&self, id: u64) {
        self.control("release", json!({ "id": id })).await;
    }

    /// The request-log entry of the call caught by hold `id`: its `seq` (when it arrived) and
    /// `released_after_seq` (the last request logged before it went on).
    pub async fn held_entry(&self, id: u64) -> Value {
        self.requests()
            .await
            .into_iter()
            .find(|r| r["held"] == id)
            .unwrap_or_else(|| panic!("no request was held by hold {id}"))
    }

    /// Mutating StackSet calls seen so far.
    pub async fn mutating_stackset_calls(&self) -> Vec<String> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["service"] == "cloudformation" && r["throttled"] != true)
            .filter_map(|r| r["action"].as_str().map(str::to_owned))
            .filter(|a| {
                matches!(
                    a.as_str(),
                    "CreateStackInstances"
                        | "UpdateStackInstances"
                        | "DeleteStackInstances"
                        | "DetectStackSetDrift"
                        | "UpdateStackSet"
                        | "DeleteStackSet"
                )
            })
            .collect()
    }

    /// `(account, status, detailed_status, drift_status)` of each instance, sorted.
    pub async fn instances(&self, stack_set: &str) -> Vec<Value> {
        let mut v = self
            .get(&format!("stack-instances?stack_set_name={stack_set}"))
            .await["instances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        v.sort_by_key(|i| i["account"].as_str().unwrap_or_default().to_owned());
        v
    }

    /// Account IDs that have an instance, sorted.
    pub async fn instance_accounts(&self, stack_set: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .instances(stack_set)
            .await
            .iter()
            .filter_map(|i| i["account"].as_str().map(str::to_owned))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// SDK configuration aimed at this emulator, as `AWS_ENDPOINT_URL` would make it.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint, REGION).await
    }

    /// Environment for a child process (the CLI, a function binary) to reach this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// SDK configuration signed as `account` (a member of the organization): `AssumeRole`
    /// into it with the default credentials, as a person signed in there would be. The
    /// emulator takes the caller's account from the access key (tests/emulator/README.md,
    /// "Callers").
    pub async fn member_config(&self, account: &str) -> aws_config::SdkConfig {
        let conf = self.sdk_config().await;
        let creds = aws_sdk_sts::Client::new(&conf)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/orgscope-test"))
            .role_session_name("orgscope-test")
            .send()
            .await
            .expect("AssumeRole")
            .credentials
            .expect("credentials");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                Some(creds.session_token),
                None,
                "test-member",
            ))
            .retry_config(shared::adapters::retry_config())
            .load()
            .await
    }

    /// `RegisterDelegatedAdministrator` for StackSets, from the management account.
    pub async fn register_delegated_admin(&self, account: &str) {
        let conf = self.sdk_config().await;
        aws_sdk_organizations::Client::new(&conf)
            .register_delegated_administrator()
            .account_id(account)
            .service_principal(shared::core::STACKSETS_PRINCIPAL)
            .send()
            .await
            .expect("RegisterDelegatedAdministrator");
    }

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

    /// StackSet requests (all of them, throttled ones included) whose `CallAs` is not `want`
    /// or that came from another account than `caller`: `(action, caller, call_as)`. A
    /// `SELF` run may leave `CallAs` out (AWS's default).
    pub async fn stackset_calls_not_as(&self, want: &str, caller: &str) -> Vec<String> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.get("call_as").is_some())
            .filter(|r| {
                let call_as = r["call_as"].as_str().unwrap_or("SELF");
                call_as != want || r["caller"] != caller
            })
            .map(|r| format!("{} from {} as {}", r["action"], r["caller"], r["call_as"]))
            .collect()
    }

    /// How many `action` requests the emulator saw (throttled ones included).
    pub async fn count_of(&self, action: &str) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r["action"] == action)
            .count()
    }

    /// How many StackSet requests the emulator saw.
    pub async fn stackset_call_count(&self) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.get("call_as").is_some())
            .count()
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

    /// The account already holds Port's OIDC provider (from an earlier single-account
    /// install): no stack of the StackSet created it.
    pub async fn has_oidc_provider(&self, account: &str) {
        self.control("oidc-provider", json!({"account_id": account}))
            .await;
    }

    /// `(account, created by a stack of the StackSet)` for every Port OIDC provider in a
    /// member account, sorted.
    pub async fn oidc_providers(&self) -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = self.get("oidc-providers").await["providers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                (
                    p["account_id"].as_str().unwrap_or_default().to_owned(),
                    !p["created_by_stack_set"].is_null(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Moves an account, as a user would in the console.
    pub async fn move_account(&self, account: &str, from: &str, to: &str) {
        let conf = self.sdk_config().await;
        aws_sdk_organizations::Client::new(&conf)
            .move_account()
            .account_id(account)
            .source_parent_id(from)
            .destination_parent_id(to)
            .send()
            .await
            .expect("MoveAccount");
    }

    /// Creates an S3 bucket in `REGION` (CloudTrail's CreateTrail needs one to exist). A plain
    /// request: the emulator reads the service from the SigV4 credential scope and does not
    /// verify signatures, so no S3 client is needed.
    pub async fn create_bucket(&self, name: &str) {
        let r = self
            .http
            .put(format!("{}/{name}", self.endpoint))
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/s3/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .send()
            .await
            .expect("CreateBucket");
        let status = r.status();
        assert!(status.is_success(), "CreateBucket {name}: {status}");
    }

    /// Stops the emulator now (as a crash would).
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operations_listing_variable_sets_order_and_lag() {
        assert_eq!(
            operations_listing("shuffled,lag=2").unwrap(),
            json!({"order": "shuffled", "lag_seconds": 2.0})
        );
        assert_eq!(
            operations_listing("lag=0.5").unwrap(),
            json!({"order": "newest_first", "lag_seconds": 0.5})
        );
    }

    #[test]
    fn the_organizations_pages_variable_is_short_or_full_and_names_a_bad_value() {
        assert_eq!(organizations_pages("short").unwrap(), "short");
        assert_eq!(organizations_pages("full").unwrap(), "full");
        let e = organizations_pages("tiny").unwrap_err();
        assert!(
            e.contains("E2E_ORGANIZATIONS_PAGES")
                && e.contains("\"tiny\"")
                && e.contains("use short"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_operations_listing_variable_names_the_bad_part_and_the_fix() {
        let e = operations_listing("shuffled,lag=-1").unwrap_err();
        assert!(
            e.contains("\"lag=-1\"") && e.contains("lag=<seconds>"),
            "{e}"
        );
        let e = operations_listing("random").unwrap_err();
        assert!(e.contains("\"random\"") && e.contains("shuffled"), "{e}");
    }
}
