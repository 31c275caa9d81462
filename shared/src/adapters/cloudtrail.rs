//! CloudTrail, read-only: the trails that record events in a region, with their logging status
//! and event selectors (for `doctor`'s check that AWS Organizations' API-call events can reach
//! EventBridge).

use aws_config::Region;

use crate::ports::{
    AdvancedSelector, AwsResult, CloudTrailApi, EventSelector, FieldSelector, Trail, TrailSelectors,
};

use super::errors::classify;
use super::retry::{retrying, RetryPolicy};

pub struct SdkCloudTrail {
    conf: aws_config::SdkConfig,
    retry: RetryPolicy,
}

impl SdkCloudTrail {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            conf: conf.clone(),
            retry: RetryPolicy::default(),
        }
    }

    /// A client for `region`, whatever region the configuration names (the endpoint, the
    /// credentials and the retry settings stay).
    fn client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf = aws_sdk_cloudtrail::config::Builder::from(&self.conf)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
    }
}

impl CloudTrailApi for SdkCloudTrail {
    async fn trails(&self, region: &str) -> AwsResult<Vec<Trail>> {
        let client = self.client(region);
        let list = retrying(self.retry, "DescribeTrails", || async {
            client
                .describe_trails()
                .include_shadow_trails(true)
                .send()
                .await
                .map_err(|e| classify("cloudtrail", "DescribeTrails", e))
        })
        .await?;
        let mut out = Vec::new();
        for t in list.trail_list() {
            let name = t.name().unwrap_or_default().to_owned();
            let arn = t.trail_arn().unwrap_or(&name).to_owned();
            let home_region = t.home_region().unwrap_or(region).to_owned();
            // Status and selectors of a shadow trail are the home region's: ask there, by ARN.
            let home = self.client(&home_region);
            let status = retrying(self.retry, "GetTrailStatus", || async {
                home.get_trail_status()
                    .name(&arn)
                    .send()
                    .await
                    .map_err(|e| classify("cloudtrail", "GetTrailStatus", e))
            })
            .await?;
            // Asked even without custom selectors: AWS then answers the default one.
            let got = retrying(self.retry, "GetEventSelectors", || async {
                home.get_event_selectors()
                    .trail_name(&arn)
                    .send()
                    .await
                    .map_err(|e| classify("cloudtrail", "GetEventSelectors", e))
            })
            .await?;
            let selectors = selectors(got.event_selectors(), got.advanced_event_selectors());
            out.push(Trail {
                name,
                arn,
                home_region,
                multi_region: t.is_multi_region_trail().unwrap_or(false),
                organization_trail: t.is_organization_trail().unwrap_or(false),
                logging: status.is_logging().unwrap_or(false),
                selectors,
            });
        }
        Ok(out)
    }
}

fn selectors(
    classic: &[aws_sdk_cloudtrail::types::EventSelector],
    advanced: &[aws_sdk_cloudtrail::types::AdvancedEventSelector],
) -> TrailSelectors {
    if !advanced.is_empty() {
        return TrailSelectors::Advanced(
            advanced
                .iter()
                .map(|a| AdvancedSelector {
                    fields: a
                        .field_selectors()
                        .iter()
                        .map(|f| FieldSelector {
                            field: f.field().to_owned(),
                            equals: f.equals().to_vec(),
                            not_equals: f.not_equals().to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        );
    }
    if !classic.is_empty() {
        // CloudTrail's defaults: IncludeManagementEvents true, ReadWriteType All.
        return TrailSelectors::Classic(
            classic
                .iter()
                .map(|e| EventSelector {
                    include_management_events: e.include_management_events().unwrap_or(true),
                    read_write_type: e
                        .read_write_type()
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_else(|| "All".into()),
                })
                .collect(),
        );
    }
    TrailSelectors::Default
}
