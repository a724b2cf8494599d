//! Bounded input, end to end: every hostile size or shape gets a precise SCIM error (never a
//! 500, never a crash), and what is refused before the core touches the account spends no
//! upstream call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use scim_edge::app::MAX_BODY_BYTES;
use scim_edge::scim::filter::{MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use scim_edge::scim::list::MAX_COUNT;
use serde_json::{json, Value};

const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn assert_scim_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"), "{:?}", r.body);
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{:?}", r.body);
    assert_eq!(r.body["status"], status.to_string());
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{:?}", r.body);
}

/// `body` with its `title` padded so that the JSON text is exactly `len` bytes.
fn padded(mut body: Value, len: usize) -> Value {
    body["title"] = json!("");
    let pad = len - body.to_string().len();
    body["title"] = json!("x".repeat(pad));
    assert_eq!(body.to_string().len(), len);
    body
}

fn create(s: &Stack, tag: &str) -> String {
    let r = s.post("/Users", &okta_user(&unique_email(tag), "Limit", "Tester"));
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_body_over_the_limit_is_413_before_anything_else() {
    let s = Stack::start();
    let id = create(&s, "limit-body");

    // Exactly at the limit: read and applied.
    let email = unique_email("limit-exact");
    let r = s.post("/Users", &padded(okta_user(&email, "Exact", "Limit"), MAX_BODY_BYTES));
    assert_eq!(r.status, 201, "{:?}", r.body);

    // One byte over, on every route that takes a body: 413, and nothing reaches Fastly.
    s.clear_upstream_requests();
    let over_email = unique_email("limit-over");
    let over = padded(okta_user(&over_email, "Over", "Limit"), MAX_BODY_BYTES + 1);
    for (method, path) in [
        ("POST", "/Users".to_owned()),
        ("PUT", format!("/Users/{id}")),
        ("PATCH", format!("/Users/{id}")),
        ("POST", "/Users/.search".to_owned()),
    ] {
        let r = s.scim(method, &path, SUPERUSER, Some(&over));
        assert_scim_error(&r, 413, None);
        assert!(r.body["detail"].as_str().unwrap().contains(&MAX_BODY_BYTES.to_string()), "{:?}", r.body);
    }
    // The size is checked before the credentials are, and a much larger body is answered too.
    assert_scim_error(&s.scim_with("POST", "/Users", &[], Some(&over)), 413, None);
    let huge = padded(okta_user(&over_email, "Huge", "Body"), 1024 * 1024);
    assert_scim_error(&s.post("/Users", &huge), 413, None);

    assert!(s.upstream_requests().is_empty(), "{:?}", s.upstream_requests());
    assert!(s.fastly_user_by_login(CUSTOMER_A, &over_email).is_none());
}

#[test]
fn deeply_nested_json_is_invalid_syntax_and_the_service_lives_on() {
    let s = Stack::start();
    let id = create(&s, "limit-nested");
    let auth = format!("Bearer {SUPERUSER}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/scim+json")];

    let open = "[".repeat(10_000);
    let balanced = format!("{open}{}", "]".repeat(10_000));
    let objects = format!("{}null{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000));
    let in_a_user = format!(r#"{{"userName":"deep@example.com","title":{balanced}}}"#);
    let in_a_patch = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"add","path":"title","value":{balanced}}}]}}"#
    );
    for body in [&open, &balanced, &objects, &in_a_user, &in_a_patch] {
        assert!(body.len() <= MAX_BODY_BYTES);
        for (method, path) in [
            ("POST", "/Users".to_owned()),
            ("PUT", format!("/Users/{id}")),
            ("PATCH", format!("/Users/{id}")),
            ("POST", "/Users/.search".to_owned()),
        ] {
            let r = s.scim_text(method, &path, &headers, Some(body)).expect("an answer, not a dropped connection");
            assert_scim_error(&r, 400, Some("invalidSyntax"));
            assert!(r.body["detail"].as_str().unwrap().contains("not valid JSON"), "{:?}", r.body);
        }
    }
    // Nesting the parser accepts is still bounded by the reader: a title must be a string.
    let shallow = format!(r#"{{"userName":"deep@example.com","title":{}{}}}"#, "[".repeat(100), "]".repeat(100));
    let r = s.scim_text("POST", "/Users", &headers, Some(&shallow)).unwrap();
    assert_scim_error(&r, 400, Some("invalidValue"));

    assert_eq!(s.get("/ServiceProviderConfig").status, 200);
    assert_eq!(s.get(&format!("/Users/{id}")).status, 200);
}

