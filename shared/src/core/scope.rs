//! `Scope`: target OUs + AccountScope mode + account list, parsed and validated.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::ScopeError;
use super::ids::{shown, AccountId, TargetId};
use super::tags::TagFilter;

/// The most IDs one list may hold. Listing more than this is a sign the user wants an OU.
pub const MAX_LISTED_IDS: usize = 1000;
/// The longest raw value accepted for one field (bytes).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// How the account list filters the accounts under the target OUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccountScope {
    All,
    Intersection,
    Difference,
}

impl FromStr for AccountScope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ALL" => Ok(Self::All),
            "INTERSECTION" => Ok(Self::Intersection),
            "DIFFERENCE" => Ok(Self::Difference),
            _ => Err(ScopeError::BadAccountScope { value: shown(s) }),
        }
    }
}

impl fmt::Display for AccountScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::All => "ALL",
            Self::Intersection => "INTERSECTION",
            Self::Difference => "DIFFERENCE",
        })
    }
}

/// What happens to an account's stack instance when the account leaves the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LeavePolicy {
    #[default]
    Delete,
    Retain,
}

impl FromStr for LeavePolicy {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "" | "DELETE" => Ok(Self::Delete),
            "RETAIN" => Ok(Self::Retain),
            _ => Err(ScopeError::BadLeavePolicy { value: shown(s) }),
        }
    }
}

/// A raw list as CloudFormation, an environment variable or a flag gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawList {
    Text(String),
    Items(Vec<String>),
}

impl RawList {
    /// From a CloudFormation property value: a string or a list of strings.
    pub fn from_json(field: &'static str, v: &serde_json::Value) -> Result<Self, ScopeError> {
        match v {
            serde_json::Value::Null => Ok(Self::Text(String::new())),
            serde_json::Value::String(s) => Ok(Self::Text(s.clone())),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    other => Err(ScopeError::WrongType {
                        field,
                        got: kind(field, other).into(),
                    }),
                })
                .collect::<Result<_, _>>()
                .map(Self::Items),
            other => Err(ScopeError::WrongType {
                field,
                got: kind(field, other).into(),
            }),
        }
    }

    /// The trimmed, non-empty tokens: commas and newlines separate; spaces around them and
    /// trailing commas are fine.
    pub fn tokens(
        &self,
        field: &'static str,
        example: &'static str,
    ) -> Result<Vec<String>, ScopeError> {
        let pieces: Vec<&str> = match self {
            Self::Text(s) => {
                check_len(field, s)?;
                let t = s.trim();
                if t.starts_with('[') && t.ends_with(']') {
                    return Err(ScopeError::JsonArrayString {
                        field,
                        token: shown(t),
                        example,
                    });
                }
                s.split([',', '\n', '\r']).collect()
            }
            Self::Items(items) => {
                let mut v = Vec::new();
                for i in items {
                    check_len(field, i)?;
                    v.extend(i.split([',', '\n', '\r']));
                }
                v
            }
        };
        let tokens: Vec<String> = pieces
            .into_iter()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if tokens.len() > MAX_LISTED_IDS {
            return Err(ScopeError::TooManyIds {
                field,
                count: tokens.len(),
                max: MAX_LISTED_IDS,
            });
        }
        Ok(tokens)
    }
}

