//! The local AWS test bed for end-to-end tests: one emulator process per test (moto behind our
//! fidelity layer, see `tests/emulator/README.md`), its control API, and SDK clients aimed at it.

mod bed;
pub mod esm;
pub mod http;
pub mod iam;
pub mod lambda;
pub mod lambda_logs;
pub mod proxy;
pub mod variants;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use iam::{Deployment, Function, Principal, MANAGEMENT_ACCOUNT};
pub use variants::{
    operations_listing, operations_listing_lag, organizations_pages, short_organizations_pages,
    OPERATIONS_LISTING_VAR, ORGANIZATIONS_PAGES_VAR,
};

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
    emulator: bed::emulator::Emulator,
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
