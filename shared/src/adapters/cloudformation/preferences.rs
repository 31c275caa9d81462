//! StackSet operation preferences: the one source of the values every operation the
//! functions start sends, and template.yaml's `PortStackSet` carries.

use aws_sdk_cloudformation::types::{
    ConcurrencyMode, RegionConcurrencyType, StackSetOperationPreferences,
};

/// StackSet operation preferences, in AWS's own words (the values `OperationPreferences` takes
/// in the API and in a template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    pub region_concurrency_type: &'static str,
    pub max_concurrent_percentage: i32,
    pub failure_tolerance_percentage: i32,
    pub concurrency_mode: &'static str,
}

/// Regions in parallel, every account at once, and failures tolerated so that one account's
/// failure (a role that already exists, say) does not stop the others: each account's
/// outcome is read back and reported by name afterwards. The one source of these values:
/// every operation the functions start uses them, and template.yaml's `PortStackSet` carries
/// the same `OperationPreferences` (the test below compares the two).
pub const PREFERENCES: Preferences = Preferences {
    region_concurrency_type: "PARALLEL",
    max_concurrent_percentage: 100,
    failure_tolerance_percentage: 100,
    concurrency_mode: "SOFT_FAILURE_TOLERANCE",
};

pub fn preferences() -> StackSetOperationPreferences {
    StackSetOperationPreferences::builder()
        .region_concurrency_type(RegionConcurrencyType::from(
            PREFERENCES.region_concurrency_type,
        ))
        .max_concurrent_percentage(PREFERENCES.max_concurrent_percentage)
        .failure_tolerance_percentage(PREFERENCES.failure_tolerance_percentage)
        .concurrency_mode(ConcurrencyMode::from(PREFERENCES.concurrency_mode))
        .build()
}

#[cfg(test)]
mod preference_tests {
    use super::*;

    /// The `Key: value` lines of `OperationPreferences` under template.yaml's `PortStackSet`.
    fn template_preferences() -> Vec<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml");
        let lines: Vec<&str> = text.lines().collect();
        let start = lines
            .iter()
            .position(|l| *l == "  PortStackSet:")
            .expect("PortStackSet in template.yaml");
        let at = start
            + lines[start..]
                .iter()
                .position(|l| l.trim() == "OperationPreferences:")
                .expect("PortStackSet has OperationPreferences");
        let indent = |l: &str| l.len() - l.trim_start().len();
        let own = indent(lines[at]);
        lines[at + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .take_while(|l| indent(l) > own)
            .map(|l| {
                let (k, v) = l.trim().split_once(':').expect("Key: value");
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn the_stack_sets_own_updates_use_the_preferences_of_the_functions_operations() {
        let p = PREFERENCES;
        assert_eq!(
            template_preferences(),
            vec![
                (
                    "RegionConcurrencyType".to_owned(),
                    p.region_concurrency_type.to_owned()
                ),
                (
                    "MaxConcurrentPercentage".to_owned(),
                    p.max_concurrent_percentage.to_string()
                ),
                (
                    "FailureTolerancePercentage".to_owned(),
                    p.failure_tolerance_percentage.to_string()
                ),
                ("ConcurrencyMode".to_owned(), p.concurrency_mode.to_owned()),
            ]
        );
    }

    #[test]
    fn the_preferences_are_values_the_sdk_knows() {
        let built = preferences();
        assert_eq!(
            built.region_concurrency_type(),
            Some(&RegionConcurrencyType::Parallel)
        );
        assert_eq!(
            built.concurrency_mode(),
            Some(&ConcurrencyMode::SoftFailureTolerance)
        );
        assert_eq!(built.max_concurrent_percentage(), Some(100));
        assert_eq!(built.failure_tolerance_percentage(), Some(100));
    }
}
