//! Where the main stack may run, by deployment mode. The one place this list lives in Rust:
//! `orgscope doctor`'s region check asks [`allowed_regions`]; the templates carry the same list
//! (CloudFormation templates cannot share one), and `tests/template/test_regions.py` fails if
//! template.yaml's rule, templates/management-account.yaml's `DelegatedAdminRegion` and
//! [`DELEGATED_ADMIN_REGIONS`] differ.

use super::mode::CallAs;

/// The only region whose EventBridge sees AWS Organizations events (in the management
/// account): the main stack runs here in management-account mode, and the companion
/// template's forwarding rules run here in delegated-administrator mode.
pub const EVENTS_REGION: &str = "us-east-1";

/// The regions a delegated administrator for CloudFormation StackSets can be registered and
/// work in, less GovCloud: where the main stack may run in delegated-administrator mode.
///
/// Source: AWS CloudFormation User Guide, "Register a delegated administrator member account"
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html>):
/// "You can register delegated administrators for your organization in the following Regions:
/// US East (Ohio), US East (N. Virginia), US West (N. California), US West (Oregon), Asia
/// Pacific (Mumbai), Asia Pacific (Seoul), Asia Pacific (Singapore), Asia Pacific (Sydney), Asia
/// Pacific (Tokyo), Canada (Central), Europe (Frankfurt), Europe (Ireland), Europe (London),
/// Europe (Paris), Europe (Stockholm), Israel (Tel Aviv), South America (São Paulo), AWS
/// GovCloud (US-East), and AWS GovCloud (US-West)." (Asia Pacific (Osaka), ap-northeast-3, is
/// not in it.)
///
/// GovCloud (us-gov-east-1, us-gov-west-1) is left out: the companion template's rules in the
/// management account's us-east-1 forward the Organizations events to the delegated
/// administrator's bus, and EventBridge routes events "between any AWS Regions, except AWS
/// GovCloud (US) and China" (AWS Compute Blog, "Expanding cross-Region event routing with
/// Amazon EventBridge",
/// <https://aws.amazon.com/blogs/compute/expanding-cross-region-event-routing-with-amazon-eventbridge/>);
/// GovCloud is also another partition (`aws-us-gov`), with its own accounts.
pub const DELEGATED_ADMIN_REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "il-central-1",
    "sa-east-1",
];

/// The regions of [`DELEGATED_ADMIN_REGIONS`] that are disabled by default (introduced after
/// March 20, 2019). A StackSet instance needs the region enabled in its target account and in
/// the management account (AWS CloudFormation User Guide, "Prepare to perform StackSet
/// operations in AWS Regions that are disabled by default"), and the main stack needs it in
/// the delegated administrator: enable it in every account in scope, the management account
/// and the delegated administrator.
pub const OPT_IN_REGIONS: [&str; 1] = ["il-central-1"];

/// Where the main stack may run when its StackSet calls carry `call_as`.
pub fn allowed_regions(call_as: CallAs) -> &'static [&'static str] {
    const MANAGEMENT: [&str; 1] = [EVENTS_REGION];
    match call_as {
        CallAs::Self_ => &MANAGEMENT,
        CallAs::DelegatedAdmin => &DELEGATED_ADMIN_REGIONS,
    }
}

/// Whether the main stack may run in `region` in that mode.
pub fn region_allowed(call_as: CallAs, region: &str) -> bool {
    allowed_regions(call_as).contains(&region)
}

/// Whether `region` is disabled by default (an account must opt in to it).
pub fn is_opt_in(region: &str) -> bool {
    OPT_IN_REGIONS.contains(&region)
}

/// The command that enables an opt-in region in one member account, from the management
/// account (AWS Account Management `EnableRegion`; needs trusted access for AWS Account
/// Management). The management account enables it for itself without `--account-id`.
pub fn enable_region_command(region: &str) -> String {
    format!("aws account enable-region --region-name {region} --account-id <account ID>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_management_account_runs_only_in_us_east_1() {
        assert_eq!(allowed_regions(CallAs::Self_), ["us-east-1"]);
        assert!(region_allowed(CallAs::Self_, "us-east-1"));
        assert!(!region_allowed(CallAs::Self_, "us-east-2"));
    }

    #[test]
    fn a_delegated_administrator_runs_in_the_documented_commercial_regions() {
        for r in [
            "us-east-1",
            "us-east-2",
            "eu-west-1",
            "ap-southeast-2",
            "il-central-1",
        ] {
            assert!(region_allowed(CallAs::DelegatedAdmin, r), "{r}");
        }
        // Not in AWS's list (or GovCloud, left out: no cross-region event routing there).
        for r in [
            "eu-south-1",
            "eu-central-2",
            "ap-east-1",
            "ap-northeast-3",
            "me-central-1",
            "af-south-1",
            "ca-west-1",
            "us-gov-west-1",
            "us-gov-east-1",
            "cn-north-1",
            "",
            "US-EAST-2",
        ] {
            assert!(!region_allowed(CallAs::DelegatedAdmin, r), "{r:?}");
        }
    }

    #[test]
    fn the_list_has_no_duplicates_and_its_opt_in_regions_are_in_it() {
        let mut sorted = DELEGATED_ADMIN_REGIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), DELEGATED_ADMIN_REGIONS.len());
        for r in OPT_IN_REGIONS {
            assert!(DELEGATED_ADMIN_REGIONS.contains(&r), "{r}");
            assert!(is_opt_in(r));
        }
        assert!(!is_opt_in("us-east-2"));
    }
}