impl From<&str> for RawList {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

fn check_len(field: &'static str, s: &str) -> Result<(), ScopeError> {
    if s.len() > MAX_VALUE_BYTES {
        return Err(ScopeError::ValueTooLong {
            field,
            len: s.len(),
            max: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// What a JSON value is, in words; for account IDs, a number gets the leading-zero warning.
pub fn kind(field: &str, v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) if field == "TargetAccountIds" => {
            "a number (quote account IDs so that leading zeros are kept)"
        }
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Which accounts Port's role should reach: validated, deduplicated, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub targets: BTreeSet<TargetId>,
    pub mode: AccountScope,
    pub accounts: BTreeSet<AccountId>,
    /// `TargetAccountTags` / `ExcludedAccountTags`: they narrow the accounts the target OUs
    /// give, before the mode and the listed accounts apply. Default: no filter, no tag read.
    /// Absent from JSON written before tags existed, and not written when unset.
    #[serde(default, skip_serializing_if = "no_tag_filter")]
    pub tags: TagFilter,
}

fn no_tag_filter(t: &TagFilter) -> bool {
    !t.is_set()
}

impl Scope {
    /// Parses the three user inputs. Nothing is read from AWS here.
    pub fn parse(ous: &RawList, mode: &str, accounts: &RawList) -> Result<Self, ScopeError> {
        let targets = ous
            .tokens("TargetOUIds", "ou-abcd-12345678,ou-efgh-87654321")?
            .iter()
            .map(|t| TargetId::parse(t))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if targets.is_empty() {
            return Err(ScopeError::NoTargets);
        }
        let mode: AccountScope = mode.parse()?;
        let accounts = accounts
            .tokens("TargetAccountIds", "123456789012,098765432109")?
            .iter()
            .map(|t| AccountId::parse(t))
            .collect::<Result<BTreeSet<_>, _>>()?;
        match (mode, accounts.len()) {
            (AccountScope::Intersection, 0) => return Err(ScopeError::IntersectionWithoutAccounts),
            (AccountScope::Difference, 0) => return Err(ScopeError::DifferenceWithoutAccounts),
            (AccountScope::All, n) if n > 0 => {
                return Err(ScopeError::AccountsWithAll { count: n })
            }
            _ => {}
        }
        Ok(Self {
            targets,
            mode,
            accounts,
            tags: TagFilter::default(),
        })
    }

    /// This scope, narrowed by `tags` (parsed with [`TagFilter::parse`]).
    pub fn with_tags(self, tags: TagFilter) -> Self {
        Self { tags, ..self }
    }

    /// This scope, narrowed by the raw `TargetAccountTags` and `ExcludedAccountTags` values:
    /// the one entry point the custom resource, org-events and the CLI parse them through, so
    /// a bad term gets the same message everywhere. Blank values: no filter.
    pub fn with_tag_parameters(self, target: &str, excluded: &str) -> Result<Self, ScopeError> {
        Ok(self.with_tags(tag_parameters(target, excluded)?))
    }
}

/// The raw `TargetAccountTags` and `ExcludedAccountTags` values, parsed as
/// [`Scope::with_tag_parameters`] parses them, for a check that has no scope (the custom
/// resource's preflight): the same message for a bad term.
pub fn tag_parameters(target: &str, excluded: &str) -> Result<TagFilter, ScopeError> {
    for (field, raw) in [
        ("TargetAccountTags", target),
        ("ExcludedAccountTags", excluded),
    ] {
        check_len(field, raw)?;
    }
    Ok(TagFilter::parse(target, excluded)?)
}

/// What the account filter (the mode and the listed accounts) says of one account under a
/// target. The one place this rule lives: the expansion and org-events' cheap pre-check both
/// ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filtered {
    /// Selected: ALL, listed under INTERSECTION, or not listed under DIFFERENCE.
    Selected,
    /// INTERSECTION, and the account is not in TargetAccountIds.
    NotListed,
    /// DIFFERENCE, and the account is in TargetAccountIds.
    ExcludedByList,
}

impl Scope {
    /// The account filter applied to `account` (which is assumed to be under a target).
    pub fn filter(&self, account: &AccountId) -> Filtered {
        let listed = self.accounts.contains(account);
        match (self.mode, listed) {
            (AccountScope::Intersection, false) => Filtered::NotListed,
            (AccountScope::Difference, true) => Filtered::ExcludedByList,
            _ => Filtered::Selected,
        }
    }
}

/// A StackSet name: `^[a-zA-Z][-a-zA-Z0-9]*$`, at most 128 characters.
pub fn parse_stack_set_name(s: &str) -> Result<String, ScopeError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ScopeError::Missing {
            field: "StackSetName",
            help: "Give the name of the StackSet that holds Port's role (default: \
                   Port-Integration-v3).",
        });
    }
    let ok = t.len() <= 128
        && t.as_bytes()[0].is_ascii_alphabetic()
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(t.to_owned())
    } else {
        Err(ScopeError::BadStackSetName { value: shown(s) })
    }
}

