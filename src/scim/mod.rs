//! The SCIM 2.0 protocol (RFC 7643 / RFC 7644), independent of Fastly.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod schema;
pub mod user;
