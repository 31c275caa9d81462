//! The trail that records AWS Organizations' management events in us-east-1: what the
//! org-events function's rules need.

use shared::doctor::{check, Check, Status};
use shared::ports::{AdvancedSelector, FieldSelector, Trail, TrailSelectors};

use super::checks::*;

/// Whether these selectors record management write events, from every event source that
/// AWS Organizations uses (`organizations.amazonaws.com`).
pub fn records_management_writes(s: &TrailSelectors) -> bool {
    match s {
        TrailSelectors::Default => true,
        TrailSelectors::Classic(sel) => sel.iter().any(|e| {
            e.include_management_events && matches!(e.read_write_type.as_str(), "All" | "WriteOnly")
        }),
        TrailSelectors::Advanced(sel) => sel.iter().any(advanced_records_management_writes),
    }
}

pub(super) fn advanced_records_management_writes(s: &AdvancedSelector) -> bool {
    let field = |name: &'static str| s.fields.iter().filter(move |f| f.field == name);
    let management = field("eventCategory").any(|f| f.equals.iter().any(|v| v == "Management"))
        && field("eventCategory").all(|f| {
            (f.equals.is_empty() || f.equals.iter().any(|v| v == "Management"))
                && !f.not_equals.iter().any(|v| v == "Management")
        });
    // readOnly = true (or != false) keeps only read events.
    let is = |v: &String, b: &str| v.eq_ignore_ascii_case(b);
    let only_reads = |f: &FieldSelector| {
        (!f.equals.is_empty() && f.equals.iter().all(|v| is(v, "true")))
            || f.not_equals.iter().any(|v| is(v, "false"))
    };
    let writes = !field("readOnly").any(only_reads);
    const SOURCE: &str = "organizations.amazonaws.com";
    let source = field("eventSource").all(|f| {
        (f.equals.is_empty() || f.equals.iter().any(|v| v == SOURCE))
            && !f.not_equals.iter().any(|v| v == SOURCE)
    });
    management && writes && source
}

