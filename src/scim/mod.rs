//! The SCIM 2.0 protocol (RFC 7643 / RFC 7644), independent of Fastly.

pub mod error;
pub mod filter;
pub mod patch;
pub mod schema;
