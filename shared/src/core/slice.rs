//! Which accounts' tags one run reads: all of them, or one slice.
//!
//! Reading an account's tags costs one `ListTagsForResource` call, and AWS Organizations
//! throttles its API; at the sustained 5 calls per second this project plans for (AWS publishes
//! no per-action figure), a full read of 10,000 accounts takes over half an hour,
//! longer than one Lambda invocation. So a run may read the tags of one **slice** of the
//! accounts the tag filter decides (the *candidates*): those whose numeric account ID modulo
//! `of` is `index`. An account whose tags were not read is *undecided* this run: the plan
//! leaves it exactly as the StackSet has it (no create, no delete, no update), so the StackSet
//! is the cache of earlier tag decisions and a partial read never enrolls or withdraws on a
//! guess. Accounts the structure alone decides (outside the targets, not ACTIVE, left out by
//! the mode and the listed accounts, the management account) never need tags and are decided
//! every run.
//!
//! The slice of an account depends on its ID only, not on the other accounts: while `of` stays
//! the same, the slices `0..of` cover every candidate exactly once, whatever joins or leaves.

use serde::{Deserialize, Serialize};

use super::ids::AccountId;

/// The default of how many `ListTagsForResource` calls one run may make: 1,000 calls take
/// 200 s at 5 calls/s, well inside one invocation (org-events: `TAG_READS_PER_RUN`).
pub const DEFAULT_TAG_READS_PER_RUN: u32 = 1_000;

/// The custom resource's tag reads per invocation: 2,500 calls take 500 s at 5 calls/s, and
/// with the structure read (at 10,000 accounts, 504 calls in `scripts/bench tags`) fit one 900-second
/// invocation less its 30-second margin.
pub const CUSTOM_RESOURCE_TAG_READS_PER_STEP: u32 = 2_500;

/// The smallest and largest budget a deployment may set: at least one read per run; at most
/// what one 15-minute invocation can make at 5 calls/s with room for the rest of the run.
pub const TAG_READS_PER_RUN_RANGE: (u32, u32) = (1, 3_000);

/// One slice of the candidates: those whose numeric account ID % `of` == `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TagSlice {
    pub index: u32,
    pub of: u32,
}

impl TagSlice {
    /// Every candidate.
    pub const ALL: TagSlice = TagSlice { index: 0, of: 1 };

    pub fn is_all(&self) -> bool {
        self.of <= 1
    }

    /// Whether `id`'s tags are read in this slice.
    pub fn covers(&self, id: &AccountId) -> bool {
        self.is_all() || number(id) % u64::from(self.of) == u64::from(self.index)
    }

    /// The next slice of the same cut, `None` after the last.
    pub fn next(&self) -> Option<TagSlice> {
        (self.index + 1 < self.of).then_some(TagSlice {
            index: self.index + 1,
            of: self.of,
        })
    }

    /// The slice a run reads when it is the `tick`th run of a sweep over `candidates` with at
    /// most `budget` reads per run: `of` = [`slices_for`], `index` = `tick % of`. Consecutive
    /// ticks read every slice once in `of` runs while `of` stays the same.
    pub fn of_tick(tick: u64, candidates: &[AccountId], budget: u32) -> TagSlice {
        let of = slices_for(candidates, budget);
        TagSlice {
            index: (tick % u64::from(of)) as u32,
            of,
        }
    }
}

impl Default for TagSlice {
    fn default() -> Self {
        Self::ALL
    }
}

impl std::fmt::Display for TagSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tag slice {} of {} (account ID % {} = {})",
            self.index + 1,
            self.of,
            self.of,
            self.index
        )
    }
}

