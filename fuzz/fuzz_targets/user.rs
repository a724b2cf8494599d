//! The User reader (POST/PUT bodies) and the rendering of what it accepts.
//! The checks live in `scim_edge::scim::fuzz`, shared with the host smoke test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = scim_edge::scim::fuzz::user(data) {
        panic!("{violation}");
    }
});
