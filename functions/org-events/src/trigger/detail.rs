//! The typed details: each kind of event declares only the fields it uses, each read
//! leniently (a field of an unexpected shape counts as absent), so an unrelated field never
//! rejects an event.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What every CloudTrail-delivered detail says about itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Head {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) event_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) error_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub(super) event_time: Option<DateTime<Utc>>,
}

/// `MoveAccount`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MoveAccount {
    pub(super) request_parameters: MoveAccountParameters,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MoveAccountParameters {
    pub(super) account_id: String,
    pub(super) source_parent_id: String,
    pub(super) destination_parent_id: String,
}

/// `RemoveAccountFromOrganization`, `CloseAccount`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountCall {
    pub(super) request_parameters: AccountParameter,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountParameter {
    pub(super) account_id: String,
}

/// `TagResource` (`resourceId`, `tags`) / `UntagResource` (`resourceId`, `tagKeys`): only
/// the resource is read; which tags changed does not matter, the account's tags are read as
/// they are now.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagCall {
    pub(super) request_parameters: TagParameters,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagParameters {
    pub(super) resource_id: String,
}

/// `CreateOrganizationalUnit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOu {
    #[serde(default)]
    pub(super) request_parameters: Option<CreateOuParameters>,
    #[serde(default)]
    pub(super) response_elements: Option<CreateOuResponse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOuParameters {
    #[serde(default)]
    pub(super) parent_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOuResponse {
    #[serde(default)]
    pub(super) organizational_unit: Option<OuRef>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OuRef {
    #[serde(default)]
    pub(super) id: Option<String>,
}

/// `DeleteOrganizationalUnit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeleteOu {
    pub(super) request_parameters: DeleteOuParameters,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeleteOuParameters {
    pub(super) organizational_unit_id: String,
}

/// `CreateAccountResult` (service event).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateAccountResult {
    pub(super) service_event_details: CreateAccountDetails,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateAccountDetails {
    pub(super) create_account_status: CreateAccountStatus,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateAccountStatus {
    #[serde(default)]
    pub(super) state: Option<String>,
    #[serde(default)]
    pub(super) account_id: Option<String>,
    #[serde(default)]
    pub(super) failure_reason: Option<String>,
}

/// `AccountJoinedOrganization` / `AccountDepartedOrganization`: AWS documents `joinedMethod`
/// / `joinedTime` and `departedMethod` / `departedTime`, logged in the management account, but
/// not where the member's account ID sits; every place it plausibly does is read, leniently.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Membership {
    #[serde(default, deserialize_with = "lenient")]
    pub(super) service_event_details: Option<MembershipDetails>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) additional_event_data: Option<MembershipDetails>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) request_parameters: Option<MembershipDetails>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) resources: Option<Vec<ResourceRef>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MembershipDetails {
    #[serde(
        default,
        alias = "memberAccountId",
        deserialize_with = "lenient_string"
    )]
    pub(super) account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub(super) account: Option<AccountRef>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) joined_method: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) departed_method: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountRef {
    #[serde(default, alias = "id", deserialize_with = "lenient_string")]
    pub(super) account_id: Option<String>,
}

/// CloudTrail's `resources` entries (`{"ARN": ..., "accountId": ..., "type": ...}`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ResourceRef {
    #[serde(default, rename = "ARN", deserialize_with = "lenient_string")]
    pub(super) arn: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    pub(super) kind: Option<String>,
}

/// Control Tower `CreateManagedAccount` / `UpdateManagedAccount`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ControlTower {
    pub(super) service_event_details: ControlTowerDetails,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ControlTowerDetails {
    #[serde(default)]
    pub(super) create_managed_account_status: Option<ManagedAccountStatus>,
    #[serde(default)]
    pub(super) update_managed_account_status: Option<ManagedAccountStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManagedAccountStatus {
    #[serde(default)]
    pub(super) state: Option<String>,
    #[serde(default)]
    pub(super) account: Option<ManagedAccount>,
    #[serde(default)]
    pub(super) organizational_unit: Option<ManagedOu>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManagedAccount {
    #[serde(default)]
    pub(super) account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManagedOu {
    #[serde(default)]
    pub(super) organizational_unit_id: Option<String>,
}

/// A field that is read only if it has the expected shape.
pub(super) fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

pub(super) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient::<D, String>(d)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

/// A time that is not RFC 3339 counts as absent: it only tunes coalescing.
pub(super) fn lenient_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(lenient_string(d)?.and_then(|s| {
        DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }))
}
