//! [`crate::TestBed`]'s methods, one `impl` block per concern.

mod deployment;
pub(crate) mod emulator;
mod fidelity;
mod organization;
mod process;
mod reads;