/// How many slices `candidates` are cut into so that no slice holds more than `budget`
/// accounts: the smallest `of` from `max(1, ceil(n / budget))` up whose largest slice fits.
/// Account IDs are spread evenly in practice, so it is `ceil(n / budget)` or a little more;
/// it never exceeds `n` (one account per slice at most).
pub fn slices_for(candidates: &[AccountId], budget: u32) -> u32 {
    let budget = budget.max(1) as usize;
    let n = candidates.len();
    if n <= budget {
        return 1;
    }
    let ids: Vec<u64> = candidates.iter().map(number).collect();
    let mut of = n.div_ceil(budget) as u64;
    loop {
        let mut counts = vec![0usize; of as usize];
        for id in &ids {
            counts[(id % of) as usize] += 1;
        }
        if counts.iter().all(|c| *c <= budget) {
            return of as u32;
        }
        of += 1;
    }
}

/// The account ID as a number (12 digits); an ID that is not one counts as 0.
fn number(id: &AccountId) -> u64 {
    id.as_str().parse().unwrap_or(0)
}

/// What a pass reads of the candidates' tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagReads {
    /// Every candidate's (the CLI, small organizations, one account's event).
    #[default]
    All,
    /// This slice, cut before (the custom resource's later steps).
    Slice(TagSlice),
    /// A slice of at most `budget` candidates, cut once the structure is read: the `tick`th
    /// of a sweep ([`TagSlice::of_tick`]).
    Sweep { budget: u32, tick: u64 },
}

impl TagReads {
    /// The slice this pass reads, given the candidates the structure gave.
    pub fn slice_for(&self, candidates: &[AccountId]) -> TagSlice {
        match *self {
            Self::All => TagSlice::ALL,
            Self::Slice(s) => s,
            Self::Sweep { budget, tick } => TagSlice::of_tick(tick, candidates, budget),
        }
    }
}

/// The tick of a scheduled run at `epoch_secs` under a schedule that runs every
/// `period_secs`: consecutive runs get consecutive ticks (when the runs are `period_secs`
/// apart, or closer), so `tick % of` walks through every slice.
pub fn schedule_tick(epoch_secs: u64, period_secs: u64) -> u64 {
    epoch_secs / period_secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> Vec<AccountId> {
        (0..n)
            .map(|i| AccountId::parse(&format!("{:012}", 100_000_000_000 + i * 7)).unwrap())
            .collect()
    }

    #[test]
    fn slices_cover_every_candidate_exactly_once_and_fit_the_budget() {
        let all = ids(2_345);
        let of = slices_for(&all, 1_000);
        assert_eq!(of, 3);
        let mut seen = vec![0u32; all.len()];
        for index in 0..of {
            let s = TagSlice { index, of };
            let n = all.iter().filter(|a| s.covers(a)).count();
            assert!(n <= 1_000, "slice {index} holds {n}");
            for (i, a) in all.iter().enumerate() {
                if s.covers(a) {
                    seen[i] += 1;
                }
            }
        }
        assert!(seen.iter().all(|n| *n == 1));
    }

    #[test]
    fn uneven_ids_get_more_slices_until_none_exceeds_the_budget() {
        // Every ID even: `% 2` puts them all in one slice, so 2 slices cannot hold 10 in 5s.
        let all: Vec<AccountId> = (0..10u64)
            .map(|i| AccountId::parse(&format!("{:012}", 200_000_000_000 + i * 2)).unwrap())
            .collect();
        let of = slices_for(&all, 5);
        assert_eq!(of, 3);
        assert!(slices_for(&all, 10) == 1);
    }

    #[test]
    fn consecutive_ticks_walk_every_slice_and_next_ends_at_the_last() {
        let all = ids(30);
        let got: Vec<u32> = (7..10)
            .map(|t| TagSlice::of_tick(t, &all, 10).index)
            .collect();
        assert_eq!(got, vec![1, 2, 0]);
        assert_eq!(
            TagSlice { index: 0, of: 2 }.next(),
            Some(TagSlice { index: 1, of: 2 })
        );
        assert_eq!(TagSlice { index: 1, of: 2 }.next(), None);
        assert_eq!(schedule_tick(6 * 3_600 * 5 + 59, 6 * 3_600), 5);
    }
}
