//! Orchard's domain: the types every other crate speaks, and the rules that need no I/O.
//!
//! Nothing here opens a file, a socket or a database; that keeps the rules testable in
//! isolation and keeps dependencies pointing one way (everything depends on `core`,
//! `core` depends on nothing of ours).

#[macro_use]
mod macros;

pub mod assistant;
pub mod base_url;
pub mod capabilities;
pub mod catalogue;
pub mod egress;
pub mod ids;
pub mod knowledge;
pub mod message;
pub mod model_ref;
pub mod provider;
pub mod redact;
pub mod secret;
pub mod time;
pub mod user;

pub use ids::*;
pub use time::Timestamp;
pub use user::User;
