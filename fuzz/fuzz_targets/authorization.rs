//! The `Authorization` header parser (Bearer, Basic).
//! The checks live in `scim_edge::scim::fuzz`, shared with the host smoke test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = scim_edge::scim::fuzz::authorization(data) {
        panic!("{violation}");
    }
});
