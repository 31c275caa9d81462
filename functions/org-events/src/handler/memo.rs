//! What a warm instance remembers between invocations: an optimisation only (a cold start
//! simply checks again).

use std::sync::Mutex;

/// The remembered figures, behind a lock (an invocation at a time, but the runtime may move
/// the future between threads).
#[derive(Debug, Default)]
pub(super) struct Memo(Mutex<Warm>);

#[derive(Debug, Default, Clone, Copy)]
struct Warm {
    /// Wall-clock start of the last reconcile that finished with the StackSet matching the
    /// scope as read.
    converged_read_at: Option<f64>,
    /// Organizations calls of the last full read of the scope.
    full_read_calls: Option<u32>,
}

impl Memo {
    /// The start of the last read after which the StackSet matched the scope.
    pub(super) fn converged_read_at(&self) -> Option<f64> {
        self.0.lock().ok()?.converged_read_at
    }

    /// What the last full read of the scope cost in Organizations calls.
    pub(super) fn full_read_calls(&self) -> Option<u32> {
        self.0.lock().ok().and_then(|m| m.full_read_calls)
    }

    /// A reconcile that read at `read_at` left the StackSet matching the scope.
    pub(super) fn remember(&self, read_at: f64) {
        if let Ok(mut m) = self.0.lock() {
            if m.converged_read_at.is_none_or(|t| t < read_at) {
                m.converged_read_at = Some(read_at);
            }
        }
    }

    /// What a full read of the scope cost, for `Triage::whole_read_is_cheaper`.
    pub(super) fn remember_full_read(&self, calls: u32) {
        if let Ok(mut m) = self.0.lock() {
            m.full_read_calls = Some(calls);
        }
    }

    /// Forgets everything: what a reconcile under another scope covered says nothing now.
    pub(super) fn forget(&self) {
        if let Ok(mut m) = self.0.lock() {
            *m = Warm::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_later_read_replaces_the_remembered_one_and_forget_clears_both() {
        let m = Memo::default();
        assert_eq!(m.converged_read_at(), None);
        m.remember(100.0);
        m.remember(50.0);
        assert_eq!(m.converged_read_at(), Some(100.0));
        m.remember(150.0);
        m.remember_full_read(7);
        assert_eq!(
            (m.converged_read_at(), m.full_read_calls()),
            (Some(150.0), Some(7))
        );
        m.forget();
        assert_eq!((m.converged_read_at(), m.full_read_calls()), (None, None));
    }
}
