//! Reconcile planning: desired accounts × current stack instances → the smallest plan.
//!
//! Pure: the same inputs always give the same plan, and planning against the state a plan
//! produces gives an empty plan.
//!
//! By concern: `instance` (what the StackSet reports), `desired` (what should exist and how to
//! plan), `reconcile` (the plan), `planner` (how it is made), `batch` (operations: batches,
//! OIDC-reuse batches, OU fitting).

mod batch;
mod desired;
mod instance;
mod planner;
mod reconcile;

pub use batch::{fit_ous, oidc_reuse, Batch, MAX_OUS_PER_OPERATION, REUSE_OIDC_OVERRIDE};
pub use desired::{Desired, PlanPolicy};
pub use instance::{DetailedStatus, DriftStatus, InstanceStatus, StackInstance};
pub use planner::{decided_instances, plan, plan_reaching};
pub use reconcile::{Held, ReconcilePlan};
