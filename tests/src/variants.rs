//! The variants every test bed can run under, set from the environment: how StackSet
//! operations are listed (`E2E_OPERATIONS_LISTING`) and how Organizations pages its lists
//! (`E2E_ORGANIZATIONS_PAGES`).

use std::time::Duration;

use serde_json::{json, Value};

/// Set (e.g. `shuffled,lag=2`), every test bed lists StackSet operations as AWS may: in no
/// order and/or behind by `lag` seconds (the emulator's `operations_listing`; AWS: "This API
/// provides eventually consistent reads", CloudFormation API Reference,
/// ListStackSetOperations and ListStackSetOperationResults, and no order documented).
/// scripts/test runs the suites that read operations a second time under it.
pub const OPERATIONS_LISTING_VAR: &str = "E2E_OPERATIONS_LISTING";

/// Parses `E2E_OPERATIONS_LISTING`: comma-separated `shuffled` | `newest_first` | `lag=<seconds>`.
pub fn operations_listing(text: &str) -> Result<Value, String> {
    let mut order = "newest_first";
    let mut lag = 0.0_f64;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "shuffled" | "newest_first" => order = part,
            _ => match part.strip_prefix("lag=").map(str::parse::<f64>) {
                Some(Ok(s)) if s >= 0.0 => lag = s,
                _ => {
                    return Err(format!(
                        "{OPERATIONS_LISTING_VAR}: {part:?} is not understood: use \
                         shuffled, newest_first and/or lag=<seconds>, e.g. shuffled,lag=2"
                    ))
                }
            },
        }
    }
    Ok(json!({ "order": order, "lag_seconds": lag }))
}

/// How far behind `E2E_OPERATIONS_LISTING` makes the operations lists (zero when unset): a
/// test that reads them from another process waits this long after starting an operation.
pub fn operations_listing_lag() -> Duration {
    std::env::var(OPERATIONS_LISTING_VAR)
        .ok()
        .and_then(|t| operations_listing(&t).ok())
        .and_then(|v| v["lag_seconds"].as_f64())
        .map(Duration::from_secs_f64)
        .unwrap_or_default()
}

/// Set to `short`, every test bed answers the Organizations List calls in short pages: fewer
/// items than the page maximum, now and then none, with a NextToken while more are left (the
/// emulator's `organizations_pages`; AWS Organizations API reference, every List call: "These
/// operations can occasionally return an empty set of results even when there are more results
/// available. The NextToken response parameter value is null only when there are no more
/// results to display."). scripts/test runs the suites that read Organizations again under it.
pub const ORGANIZATIONS_PAGES_VAR: &str = "E2E_ORGANIZATIONS_PAGES";

/// Parses `E2E_ORGANIZATIONS_PAGES`: `short` or `full` (the default).
pub fn organizations_pages(text: &str) -> Result<&'static str, String> {
    match text.trim() {
        "short" => Ok("short"),
        "full" | "" => Ok("full"),
        other => Err(format!(
            "{ORGANIZATIONS_PAGES_VAR}: {other:?} is not understood: use short (pages below the \
             maximum, some empty) or full"
        )),
    }
}

/// Whether `E2E_ORGANIZATIONS_PAGES=short` is set: a test asserting a call count that holds only
/// for full pages skips that count (and says so) under it.
pub fn short_organizations_pages() -> bool {
    std::env::var(ORGANIZATIONS_PAGES_VAR)
        .ok()
        .and_then(|t| organizations_pages(&t).ok())
        == Some("short")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operations_listing_variable_sets_order_and_lag() {
        assert_eq!(
            operations_listing("shuffled,lag=2").unwrap(),
            json!({"order": "shuffled", "lag_seconds": 2.0})
        );
        assert_eq!(
            operations_listing("lag=0.5").unwrap(),
            json!({"order": "newest_first", "lag_seconds": 0.5})
        );
    }

    #[test]
    fn the_organizations_pages_variable_is_short_or_full_and_names_a_bad_value() {
        assert_eq!(organizations_pages("short").unwrap(), "short");
        assert_eq!(organizations_pages("full").unwrap(), "full");
        let e = organizations_pages("tiny").unwrap_err();
        assert!(
            e.contains("E2E_ORGANIZATIONS_PAGES")
                && e.contains("\"tiny\"")
                && e.contains("use short"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_operations_listing_variable_names_the_bad_part_and_the_fix() {
        let e = operations_listing("shuffled,lag=-1").unwrap_err();
        assert!(
            e.contains("\"lag=-1\"") && e.contains("lag=<seconds>"),
            "{e}"
        );
        let e = operations_listing("random").unwrap_err();
        assert!(e.contains("\"random\"") && e.contains("shuffled"), "{e}");
    }
}