/// Region names such as `us-east-1`; an empty list means `default`.
pub fn parse_regions(raw: &RawList, default: &str) -> Result<BTreeSet<String>, ScopeError> {
    let mut out = BTreeSet::new();
    for t in raw.tokens("Regions", "us-east-1,eu-west-1")? {
        if !is_region(&t) {
            return Err(ScopeError::BadRegion {
                field: "Regions",
                value: shown(&t),
            });
        }
        out.insert(t);
    }
    if out.is_empty() {
        if !is_region(default) {
            return Err(ScopeError::BadRegion {
                field: "AWS_REGION",
                value: shown(default),
            });
        }
        out.insert(default.to_owned());
    }
    Ok(out)
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(ous: &str, mode: &str, accts: &str) -> Result<Scope, ScopeError> {
        Scope::parse(&ous.into(), mode, &accts.into())
    }

    #[test]
    fn the_account_filter_selects_by_mode_and_list() {
        let a = AccountId::parse("111111111111").unwrap();
        let b = AccountId::parse("222222222222").unwrap();
        let all = scope("r-abcd", "ALL", "").unwrap();
        assert_eq!(all.filter(&a), Filtered::Selected);
        let inter = scope("r-abcd", "INTERSECTION", "111111111111").unwrap();
        assert_eq!(inter.filter(&a), Filtered::Selected);
        assert_eq!(inter.filter(&b), Filtered::NotListed);
        let diff = scope("r-abcd", "DIFFERENCE", "111111111111").unwrap();
        assert_eq!(diff.filter(&a), Filtered::ExcludedByList);
        assert_eq!(diff.filter(&b), Filtered::Selected);
    }

    #[test]
    fn accepts_spaces_newlines_trailing_commas_and_duplicates() {
        let s = scope(
            " ou-abcd-12345678 ,\nou-abcd-12345678,, r-ab12 ,",
            "difference",
            "012345678901, 012345678901,\n123456789012,",
        )
        .unwrap();
        assert_eq!(s.targets.len(), 2);
        assert_eq!(s.mode, AccountScope::Difference);
        let ids: Vec<&str> = s.accounts.iter().map(AccountId::as_str).collect();
        assert_eq!(ids, ["012345678901", "123456789012"]);
    }

    #[test]
    fn list_form_is_the_same_as_text_form() {
        let a = Scope::parse(
            &RawList::Items(vec!["ou-abcd-12345678".into(), "r-ab12".into()]),
            "DIFFERENCE",
            &RawList::Items(vec!["123456789012".into()]),
        )
        .unwrap();
        assert_eq!(
            a,
            scope("r-ab12,ou-abcd-12345678", "difference", "123456789012").unwrap()
        );
    }

    #[test]
    fn leading_zero_account_is_kept() {
        let s = scope("r-ab12", "INTERSECTION", "000000000001").unwrap();
        assert_eq!(s.accounts.first().unwrap().as_str(), "000000000001");
    }

    #[test]
    fn bad_account_tokens_are_named_with_the_fix() {
        for (tok, hint) in [
            ("12345678901", "11 digits"),
            ("1234567890123", "13 digits"),
            ("1.23457E+11", "scientific notation"),
            ("+123456789012", "no sign"),
            ("12345678901a", "exactly 12 digits"),
            ("ou-abcd-12345678", "TargetOUIds"),
        ] {
            let e = scope("r-ab12", "DIFFERENCE", tok).unwrap_err().to_string();
            assert!(e.contains(&format!("`{tok}`")), "{e}");
            assert!(e.contains(hint), "{tok}: {e}");
            assert!(e.contains("123456789012"), "{e}");
        }
    }

    #[test]
    fn bad_ou_tokens_are_named_with_the_fix() {
        for (tok, hint) in [
            ("ou-ABCD-12345678", "lowercase"),
            ("\"ou-abcd-12345678\"", "quotes"),
            ("ou-abcd-12345678 ou-efgh-87654321", "commas"),
            ("ou-abcd-12345678;ou-efgh-87654321", "commas"),
            ("o-abcdefghij", "root ID"),
            ("123456789012", "TargetAccountIds"),
            ("Prod", "ou-abcd-12345678"),
        ] {
            let e = scope(tok, "ALL", "").unwrap_err().to_string();
            assert!(e.contains(hint), "{tok}: {e}");
            assert!(e.contains("ou-abcd-12345678"), "{e}");
        }
    }

    #[test]
    fn json_array_given_as_a_string_is_explained() {
        let e = scope("[\"ou-abcd-12345678\"]", "ALL", "").unwrap_err();
        assert!(matches!(e, ScopeError::JsonArrayString { .. }));
        assert!(e.to_string().contains("comma-separated"));
    }

    #[test]
    fn unknown_scope_lists_the_three_values_with_meanings() {
        let e = scope("r-ab12", "SOME", "").unwrap_err().to_string();
        for w in ["`SOME`", "ALL:", "INTERSECTION:", "DIFFERENCE:"] {
            assert!(e.contains(w), "{e}");
        }
    }

    #[test]
    fn intersection_without_accounts_is_an_error_that_explains_why() {
        let e = scope("r-ab12", "INTERSECTION", " , ").unwrap_err();
        assert_eq!(e, ScopeError::IntersectionWithoutAccounts);
        assert!(e.to_string().contains("nothing would be deployed"));
    }

    #[test]
    fn difference_without_accounts_and_all_with_accounts_are_explained() {
        let e = scope("r-ab12", "DIFFERENCE", "").unwrap_err();
        assert_eq!(e, ScopeError::DifferenceWithoutAccounts);
        let e = scope("r-ab12", "ALL", "123456789012").unwrap_err();
        assert_eq!(e, ScopeError::AccountsWithAll { count: 1 });
        assert!(e.to_string().contains("would be ignored"));
    }

    #[test]
    fn empty_targets_are_an_error() {
        assert_eq!(scope(" \n", "ALL", "").unwrap_err(), ScopeError::NoTargets);
    }

    #[test]
    fn huge_values_are_rejected_before_parsing() {
        let big = "1".repeat(2 * MAX_VALUE_BYTES);
        assert!(matches!(
            scope("r-ab12", "DIFFERENCE", &big).unwrap_err(),
            ScopeError::ValueTooLong { .. }
        ));
        let many = (0..MAX_LISTED_IDS + 1)
            .map(|i| format!("{i:012}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(matches!(
            scope("r-ab12", "DIFFERENCE", &many).unwrap_err(),
            ScopeError::TooManyIds { count: 1001, .. }
        ));
    }

    #[test]
    fn stack_set_names_follow_cloudformation_rules() {
        assert_eq!(
            parse_stack_set_name(" Port-Integration-v3 ").unwrap(),
            "Port-Integration-v3"
        );
        for bad in ["1abc", "Port_Integration", "a b", ""] {
            assert!(parse_stack_set_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_scope_without_tags_is_written_as_before_and_old_json_still_reads() {
        let s = scope("r-ab12", "DIFFERENCE", "123456789012").unwrap();
        assert!(!s.tags.is_set());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"targets":["r-ab12"],"mode":"DIFFERENCE","accounts":["123456789012"]}"#
        );
        let back: Scope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let tagged = s.with_tags(TagFilter::parse("env=prod", "port:exclude=true").unwrap());
        let json = serde_json::to_string(&tagged).unwrap();
        assert!(json.contains("port:exclude"), "{json}");
        assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), tagged);
    }

    #[test]
    fn regions_default_to_the_function_region() {
        let r = parse_regions(&"".into(), "eu-west-1").unwrap();
        assert_eq!(r.into_iter().collect::<Vec<_>>(), ["eu-west-1"]);
        assert!(parse_regions(&"us-east-1,Europe".into(), "us-east-1").is_err());
    }

    #[test]
    fn tag_parameters_narrow_the_scope_and_a_bad_term_is_named_with_its_parameter() {
        let base = scope("r-abcd", "ALL", "").unwrap();
        let tagged = base
            .clone()
            .with_tag_parameters("env=prod|staging, team", "port:exclude=true")
            .unwrap();
        assert_eq!(tagged.tags.target.to_string(), "env=prod|staging,team");
        assert_eq!(tagged.tags.excluded.to_string(), "port:exclude=true");
        let blank = base.clone().with_tag_parameters(" ", "").unwrap();
        assert!(!blank.tags.is_set());
        let e = base
            .clone()
            .with_tag_parameters("env=prod", "=true")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("ExcludedAccountTags: the term `=true` has an empty key"),
            "{e}"
        );
        let long = "a".repeat(MAX_VALUE_BYTES + 1);
        let e = base.with_tag_parameters(&long, "").unwrap_err();
        assert!(
            matches!(
                e,
                ScopeError::ValueTooLong {
                    field: "TargetAccountTags",
                    ..
                }
            ),
            "{e}"
        );
    }
}
