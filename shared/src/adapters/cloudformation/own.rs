//! The operations this process started that the eventually consistent lists have not shown
//! yet (see `CfnStackSets::own`): what is remembered of each, and when.

use crate::ports::{OpKind, Targets};

use super::CfnStackSets;

/// One operation of ours, not yet seen in the lists.
#[derive(Debug, Clone)]
pub(super) struct Own {
    pub(super) stack_set: String,
    pub(super) id: String,
    /// Not yet seen in `ListStackSetOperations`.
    pub(super) unlisted: bool,
    /// Its targets name accounts, so it has result rows; none seen yet.
    pub(super) awaits_results: bool,
}

impl CfnStackSets {
    /// Remembers an operation this process started (see `own`).
    pub(super) fn remember(&self, name: &str, id: &str, kind: OpKind, targets: &Targets) {
        let mut own = self.own.lock().expect("own operations");
        if own.iter().any(|o| o.stack_set == name && o.id == id) {
            return;
        }
        own.push(Own {
            stack_set: name.to_owned(),
            id: id.to_owned(),
            unlisted: true,
            awaits_results: kind != OpKind::DetectDrift
                && !targets.accounts.is_empty()
                && targets.filter != "DIFFERENCE",
        });
    }

    pub(super) fn forget(&self, name: &str, id: &str) {
        let mut own = self.own.lock().expect("own operations");
        own.retain(|o| !(o.stack_set == name && o.id == id));
    }
}
