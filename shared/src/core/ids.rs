//! Identifiers of AWS Organizations, parsed from what a person types.
//!
//! Account IDs stay strings: `012345678901` is a valid account and a number would lose its
//! leading zero. Every rejection names the exact token and shows a correct example.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::ScopeError;

/// A 12-digit AWS account ID, leading zeros kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    /// Parses one token (already trimmed).
    pub fn parse(token: &str) -> Result<Self, ScopeError> {
        if token.len() == 12 && token.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self(token.to_owned()));
        }
        Err(ScopeError::BadAccountId {
            token: shown(token),
            why: account_hint(token),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A deployment target: the organization root (the whole organization) or an OU.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetId(String);

impl TargetId {
    pub fn parse(token: &str) -> Result<Self, ScopeError> {
        if is_ou_id(token) || is_root_id(token) {
            return Ok(Self(token.to_owned()));
        }
        Err(ScopeError::BadOuId {
            token: shown(token),
            why: ou_hint(token),
        })
    }

    pub fn is_root(&self) -> bool {
        self.0.starts_with("r-")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`
pub fn is_ou_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("ou-") else {
        return false;
    };
    let Some((a, b)) = rest.split_once('-') else {
        return false;
    };
    let ok = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len())
            && p.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    };
    ok(a, 4, 32) && ok(b, 8, 32)
}

/// `^r-[0-9a-z]{4,32}$`
pub fn is_root_id(s: &str) -> bool {
    s.strip_prefix("r-").is_some_and(|p| {
        (4..=32).contains(&p.len())
            && p.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    })
}

/// A token as it is safe to show back: bounded, control characters escaped.
pub(crate) fn shown(token: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = token
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if token.chars().count() > MAX {
        out.push('…');
    }
    out
}

fn account_hint(t: &str) -> String {
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    let upper = t.to_ascii_uppercase();
    if upper.contains("E+") && t.contains('.') {
        return "it looks like a spreadsheet turned the ID into a number in scientific notation; \
                format the column as text and copy the 12 digits again"
            .into();
    }
    if t.starts_with('+') || t.starts_with('-') {
        return "an account ID has no sign; remove it".into();
    }
    if t.contains('"') || t.contains('\'') {
        return "remove the quotes".into();
    }
    if t.starts_with("ou-") || t.starts_with("r-") {
        return "that is an OU or root ID; put it in TargetOUIds, not in TargetAccountIds".into();
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        if t.len() < 12 {
            return format!(
                "it has {} digits; account IDs have exactly 12, leading zeros included \
                 (a spreadsheet may have dropped a leading zero)",
                t.len()
            );
        }
        return format!("it has {} digits; account IDs have exactly 12", t.len());
    }
    if t.contains(' ') || t.contains(';') || t.contains('\t') {
        return "separate account IDs with commas, not spaces or semicolons".into();
    }
    if digits == 12 {
        return "remove the dashes or other characters between the digits".into();
    }
    "an account ID is exactly 12 digits".into()
}

fn ou_hint(t: &str) -> String {
    let lower = t.to_ascii_lowercase();
    if t.contains('"') || t.contains('\'') {
        return "remove the quotes".into();
    }
    if t.contains(' ') || t.contains(';') || t.contains('\t') {
        return "separate OU IDs with commas, not spaces or semicolons".into();
    }
    if lower != t && (is_ou_id(&lower) || is_root_id(&lower)) {
        return "OU and root IDs are all lowercase".into();
    }
    if t.len() == 12 && t.bytes().all(|b| b.is_ascii_digit()) {
        return "that is an account ID; put it in TargetAccountIds, and give the OU that \
                contains it here"
            .into();
    }
    if t.starts_with("o-") {
        return "that is the organization ID; to target the whole organization give the root \
                ID (r-...), found under AWS Organizations > AWS accounts > Root"
            .into();
    }
    "an OU ID looks like ou-abcd-12345678 and a root ID like r-abcd; find them in the AWS \
     Organizations console under AWS accounts, or with `aws organizations \
     list-organizational-units-for-parent`"
        .into()
}
