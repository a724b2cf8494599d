//! The Fastly Compute entry point: adapt the request, run the app, adapt the response.

#[cfg(target_arch = "wasm32")]
#[fastly::main]
fn main(req: fastly::Request) -> Result<fastly::Response, fastly::Error> {
    Ok(scim_edge::edge::handle(req))
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("scim-edge runs on Fastly Compute: build it with `--target wasm32-wasip1` (see README.md)");
}
