//! Port's AWS multi-account scope engine: the pure domain core, the ports it talks through,
//! the reconcile engine, and the AWS adapters.

pub mod adapters;
pub mod core;
pub mod counted;
pub mod doctor;
pub mod engine;
pub mod feed;
pub mod logging;
pub mod metrics;
pub mod ou_parents;
pub mod ports;
pub mod preflight;
pub mod read;
pub mod wall;
