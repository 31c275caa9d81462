//! The Organizations adapter's `tags_of` (`ListTagsForResource` with an account ID as
//! `ResourceId`) against the test bed's organization. For an account that is not in the
//! organization AWS answers `TargetNotFoundException` (AWS Organizations API Reference,
//! ListTagsForResource, Errors), as the test bed does (`tests/emulator/test_fidelity.py`), and
//! the adapter turns it into `NotFound`.

use aws_sdk_organizations::types::Tag;
use shared::adapters::SdkOrganizations;
use shared::core::AccountId;
use shared::ports::{AwsError, OrganizationsApi};

#[tokio::test]
async fn an_accounts_tags_are_read_by_its_id_and_an_untagged_account_has_none() {
    let bed = e2e::TestBed::start().await;
    let f = bed.sample().await;
    let conf = bed.sdk_config().await;
    let tagged = f.account("prod-web");
    let untagged = f.account("prod-eu-1");
    aws_sdk_organizations::Client::new(&conf)
        .tag_resource()
        .resource_id(&tagged)
        .tags(Tag::builder().key("env").value("prod").build().unwrap())
        .tags(
            Tag::builder()
                .key("port:exclude")
                .value("")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("TagResource");
    let org = SdkOrganizations::new(&conf);
    let tags = org
        .tags_of(&AccountId::parse(&tagged).unwrap())
        .await
        .expect("ListTagsForResource");
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert_eq!(tags["env"], "prod");
    assert_eq!(tags["port:exclude"], "");
    let none = org
        .tags_of(&AccountId::parse(&untagged).unwrap())
        .await
        .expect("ListTagsForResource");
    assert!(none.is_empty(), "{none:?}");
    let outside = org
        .tags_of(&AccountId::parse("999999999999").unwrap())
        .await
        .expect_err("not in the organization");
    assert!(matches!(outside, AwsError::NotFound { .. }), "{outside:?}");
}
