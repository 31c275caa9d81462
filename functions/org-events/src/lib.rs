//! The org-events function: EventBridge tells it that the organization changed (or that the
//! schedule came round); it decides cheaply whether the change can touch the scope, and if so
//! reconciles the StackSet's instances with the scope as the organization is now.
//!
//! `main.rs` only wires the AWS clients and the Lambda runtime; everything here is generic over
//! the ports so that tests drive it against the local emulator.

pub mod config;
pub mod guard;
pub mod handler;
pub mod time;
pub mod trigger;

pub use config::{Config, ConfigError};
pub use handler::{Handler, HandlerError, Invocation, Summary};
pub use trigger::{classify, deliveries, Classified, Trigger};
