//! The tag filter's cost at 1,000 / 2,000 / 10,000 candidates, as BENCHMARKS.md's "Tag filter
//! at scale" table prints it (`bench::tags::tag_figures`, the engine's passes against the
//! counting in-process organization and StackSet): the call counts asserted, so that the table
//! cannot read better than the code does. Times are calls / 5, not measured.

use bench::tags::{seconds, tag_figures, CLOUDFORMATION_HOUR, INVOCATION_SECONDS};
use shared::core::{CUSTOM_RESOURCE_TAG_READS_PER_STEP, DEFAULT_TAG_READS_PER_RUN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_reads_stay_within_their_budgets_and_converge_from_1000_to_10000_candidates() {
    for n in [1_000usize, 2_000, 10_000] {
        let f = tag_figures(n).await;
        let pages = n.div_ceil(20) as u32;
        // (a) A one-account tag event: one tag read, at most 10 Organizations calls (issue 23).
        assert_eq!(f.event_tag_calls, 1, "{n}: {f:?}");
        assert!(f.event_calls <= 10, "{n}: {f:?}");
        // (b) The Create reads every candidate's tags exactly once, in ceil(n / 2,500)
        // invocations (account IDs here are consecutive, so the slices are even), each within
        // one invocation's time, all within CloudFormation's hour; it enrolls exactly the
        // tagged candidates.
        let steps = n.div_ceil(CUSTOM_RESOURCE_TAG_READS_PER_STEP as usize) as u32;
        assert_eq!(f.create_steps, steps, "{n}: {f:?}");
        assert_eq!(f.create_tag_calls, n as u32, "{n}: {f:?}");
        assert!(
            f.create_most_step_calls <= CUSTOM_RESOURCE_TAG_READS_PER_STEP + pages + 10,
            "{n}: {f:?}"
        );
        assert!(
            seconds(f.create_most_step_calls) <= INVOCATION_SECONDS,
            "{n}: {f:?}"
        );
        assert!(seconds(f.create_calls) < CLOUDFORMATION_HOUR, "{n}: {f:?}");
        assert!(f.create_right, "{n}: {f:?}");
        // (c) The sweep: at most the budget of tag reads per run, every candidate read exactly
        // once in `of` = ceil(n / 1,000) runs, the missed change repaired within them, and the
        // StackSet then holds exactly the tagged candidates.
        assert!(
            f.sweep_most_tag_calls <= DEFAULT_TAG_READS_PER_RUN,
            "{n}: {f:?}"
        );
        assert!(
            f.sweep_most_calls <= DEFAULT_TAG_READS_PER_RUN + pages + 10,
            "{n}: {f:?}"
        );
        assert_eq!(
            f.sweep_of,
            n.div_ceil(DEFAULT_TAG_READS_PER_RUN as usize) as u32,
            "{n}: {f:?}"
        );
        assert!(f.sweep_each_once, "{n}: {f:?}");
        assert!(
            f.sweep_repaired_at.is_some_and(|r| r <= f.sweep_of),
            "{n}: {f:?}"
        );
        assert!(f.sweep_right, "{n}: {f:?}");
    }
}

/// org-events' own scheduled runs (its `Handler`, configured from the environment): 30
/// candidates with `TAG_READS_PER_RUN` = 10 read one slice of 10 per run, the slice from the
/// scheduled event's time, so three runs one period apart read every candidate exactly once
/// and enroll exactly the tagged ones; a fourth run starts the cycle again.
#[tokio::test]
async fn org_events_scheduled_runs_read_one_slice_each_and_every_candidate_once_in_of_runs() {
    let (per_run, each_once, right) = bench::tags::org_events_sweep(30, 10, 3).await;
    assert_eq!(per_run, [10, 10, 10]);
    assert!(each_once, "every candidate read exactly once in 3 runs");
    assert!(right, "the StackSet holds exactly the tagged candidates");
}
