//! The order of a StackSet's operations. `ListStackSetOperations` documents no order for its
//! summaries, and it "provides eventually consistent reads" (CloudFormation API Reference,
//! ListStackSetOperations): the order is the operations' `CreationTimestamp`, never the
//! list's. This is the one place that orders them.

use std::cmp::Ordering;

/// Sorts `items` newest first by creation time (RFC 3339 in UTC, `...T12:00:00[.fff]Z`, as
/// the SDK formats a `CreationTimestamp`); equal times by ID, and items without a creation
/// time last, so that the order is total and the same whatever order they came in.
pub fn newest_first<T>(
    items: &mut [T],
    started: impl Fn(&T) -> Option<&str>,
    id: impl Fn(&T) -> &str,
) {
    items.sort_by(|a, b| {
        match (started(a).map(instant), started(b).map(instant)) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(|| id(a).cmp(id(b)))
    });
}

/// A comparable instant: the text up to the seconds, then the fraction in nanoseconds. Text
/// alone would not do: "12:00:00Z" sorts after "12:00:00.5Z" ('Z' > '.').
fn instant(text: &str) -> (&str, u32) {
    let text = text.trim_end_matches('Z');
    match text.split_once('.') {
        Some((whole, frac)) => {
            let digits: String = frac.chars().take(9).collect();
            let nanos = format!("{digits:0<9}").parse().unwrap_or(0);
            (whole, nanos)
        }
        None => (text, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(items: &[(&'static str, Option<&'static str>)]) -> Vec<&'static str> {
        let mut v = items.to_vec();
        newest_first(&mut v, |o| o.1, |o| o.0);
        v.into_iter().map(|o| o.0).collect()
    }

    #[test]
    fn operations_are_ordered_by_creation_time_whatever_order_the_list_gave() {
        let listed = [
            ("a", Some("2026-12-07T10:00:00Z")),
            ("c", Some("2026-12-07T10:00:02Z")),
            ("b", Some("2026-12-07T10:00:01Z")),
        ];
        assert_eq!(order(&listed), ["c", "b", "a"]);
        let mut reversed = listed;
        reversed.reverse();
        assert_eq!(order(&reversed), ["c", "b", "a"]);
    }

    #[test]
    fn a_fraction_of_a_second_counts_and_a_whole_second_is_not_newer_than_it() {
        let listed = [
            ("whole", Some("2026-12-07T10:00:00Z")),
            ("half", Some("2026-12-07T10:00:00.5Z")),
            ("tenth", Some("2026-12-07T10:00:00.1Z")),
            ("milli", Some("2026-12-07T10:00:00.001Z")),
        ];
        assert_eq!(order(&listed), ["half", "tenth", "milli", "whole"]);
    }

    #[test]
    fn equal_times_go_by_id_and_operations_without_a_time_go_last() {
        let listed = [
            ("none", None),
            ("y", Some("2026-12-07T10:00:00Z")),
            ("x", Some("2026-12-07T10:00:00Z")),
        ];
        assert_eq!(order(&listed), ["x", "y", "none"]);
    }
}
