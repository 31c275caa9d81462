//! Scope by account tags: `TargetAccountTags` (every term must match) and
//! `ExcludedAccountTags` (any matching term puts the account out), parsed and matched. Pure.
//!
//! A term is `key=value`, `key=value1|value2` (any of the values) or `key` (the key present,
//! any value); terms are separated by commas. Keys and values follow AWS Organizations' `Tag`
//! data type (AWS Organizations API Reference, "Tag"): a key of 1 to 128 characters, a value of
//! 0 to 256, both of Unicode letters, separators (spaces), numbers and `_ . : / = + - @`. A
//! comma or a bar is in neither, so they can separate terms and values; a key holding `=`
//! cannot be written (the first `=` ends the key), a value may hold it.
//!
//! Organizations does not inherit tags: an OU's or a root's tags say nothing about the
//! accounts under it (AWS Organizations User Guide, "Tagging AWS Organizations resources").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::ids::shown;

/// Organizations' longest tag key (characters).
pub const MAX_KEY_CHARS: usize = 128;
/// Organizations' longest tag value (characters).
pub const MAX_VALUE_CHARS: usize = 256;
/// At most this many terms per parameter: more is a sign the filter belongs in an OU.
pub const MAX_TERMS: usize = 50;

/// An account's tags, as `ListTagsForResource` gives them.
pub type Tags = BTreeMap<String, String>;

/// A tag filter that cannot be used; nothing was read or changed. The text it quotes is
/// shown as the other scope errors show it (control characters escaped, cut at 60
/// characters), so a 60 KB key or an escape sequence never reaches a terminal or a
/// CloudFormation Reason whole.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TagFilterError {
    #[error(
        "{field}: the term `{term}` has an empty key. Write key=value, key=value1|value2 or key \
         alone, separated by commas, for example env=prod|staging,team=payments."
    )]
    EmptyKey { field: &'static str, term: String },
    #[error(
        "{field}: the key `{key}` is {chars} characters long; AWS Organizations allows at most \
         {MAX_KEY_CHARS}. Use the account's tag key exactly as AWS Organizations shows it."
    )]
    KeyTooLong {
        field: &'static str,
        key: String,
        chars: usize,
    },
    #[error(
        "{field}: the value `{value}` of key `{key}` is {chars} characters long; AWS \
         Organizations allows at most {MAX_VALUE_CHARS}."
    )]
    ValueTooLong {
        field: &'static str,
        key: String,
        value: String,
        chars: usize,
    },
    #[error(
        "{field}: `{text}` holds `{}`, which no AWS Organizations tag can hold (letters, \
         digits, spaces and _ . : / = + - @ only). Fix the term, or remove it.",
        .bad.escape_debug()
    )]
    BadCharacter {
        field: &'static str,
        text: String,
        bad: char,
    },
    #[error(
        "{field}: the key `{key}` is given twice. Give its values once, separated by bars: \
         {key}=value1|value2."
    )]
    DuplicateKey { field: &'static str, key: String },
    #[error(
        "{field}: {count} terms; at most {MAX_TERMS} are accepted. A filter this long belongs in \
         an OU: move the accounts into one and target it."
    )]
    TooManyTerms { field: &'static str, count: usize },
}

/// One term: a key, and the values it accepts (`None`: any value, the key present).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TagTerm {
    pub key: String,
    pub values: Option<BTreeSet<String>>,
}

impl TagTerm {
    /// Whether `tags` satisfy this term.
    pub fn matches(&self, tags: &Tags) -> bool {
        match (tags.get(&self.key), &self.values) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(v), Some(values)) => values.contains(v),
        }
    }
}

impl fmt::Display for TagTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.values {
            None => f.write_str(&self.key),
            Some(values) => {
                let joined: Vec<&str> = values.iter().map(String::as_str).collect();
                write!(f, "{}={}", self.key, joined.join("|"))
            }
        }
    }
}

