//! The floor of `make bench`: read one value from a KV store and return it as JSON. Whatever
//! scim-edge spends beyond this is its own work (auth, SCIM, upstream calls).

use fastly::http::StatusCode;
use fastly::kv_store::{KVStore, KVStoreError};
use fastly::mime::APPLICATION_JSON;
use fastly::{Error, Request, Response};

const STORE: &str = "bench_state";
const KEY: &str = "user";

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    let Some(store) = KVStore::open(STORE)? else {
        return Ok(Response::from_status(StatusCode::INTERNAL_SERVER_ERROR));
    };
    match store.lookup(KEY) {
        Ok(mut found) => Ok(Response::from_status(StatusCode::OK)
            .with_content_type(APPLICATION_JSON)
            .with_body(found.take_body_bytes())),
        Err(KVStoreError::ItemNotFound) => Ok(Response::from_status(StatusCode::NOT_FOUND)),
        Err(e) => Err(e.into()),
    }
}