#[test]
fn thousands_of_values_are_invalid_value_without_an_upstream_write() {
    let s = Stack::start();
    let id = create(&s, "limit-values");
    s.clear_upstream_requests();
    let email = unique_email("limit-values");
    let mut body = okta_user(&email, "Many", "Values");
    body["emails"] = json!((0..5_000).map(|i| format!("u{i}@x.io")).collect::<Vec<_>>());
    let started = std::time::Instant::now();
    let r = s.post("/Users", &body);
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("at most 100 values"), "{:?}", r.body);
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"add","path":"emails","value":(0..11_000).collect::<Vec<_>>()}]});
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&ops));
    assert_scim_error(&r, 400, Some("invalidValue"));
    // Refused in proportion to their size, not their square (they took seconds of CPU each).
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    assert!(s.upstream_writes().is_empty(), "{:?}", s.upstream_writes());
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());
}

#[test]
fn filters_longer_or_deeper_than_the_limits_are_invalid_filter() {
    let s = Stack::start();
    s.get("/ServiceProviderConfig");

    let long_at = |len: usize| {
        let f = format!(r#"userName eq "{}""#, "a".repeat(len - r#"userName eq """#.len()));
        assert_eq!(f.len(), len);
        f
    };
    let nested = |depth: usize| format!("{}userName pr{}", "(".repeat(depth), ")".repeat(depth));
    let nots = |depth: usize| format!("{}userName pr{}", "not (".repeat(depth), ")".repeat(depth));

    // At the limits: answered.
    for ok in [long_at(MAX_FILTER_LEN), nested(MAX_FILTER_DEPTH), nots(MAX_FILTER_DEPTH)] {
        let r = s.get(&format!("/Users?filter={}", enc(&ok)));
        assert_eq!(r.status, 200, "{:?}", r.body);
    }

    s.clear_upstream_requests();
    let too_long = long_at(MAX_FILTER_LEN + 1);
    let bad = [
        (too_long.clone(), "at most 4096"),
        (nested(MAX_FILTER_DEPTH + 1), "nests"),
        (nots(MAX_FILTER_DEPTH + 1), "nests"),
        (format!("{}userName pr{}", "(".repeat(2_000), ")".repeat(2_000)), "nests"),
        ("(".repeat(10_000), "bytes long"),
        (format!("userName pr{}", " and userName pr".repeat(300)), "bytes long"),
    ];
    for (filter, why) in &bad {
        let r = s.get(&format!("/Users?filter={}", enc(filter)));
        assert_scim_error(&r, 400, Some("invalidFilter"));
        assert!(r.body["detail"].as_str().unwrap().contains(why), "{why}: {:?}", r.body);
        assert!(r.body["detail"].as_str().unwrap().len() < 300, "the detail does not echo the filter");

        let search = json!({"schemas": [SEARCH_REQUEST], "filter": filter});
        let r = s.post("/Users/.search", &search);
        assert_scim_error(&r, 400, Some("invalidFilter"));
    }
    // A PATCH path's value filter has the same bounds: invalidPath, as the path is what is wrong.
    let id = create(&s, "limit-filter");
    s.clear_upstream_requests();
    let ops = json!({"schemas":[PATCH_OP],"Operations":[
        {"op":"remove","path":format!("emails[{}]", nested(MAX_FILTER_DEPTH + 1).replace("userName", "value"))}
    ]});
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&ops));
    assert_scim_error(&r, 400, Some("invalidPath"));
    // Refused before the account is listed, or the user even read.
    assert!(s.upstream_requests().is_empty(), "{:?}", s.upstream_requests());
}

#[test]
fn count_above_the_maximum_is_capped_at_what_is_advertised() {
    let s = Stack::start();
    let advertised = s.get("/ServiceProviderConfig").body["filter"]["maxResults"].as_u64().unwrap();
    assert_eq!(advertised, MAX_COUNT as u64);
    // More users than one page holds, made in the control panel (imports list them).
    for i in 0..=MAX_COUNT {
        let login = format!("paging.{i}.{}@example.com", std::process::id());
        let r = s.fastly_form("POST", "/user", SUPERUSER, &[("login", &login), ("name", "Paging User")]);
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    for count in ["100000", "2147483648", "99999999999999999999999999"] {
        let r = s.get(&format!("/Users?count={count}"));
        assert_eq!(r.status, 200, "{count}: {:?}", r.body);
        assert!(r.body["totalResults"].as_u64().unwrap() > advertised);
        assert_eq!(r.body["itemsPerPage"].as_u64(), Some(advertised), "{count}");
        assert_eq!(r.body["Resources"].as_array().unwrap().len() as u64, advertised);
    }
    let r = s.post("/Users/.search", &json!({"schemas": [SEARCH_REQUEST], "count": 100000, "startIndex": 2}));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["itemsPerPage"].as_u64(), Some(advertised));
    assert_eq!(r.body["startIndex"], 2);
    // Past the end, and a negative count: empty pages, not errors.
    let r = s.get("/Users?startIndex=99999999999999999999&count=5");
    assert_eq!((r.status, r.body["itemsPerPage"].as_u64()), (200, Some(0)), "{:?}", r.body);
    let r = s.get("/Users?count=-99999999999999999999");
    assert_eq!((r.status, r.body["itemsPerPage"].as_u64()), (200, Some(0)), "{:?}", r.body);
}

