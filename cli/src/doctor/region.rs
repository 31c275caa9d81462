//! The region the stack runs in, against the deployment mode.

use shared::core::regions::{enable_region_command, is_opt_in};
use shared::core::{region_allowed, CallAs, DELEGATED_ADMIN_REGIONS};
use shared::doctor::{check, Check, Status};

use super::checks::*;

/// The `CallAs` the facts decide (the caller, the management account, the registration),
/// without the declared `ManagementAccountId`: the region rule follows where the stack runs.
/// `None` when the facts decide no mode (the deployment-mode check then FAILs and says why).
pub(super) fn facts_call_as(i: &Inputs<'_>) -> Option<CallAs> {
    i.mode.call_as()
}

pub(super) fn region(i: &Inputs<'_>) -> Check {
    region_check(i.region.as_deref(), facts_call_as(i))
}

/// The region check for a stack run in `region` in the mode `call_as` (`None`: undecided).
/// The management account: us-east-1 only, where Organizations' events reach EventBridge. A
/// delegated administrator: the regions where AWS lets one work, less GovCloud
/// ([`DELEGATED_ADMIN_REGIONS`], with its sources); the companion's rules forward the events
/// from us-east-1. The templates' rules refuse the same regions.
pub fn region_check(region: Option<&str>, call_as: Option<CallAs>) -> Check {
    const ID: &str = "region";
    const T: &str = "Region";
    let listed = DELEGATED_ADMIN_REGIONS.join(", ");
    let delegated_admin_regions = format!(
        "AWS lets a delegated administrator for CloudFormation StackSets work only in {listed} \
         (GovCloud left out: EventBridge cannot forward the management account's {EVENTS_REGION} \
         events there)"
    );
    let Some(r) = region else {
        let fix = match call_as {
            Some(CallAs::DelegatedAdmin) => format!(
                "export AWS_REGION=<the main stack's region>, one of {listed} (the companion's \
                 DelegatedAdminRegion)"
            ),
            _ => format!("export AWS_REGION={EVENTS_REGION}"),
        };
        return check(ID, Status::Fail, T, "no AWS region is configured".into()).fix(fix);
    };
    match call_as {
        // us-east-1 is right in both modes.
        Some(CallAs::Self_) | None if r == EVENTS_REGION => check(
            ID,
            Status::Pass,
            T,
            "us-east-1: AWS Organizations events (accounts joining or moving) reach the \
             stack's EventBridge rule here"
                .into(),
        ),
        Some(CallAs::Self_) => check(
            ID,
            Status::Fail,
            T,
            format!(
                "{r}: the template refuses regions other than us-east-1, because AWS \
                 Organizations events reach EventBridge only there and a stack in {r} would \
                 never see accounts join or move (the StackSet check below looks in {r})"
            ),
        )
        .fix(
            "Deploy the stack in us-east-1 and run doctor there: AWS_REGION=us-east-1 (IAM roles \
             are global: this does not limit the regions Port reads).",
        ),
        Some(CallAs::DelegatedAdmin) if region_allowed(CallAs::DelegatedAdmin, r) => {
            let here = format!(
                "{r}: a delegated administrator for CloudFormation StackSets may run the stack \
                 here; the companion stack's rules in the management account's {EVENTS_REGION} \
                 forward AWS Organizations events to this region's default event bus (set its \
                 DelegatedAdminRegion to {r})"
            );
            if !is_opt_in(r) {
                return check(ID, Status::Pass, T, here);
            }
            check(
                ID,
                Status::Warn,
                T,
                format!(
                    "{here}. {r} is an opt-in region (disabled by default): StackSets creates an \
                     instance only in an account where {r} is enabled, and only if the \
                     management account has it enabled too"
                ),
            )
            .fix(format!(
                "Enable {r} in the management account (`aws account enable-region \
                 --region-name {r}`, run there) and, from it, in every account in scope: `{}` \
                 (needs trusted access for AWS Account Management), or in each account's \
                 console: Account > AWS Regions.",
                enable_region_command(r)
            ))
        }
        Some(CallAs::DelegatedAdmin) => check(
            ID,
            Status::Fail,
            T,
            format!(
                "{r}: {delegated_admin_regions}; the template refuses {r} (the StackSet check \
                 below looks in {r})"
            ),
        )
        .fix(
            "Deploy the main stack in one of those regions, with the companion's \
             DelegatedAdminRegion set to the same one, and run doctor there: AWS_REGION=<region> \
             (IAM roles are global: this does not limit the regions Port reads).",
        ),
        None if region_allowed(CallAs::DelegatedAdmin, r) => check(
            ID,
            Status::Warn,
            T,
            format!(
                "{r}: only a stack deployed from a delegated administrator for CloudFormation \
                 StackSets may run here, and the Deployment mode check above found this account \
                 is neither that nor the management account; in the management account the \
                 stack runs in us-east-1 only"
            ),
        )
        .fix(
            "Run doctor from the account you deploy in: the management account with \
             AWS_REGION=us-east-1, or a registered delegated administrator.",
        ),
        None => check(
            ID,
            Status::Fail,
            T,
            format!(
                "{r}: the template refuses it in both modes: in the management account the \
                 stack runs in us-east-1 only (AWS Organizations events reach EventBridge only \
                 there); from a delegated administrator, {delegated_admin_regions}"
            ),
        )
        .fix(
            "Deploy the stack in us-east-1 and run doctor there: AWS_REGION=us-east-1 (IAM roles \
             are global: this does not limit the regions Port reads).",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_the_management_account_only_us_east_1_passes() {
        let c = region_check(Some("us-east-1"), Some(CallAs::Self_));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        let c = region_check(Some("us-east-2"), Some(CallAs::Self_));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("only there"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("AWS_REGION=us-east-1"));
    }

    #[test]
    fn a_delegated_administrator_in_us_east_2_passes_and_is_told_to_forward_there() {
        let c = region_check(Some("us-east-2"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(
            c.detail.starts_with(
                "us-east-2: a delegated administrator for CloudFormation StackSets may run the \
                 stack here"
            ),
            "{}",
            c.detail
        );
        assert!(
            c.detail
                .contains("set its DelegatedAdminRegion to us-east-2"),
            "{}",
            c.detail
        );
        assert_eq!(c.fix, None);
        // Every listed region but the opt-in one passes the same way.
        for r in DELEGATED_ADMIN_REGIONS.iter().filter(|r| !is_opt_in(r)) {
            let c = region_check(Some(r), Some(CallAs::DelegatedAdmin));
            assert_eq!(c.status, Status::Pass, "{r}: {c:?}");
        }
    }

    #[test]
    fn a_delegated_administrator_in_eu_south_1_fails_naming_the_regions_it_may_use() {
        let c = region_check(Some("eu-south-1"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.starts_with("eu-south-1: "), "{}", c.detail);
        assert!(
            c.detail.contains(&DELEGATED_ADMIN_REGIONS.join(", ")),
            "{}",
            c.detail
        );
        assert!(c.detail.contains("the template refuses eu-south-1"));
        let fix = c.fix.unwrap();
        assert!(fix.contains("DelegatedAdminRegion"), "{fix}");
        assert!(fix.contains("AWS_REGION=<region>"), "{fix}");
        // GovCloud is in AWS's StackSets list but out here, and says why.
        let c = region_check(Some("us-gov-west-1"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("GovCloud left out"), "{}", c.detail);
    }

    #[test]
    fn an_opt_in_region_warns_that_every_account_in_scope_must_enable_it() {
        let c = region_check(Some("il-central-1"), Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.detail.contains("il-central-1 is an opt-in region"),
            "{}",
            c.detail
        );
        let fix = c.fix.unwrap();
        assert!(fix.contains("every account in scope"), "{fix}");
        assert!(
            fix.contains(
                "`aws account enable-region --region-name il-central-1 --account-id <account ID>`"
            ),
            "{fix}"
        );
    }

    #[test]
    fn an_undecided_mode_passes_only_us_east_1_and_fails_regions_neither_mode_allows() {
        assert_eq!(region_check(Some("us-east-1"), None).status, Status::Pass);
        let c = region_check(Some("us-east-2"), None);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c
            .detail
            .contains("only a stack deployed from a delegated administrator"));
        let c = region_check(Some("eu-south-1"), None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("us-east-1 only"), "{}", c.detail);
        assert!(c.detail.contains(&DELEGATED_ADMIN_REGIONS.join(", ")));
    }

    #[test]
    fn no_region_fails_with_the_fix_of_the_mode() {
        let c = region_check(None, Some(CallAs::Self_));
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.fix.as_deref(), Some("export AWS_REGION=us-east-1"));
        let c = region_check(None, Some(CallAs::DelegatedAdmin));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("us-east-2, us-west-1"));
    }
}