/// The terms of one parameter; empty: no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagTerms(pub Vec<TagTerm>);

impl TagTerms {
    /// Parses `field`'s value (`TargetAccountTags` or `ExcludedAccountTags`); blank: no terms.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, TagFilterError> {
        let terms: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if terms.len() > MAX_TERMS {
            return Err(TagFilterError::TooManyTerms {
                field,
                count: terms.len(),
            });
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(terms.len());
        for term in terms {
            let parsed = parse_term(field, term)?;
            if !seen.insert(parsed.key.clone()) {
                return Err(TagFilterError::DuplicateKey {
                    field,
                    key: parsed.key,
                });
            }
            out.push(parsed);
        }
        Ok(Self(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first term `tags` fail (`None`: all match, the AND of `TargetAccountTags`).
    pub fn first_unmet(&self, tags: &Tags) -> Option<&TagTerm> {
        self.0.iter().find(|t| !t.matches(tags))
    }

    /// The first term `tags` meet (the OR of `ExcludedAccountTags`).
    pub fn first_met(&self, tags: &Tags) -> Option<&TagTerm> {
        self.0.iter().find(|t| t.matches(tags))
    }
}

impl fmt::Display for TagTerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// Both tag parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFilter {
    /// `TargetAccountTags`: every term must match.
    pub target: TagTerms,
    /// `ExcludedAccountTags`: an account matching any term is out.
    pub excluded: TagTerms,
}

/// What the tag filter says of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagVerdict {
    /// No filter is set: tags are not read.
    Unfiltered,
    /// In: every target term matched (named), no excluded term did.
    Kept { matched: Vec<TagTerm> },
    /// Out: this target term did not match.
    Unmet { term: TagTerm },
    /// Out: this excluded term matched.
    Excluded { term: TagTerm },
}

impl TagVerdict {
    pub fn is_in(&self) -> bool {
        matches!(self, Self::Unfiltered | Self::Kept { .. })
    }
}

impl TagFilter {
    pub fn parse(target: &str, excluded: &str) -> Result<Self, TagFilterError> {
        Ok(Self {
            target: TagTerms::parse("TargetAccountTags", target)?,
            excluded: TagTerms::parse("ExcludedAccountTags", excluded)?,
        })
    }

    /// Whether a filter is set (then, and only then, accounts' tags are read).
    pub fn is_set(&self) -> bool {
        !self.target.is_empty() || !self.excluded.is_empty()
    }

