//! The floor of `make bench`: read one value from a KV store and return it as JSON. Whatever
//! scim-edge spends beyond this is its own work (auth, SCIM, upstream calls).

use fastly::http::StatusCode;
use fastly::kv_store::{KVStore, KVStoreError};
use fastly::mime::APPLICATION_JSON;
use fastly::{Error, Request, Response};

const STORE: &str = "bench_state";
/// Read when the path names no key (`GET /`); `GET /<key>` reads that key.
const DEFAULT_KEY: &str = "user";

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let Some(store) = KVStore::open(STORE)? else {
        return Ok(Response::from_status(StatusCode::INTERNAL_SERVER_ERROR));
    };
    let key = match req.get_path().trim_start_matches('/') {
        "" => DEFAULT_KEY,
        key => key,
    };
    match store.lookup(key) {
        Ok(mut found) => Ok(Response::from_status(StatusCode::OK)
            .with_content_type(APPLICATION_JSON)
            .with_body(found.take_body_bytes())),
        Err(KVStoreError::ItemNotFound) => Ok(Response::from_status(StatusCode::NOT_FOUND)),
        Err(e) => Err(e.into()),
    }
}
