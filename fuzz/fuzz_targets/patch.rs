//! The PATCH engine: parse a PatchOp body, apply it to a fixed user (all or nothing), read the result.
//! The checks live in `scim_edge::scim::fuzz`, shared with the host smoke test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = scim_edge::scim::fuzz::patch(data) {
        panic!("{violation}");
    }
});
