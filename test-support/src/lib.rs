//! In-memory fakes of the ports, shared by the engine's and the reader's tests
//! (`shared/tests/`), the functions' fault tests and the benchmarks: an organization
//! ([`MemOrg`], built from a [`Tree`]) and a service-managed StackSet ([`MemStackSet`]), each
//! counting its calls (counters, not fidelity models: the test bed's emulator plays AWS's
//! rules); and the fault tests' fakes of a bug or of another client ([`PanickingOrg`],
//! [`PanicsAfterStart`], [`Interloper`]).
//!
//! A crate of its own, not a module of `shared` behind a feature: it depends on `shared`, so
//! `shared`'s tests that use it are integration tests (`shared/tests/`), which link the same
//! `shared` the fakes implement the ports of.

mod faults;
mod org;
mod stackset;

pub use faults::{Interloper, PanickingOrg, PanicsAfterStart};
pub use org::{small_tree, Calls, MemOrg, Tree, MANAGEMENT, PAGE, ROOT};
pub use stackset::{CfnCalls, MemStackSet, CFN_PAGE};
