//! scim-edge: a SCIM 2.0 service provider for Fastly accounts, running on Fastly Compute.
//!
//! The core (everything but `edge`) is plain Rust with no `fastly` import, so it builds and
//! tests on the host. `edge` adapts it to the Compute SDK and only exists on `wasm32`.
//!
//! Request flow: `edge` → [`app`] (routing) → [`auth`] (token → tenant) → [`scim`] handlers →
//! [`provision`] (the Fastly rules) → [`store`] (KV) and [`upstream`] (the Fastly API).

pub mod app;
pub mod auth;
pub mod cache;
pub mod domains;
pub mod http;
pub mod provision;
pub mod scim;
pub mod store;
pub mod text;
pub mod time;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
pub mod edge;
