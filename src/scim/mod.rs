//! The SCIM 2.0 protocol (RFC 7643 / RFC 7644), independent of Fastly.

pub mod discovery;
pub mod error;
pub mod filter;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
#[cfg(test)]
mod fuzz_smoke;
pub mod list;
pub mod patch;
pub mod schema;
pub mod user;
