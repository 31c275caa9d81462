//! [`crate::TestBed`]'s methods, one `impl` block per concern.

mod deployment;
mod fidelity;
mod organization;
mod process;
mod reads;