    /// The verdict for an account with these tags. The exclusion wins, whatever else says.
    pub fn verdict(&self, tags: &Tags) -> TagVerdict {
        if !self.is_set() {
            return TagVerdict::Unfiltered;
        }
        if let Some(term) = self.excluded.first_met(tags) {
            return TagVerdict::Excluded { term: term.clone() };
        }
        if let Some(term) = self.target.first_unmet(tags) {
            return TagVerdict::Unmet { term: term.clone() };
        }
        TagVerdict::Kept {
            matched: self.target.0.clone(),
        }
    }
}

fn parse_term(field: &'static str, term: &str) -> Result<TagTerm, TagFilterError> {
    let (key, values) = match term.split_once('=') {
        None => (term.trim(), None),
        Some((k, v)) => (k.trim(), Some(v)),
    };
    if key.is_empty() {
        return Err(TagFilterError::EmptyKey {
            field,
            term: shown(term),
        });
    }
    check_text(field, key)?;
    let chars = key.chars().count();
    if chars > MAX_KEY_CHARS {
        return Err(TagFilterError::KeyTooLong {
            field,
            key: shown(key),
            chars,
        });
    }
    let values = match values {
        None => None,
        Some(v) => {
            let mut set = BTreeSet::new();
            for value in v.split('|').map(str::trim) {
                check_text(field, value)?;
                let chars = value.chars().count();
                if chars > MAX_VALUE_CHARS {
                    return Err(TagFilterError::ValueTooLong {
                        field,
                        key: shown(key),
                        value: shown(value),
                        chars,
                    });
                }
                set.insert(value.to_owned());
            }
            Some(set)
        }
    };
    Ok(TagTerm {
        key: key.to_owned(),
        values,
    })
}

/// Organizations' tag pattern, `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`.
fn check_text(field: &'static str, text: &str) -> Result<(), TagFilterError> {
    let allowed = |c: char| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
    };
    match text.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(bad) => Err(TagFilterError::BadCharacter {
            field,
            text: shown(text),
            bad,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_target_term_must_match_and_a_term_accepts_any_of_its_values() {
        let f = TagFilter::parse("env=prod|staging,team=payments", "").unwrap();
        assert!(f
            .verdict(&tags(&[("env", "staging"), ("team", "payments")]))
            .is_in());
        assert_eq!(
            f.verdict(&tags(&[("env", "dev"), ("team", "payments")])),
            TagVerdict::Unmet {
                term: f.target.0[0].clone()
            }
        );
        assert!(!f.verdict(&tags(&[("env", "prod")])).is_in());
    }

    #[test]
    fn a_key_alone_matches_any_value_including_the_empty_one() {
        let f = TagFilter::parse("owner", "").unwrap();
        assert!(f.verdict(&tags(&[("owner", "")])).is_in());
        assert!(
            !f.verdict(&tags(&[("Owner", "x")])).is_in(),
            "keys are case-sensitive"
        );
    }

    #[test]
    fn an_excluded_term_wins_over_every_target_term() {
        let f = TagFilter::parse("env=prod", "port:exclude=true,sandbox").unwrap();
        let v = f.verdict(&tags(&[("env", "prod"), ("port:exclude", "true")]));
        assert_eq!(
            v,
            TagVerdict::Excluded {
                term: f.excluded.0[0].clone()
            }
        );
        assert!(!f
            .verdict(&tags(&[("env", "prod"), ("sandbox", "")]))
            .is_in());
        assert!(f
            .verdict(&tags(&[("env", "prod"), ("port:exclude", "false")]))
            .is_in());
    }

    #[test]
    fn no_filter_reads_no_tags() {
        let f = TagFilter::parse(" ", "").unwrap();
        assert!(!f.is_set());
        assert_eq!(f.verdict(&Tags::new()), TagVerdict::Unfiltered);
    }

    #[test]
    fn bad_terms_are_refused_naming_the_parameter_the_term_and_the_fix() {
        let e = TagFilter::parse("=prod", "").unwrap_err().to_string();
        assert!(
            e.starts_with("TargetAccountTags: the term `=prod` has an empty key"),
            "{e}"
        );
        let e = TagFilter::parse("", "env=prod;dev")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ExcludedAccountTags: `prod;dev` holds `;`"),
            "{e}"
        );
        let long = "k".repeat(129);
        let e = TagFilter::parse(&long, "").unwrap_err().to_string();
        assert!(
            e.contains("is 129 characters long; AWS Organizations allows at most 128"),
            "{e}"
        );
        let e = TagFilter::parse(&format!("k={}", "v".repeat(257)), "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 256"), "{e}");
        let e = TagFilter::parse("env=prod,env=dev", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("env=value1|value2"), "{e}");
    }

    #[test]
    fn organizations_characters_are_accepted_and_a_value_may_hold_an_equals_sign() {
        let f = TagFilter::parse("cost-center/id=A+B@c.d:e=f, Équipe=données 1", "").unwrap();
        assert_eq!(f.target.0.len(), 2);
        assert_eq!(f.target.0[0].key, "cost-center/id");
        assert!(f.target.0[0]
            .values
            .as_ref()
            .unwrap()
            .contains("A+B@c.d:e=f"));
        assert_eq!(
            f.target.to_string(),
            "cost-center/id=A+B@c.d:e=f,Équipe=données 1"
        );
    }
}
