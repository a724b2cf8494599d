//! scim-edge: a SCIM 2.0 service provider for Fastly accounts, running on Fastly Compute.
//!
//! The core (everything but [`edge`]) is plain Rust with no `fastly` import, so it builds and
//! tests on the host. [`edge`] adapts it to the Compute SDK and only exists on `wasm32`.

pub mod scim;
