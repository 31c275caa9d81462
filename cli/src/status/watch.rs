//! `--watch`: refresh the snapshot until no StackSet operation is running, with a progress
//! bar of accounts done (drawn only on a terminal).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shared::adapters::CfnStackSets;
use shared::core::{Expansion, OrgTree};
use shared::ports::OrganizationsApi;

use super::snapshot::{snapshot, Snapshot};
use super::Located;
use crate::fail;

/// Refreshes `snap` until no operation is running; the last snapshot, or the exit code of a
/// failed refresh.
#[allow(clippy::too_many_arguments)]
pub(super) async fn until_idle<O: OrganizationsApi>(
    interval: f64,
    mut snap: Snapshot,
    org: &O,
    cfn: &CfnStackSets,
    name: &str,
    exp: &Expansion,
    tree: &mut OrgTree,
    located: &mut Located,
) -> Result<Snapshot, ExitCode> {
    let interactive = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let target = if interactive {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let (done, total) = snap.progress();
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {msg:32} [{bar:30}] {pos}/{len} accounts  {elapsed}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(done);
    let interval = Duration::from_secs_f64(interval.clamp(0.1, 60.0));
    while let Some(op) = snap.running() {
        bar.set_message(format!("{} {}", op.action, op.status));
        bar.enable_steady_tick(Duration::from_millis(120));
        tokio::time::sleep(interval).await;
        snap = match snapshot(org, cfn, name, exp, tree, located).await {
            Ok(s) => s,
            Err(e) => {
                bar.abandon();
                return Err(fail(1, &e.to_string()));
            }
        };
        let (done, total) = snap.progress();
        bar.set_length(total);
        bar.set_position(done);
    }
    bar.finish_and_clear();
    Ok(snap)
}