#[test]
fn huge_headers_are_refused_or_ignored_never_500() {
    let s = Stack::start();
    let big = "A".repeat(60 * 1024);
    for auth in [format!("Bearer {big}"), format!("Basic {big}"), big.clone(), format!("Bearer {SUPERUSER} {big}")] {
        let r = s
            .scim_text("GET", "/Users?count=1", &[("Authorization", &auth)], None)
            .expect("an answer, not a dropped connection");
        assert_scim_error(&r, 401, None);
        assert!(r.header("www-authenticate").is_some());
    }
    // A large header that is not a credential changes nothing.
    let auth = format!("Bearer {SUPERUSER}");
    for name in ["X-Padding", "If-None-Match", "Accept"] {
        let r = s.scim_text("GET", "/Users?count=1", &[("Authorization", &auth), (name, &big)], None).unwrap();
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
    }
    let id = create(&s, "limit-header");
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"title","value":"T"}]});
    let r = s.scim_with(
        "PATCH",
        &format!("/Users/{id}"),
        &[("Authorization", &auth), ("If-Match", &format!("\"{big}\""))],
        Some(&ops),
    );
    assert_scim_error(&r, 412, None);
}

#[test]
fn ids_that_are_not_well_formed_are_404_without_an_upstream_request() {
    let s = Stack::start();
    // Warm the token cache: from here on, only the user lookups themselves could reach Fastly.
    assert_eq!(s.get("/ServiceProviderConfig").status, 200);
    let users_before = s.fastly_users(CUSTOMER_A).len();
    s.clear_upstream_requests();

    let long = "a".repeat(1000);
    let ids = [
        "..%2F..%2F_emulator",
        "..%2F..%2Fcustomer%2F51MumwLiSJyFTWhtbByYgR%2Fusers",
        "%00",
        "a%20b",
        "a%0Ab",
        "%E2%80%AE",
        long.as_str(),
    ];
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"active","value":false}]});
    let put = okta_user("put@example.com", "Put", "Body");
    for id in ids {
        let path = format!("/Users/{id}");
        for (method, body) in [("GET", None), ("PUT", Some(&put)), ("PATCH", Some(&ops)), ("DELETE", None)] {
            let r = s.scim(method, &path, SUPERUSER, body);
            assert_scim_error(&r, 404, None);
            assert!(r.body["detail"].as_str().unwrap().len() < 1200);
        }
    }
    let requests = s.upstream_requests();
    assert!(requests.is_empty(), "no upstream request: {requests:?}");
    assert_eq!(s.fastly_users(CUSTOMER_A).len(), users_before);

    // Whereas a well-formed id that is not stored is looked up in Fastly (the log does record).
    s.clear_upstream_requests();
    assert_scim_error(&s.get("/Users/0NoSuchUser0000000000a"), 404, None);
    let requests = s.upstream_requests();
    assert!(requests.iter().any(|r| r["path"].as_str().is_some_and(|p| p.contains("0NoSuchUser"))), "{requests:?}");
}

#[test]
fn only_json_media_types_are_read() {
    let s = Stack::start();
    let id = create(&s, "limit-media");
    let auth = format!("Bearer {SUPERUSER}");
    s.clear_upstream_requests();
    let email = unique_email("limit-media-415");
    let body = okta_user(&email, "Media", "Type");
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"title","value":"T"}]});
    let search = json!({"schemas": [SEARCH_REQUEST], "count": 1});
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json-patch+json",
        "json",
    ] {
        let h = [("Authorization", auth.as_str()), ("Content-Type", ct)];
        for (method, path, body) in [
            ("POST", "/Users".to_owned(), &body),
            ("PUT", format!("/Users/{id}"), &body),
            ("PATCH", format!("/Users/{id}"), &ops),
            ("POST", "/Users/.search".to_owned(), &search),
        ] {
            let r = s.scim_with(method, &path, &h, Some(body));
            assert_scim_error(&r, 415, None);
            assert!(r.body["detail"].as_str().unwrap().contains("application/scim+json"), "{:?}", r.body);
        }
    }
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());
    s.clear_upstream_requests();

    for (ct, tag) in
        [("application/json", "limit-media-json"), ("application/scim+json; charset=utf-8", "limit-media-scim")]
    {
        let h = [("Authorization", auth.as_str()), ("Content-Type", ct)];
        let r = s.scim_with("POST", "/Users", &h, Some(&okta_user(&unique_email(tag), "Media", "Ok")));
        assert_eq!(r.status, 201, "{ct}: {:?}", r.body);
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        let r = s.scim_with("PATCH", &format!("/Users/{id}"), &h, Some(&ops));
        assert_eq!(r.status, 200, "{ct}: {:?}", r.body);
        let r = s.scim_with("POST", "/Users/.search", &h, Some(&search));
        assert_eq!(r.status, 200, "{ct}: {:?}", r.body);
    }
}