/// Whether AWS Organizations' API-call events reach EventBridge: a logging trail that records
/// management write events in us-east-1.
pub(super) fn cloudtrail(trails: &Result<Vec<Trail>, String>) -> Check {
    const T: &str = "CloudTrail";
    const ID: &str = "cloudtrail";
    const CREATE: &str = "in us-east-1, `aws cloudtrail create-trail --name org-trail \
                          --s3-bucket-name <bucket> --is-multi-region-trail`, then `aws \
                          cloudtrail start-logging --name org-trail` (the bucket needs \
                          CloudTrail's bucket policy); or use an organization trail \
                          (`--is-organization-trail`)";
    const WITHOUT: &str = "AWS Organizations' API-call events (MoveAccount, \
                           RemoveAccountFromOrganization, CloseAccount, ...) never reach \
                           EventBridge: accounts that move, are removed or closed are enrolled or \
                           dropped only by the scheduled run (ReconcileSchedule, every 6 hours by \
                           default). New accounts (CreateAccountResult) still arrive at once: \
                           they need no trail";
    // Where AWS gives the management account no event at all, trail or not.
    const NO_EVENT: &str = " No event reaches this account when a member calls AcceptHandshake or \
                            LeaveOrganization itself (recorded in the member account; the stack \
                            acts on AccountJoinedOrganization / AccountDepartedOrganization \
                            instead), for Control Tower lifecycle events when Control Tower's \
                            home region is not us-east-1 (its CreateAccountResult and MoveAccount \
                            still arrive), or when an account's state changes without a call in \
                            this organization (AWS documents no Organizations event for that): \
                            the scheduled run covers these.";
    let trails = match trails {
        Ok(t) => t,
        Err(e) => {
            return check(
                ID,
                Status::Warn,
                T,
                format!(
                    "could not be checked ({e}): without a trail logging management events in \
                     {EVENTS_REGION}, {WITHOUT}.{NO_EVENT}"
                ),
            )
            .fix(format!(
                "Allow cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and \
                 cloudtrail:GetEventSelectors, or check by hand: aws cloudtrail describe-trails \
                 --region {EVENTS_REGION}. If there is none: {CREATE}"
            ))
        }
    };
    let covering: Vec<&Trail> = trails
        .iter()
        .filter(|t| t.multi_region || t.home_region == EVENTS_REGION)
        .collect();
    let describe = |t: &Trail| {
        if t.organization_trail {
            "organization trail"
        } else if t.multi_region {
            "multi-region"
        } else {
            "home region us-east-1"
        }
    };
    let good: Vec<&&Trail> = covering
        .iter()
        .filter(|t| t.logging && records_management_writes(&t.selectors))
        .collect();
    if let Some(t) = good.first() {
        let more = match good.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return check(
            ID,
            Status::Pass,
            T,
            format!(
                "trail {} ({}, logging){more} records management write events in \
                 {EVENTS_REGION}: accounts that move, are removed or closed reach the \
                 stack's EventBridge rule within minutes.{NO_EVENT}",
                t.name,
                describe(t)
            ),
        );
    }
    if covering.is_empty() {
        return check(
            ID,
            Status::Warn,
            T,
            format!("no trail logs management events in {EVENTS_REGION}, so {WITHOUT}.{NO_EVENT}"),
        )
        .fix(format!("Create a multi-region trail: {CREATE}"));
    }
    let why: Vec<String> = covering
        .iter()
        .map(|t| {
            let records = records_management_writes(&t.selectors);
            match (t.logging, records) {
                (false, true) => format!("trail {} is not logging", t.name),
                (false, false) => format!(
                    "trail {} is not logging and its event selectors leave out management \
                     write events",
                    t.name
                ),
                _ => format!(
                    "trail {}'s event selectors leave out management write events",
                    t.name
                ),
            }
        })
        .collect();
    let fix = match covering
        .iter()
        .find(|t| !t.logging && records_management_writes(&t.selectors))
    {
        Some(t) => format!(
            "aws cloudtrail start-logging --name {} --region {}   (or create a multi-region \
             trail: {CREATE})",
            t.name, t.home_region
        ),
        None => format!(
            "Record management events with ReadWriteType All or WriteOnly (aws cloudtrail \
             put-event-selectors), or create a multi-region trail: {CREATE}"
        ),
    };
    check(
        ID,
        Status::Warn,
        T,
        format!("{}, so {WITHOUT}.{NO_EVENT}", why.join("; ")),
    )
    .fix(fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ports::EventSelector;

    fn trail(name: &str, multi_region: bool, logging: bool, selectors: TrailSelectors) -> Trail {
        Trail {
            name: name.into(),
            arn: format!("arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}"),
            home_region: "us-east-1".into(),
            multi_region,
            organization_trail: false,
            logging,
            selectors,
        }
    }

    fn classic(include: bool, rw: &str) -> TrailSelectors {
        TrailSelectors::Classic(vec![EventSelector {
            include_management_events: include,
            read_write_type: rw.into(),
        }])
    }

    fn advanced(fields: &[(&str, &[&str], &[&str])]) -> TrailSelectors {
        TrailSelectors::Advanced(vec![AdvancedSelector {
            fields: fields
                .iter()
                .map(|(f, eq, ne)| FieldSelector {
                    field: (*f).into(),
                    equals: eq.iter().map(|s| (*s).to_owned()).collect(),
                    not_equals: ne.iter().map(|s| (*s).to_owned()).collect(),
                })
                .collect(),
        }])
    }

    #[test]
    fn a_logging_multi_region_trail_passes() {
        let c = cloudtrail(&Ok(vec![trail(
            "org-trail",
            true,
            true,
            TrailSelectors::Default,
        )]));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(
            c.detail.contains("org-trail (multi-region, logging)"),
            "{c:?}"
        );
        assert!(c.fix.is_none());
        // Even with a trail, some changes send the management account no event at all.
        for gap in [
            "AcceptHandshake or LeaveOrganization itself (recorded in the member account",
            "Control Tower's home region is not us-east-1",
            "the scheduled run covers these",
        ] {
            assert!(c.detail.contains(gap), "{gap}: {c:?}");
        }
        // A single-region trail whose home is us-east-1 counts too; one elsewhere does not.
        let c = cloudtrail(&Ok(vec![trail(
            "local",
            false,
            true,
            classic(true, "WriteOnly"),
        )]));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        let mut elsewhere = trail("eu", false, true, TrailSelectors::Default);
        elsewhere.home_region = "eu-west-1".into();
        assert_eq!(cloudtrail(&Ok(vec![elsewhere])).status, Status::Warn);
    }

    #[test]
    fn no_trail_warns_with_the_consequence_and_the_fix() {
        let c = cloudtrail(&Ok(vec![]));
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .detail
            .contains("no trail logs management events in us-east-1"));
        assert!(c.detail.contains("every 6 hours by default"), "{c:?}");
        assert!(
            c.detail
                .contains("(CreateAccountResult) still arrive at once"),
            "{c:?}"
        );
        let fix = c.fix.unwrap();
        assert!(fix.contains(
            "`aws cloudtrail create-trail --name org-trail --s3-bucket-name <bucket> \
             --is-multi-region-trail`, then `aws cloudtrail start-logging --name org-trail`"
        ));
        assert!(fix.contains("organization trail"));
    }

    #[test]
    fn a_stopped_trail_warns_and_names_start_logging() {
        let mut t = trail("audit", true, false, TrailSelectors::Default);
        t.home_region = "eu-west-1".into();
        let c = cloudtrail(&Ok(vec![t]));
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("trail audit is not logging"), "{c:?}");
        assert!(c
            .fix
            .unwrap()
            .starts_with("aws cloudtrail start-logging --name audit --region eu-west-1"));
    }

    #[test]
    fn selectors_without_management_writes_warn() {
        for s in [
            classic(false, "All"),
            classic(true, "ReadOnly"),
            advanced(&[("eventCategory", &["Data"], &[])]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("readOnly", &["true"], &[]),
            ]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("eventSource", &[], &["organizations.amazonaws.com"]),
            ]),
        ] {
            let c = cloudtrail(&Ok(vec![trail("t1", true, true, s.clone())]));
            assert_eq!(c.status, Status::Warn, "{s:?}");
            assert!(
                c.detail.contains("leave out management write events"),
                "{c:?}"
            );
            assert!(c.fix.unwrap().contains("put-event-selectors"));
        }
    }

    #[test]
    fn selectors_with_management_writes_pass() {
        for s in [
            TrailSelectors::Default,
            classic(true, "All"),
            classic(true, "WriteOnly"),
            advanced(&[("eventCategory", &["Management"], &[])]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("readOnly", &["false"], &[]),
            ]),
            advanced(&[
                ("eventCategory", &["Management"], &[]),
                ("eventSource", &[], &["kms.amazonaws.com"]),
            ]),
        ] {
            assert!(records_management_writes(&s), "{s:?}");
            let c = cloudtrail(&Ok(vec![trail("t1", true, true, s.clone())]));
            assert_eq!(c.status, Status::Pass, "{s:?}");
        }
        // One good trail among bad ones is enough.
        let c = cloudtrail(&Ok(vec![
            trail("bad", true, true, classic(true, "ReadOnly")),
            trail("good", false, true, TrailSelectors::Default),
            trail("also", true, true, TrailSelectors::Default),
        ]));
        assert_eq!(c.status, Status::Pass);
        assert!(c
            .detail
            .contains("trail good (home region us-east-1, logging) (and 1 more)"));
    }

    #[test]
    fn access_denied_warns_that_it_could_not_be_checked() {
        let c = cloudtrail(&Err(
            "access denied: not authorized to cloudtrail:DescribeTrails".into(),
        ));
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.detail.starts_with("could not be checked (access denied"),
            "{c:?}"
        );
        assert!(c.fix.unwrap().contains("cloudtrail:DescribeTrails"));
    }
}
