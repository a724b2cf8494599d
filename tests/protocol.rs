//! The SCIM protocol end to end (RFC 7644): filters, `.search`, projection, ETags, discovery,
//! content types and error answers, through Viceroy and the emulated Fastly API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn assert_scim_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["schemas"], json!([ERROR]), "{:?}", r.body);
    assert_eq!(r.body["status"], status.to_string(), "status is a JSON string: {:?}", r.body);
    assert!(!r.body["detail"].as_str().unwrap_or("").is_empty(), "{:?}", r.body);
    assert_eq!(r.body.get("scimType").and_then(Value::as_str), scim_type, "{:?}", r.body);
}

fn create(s: &Stack, body: &Value) -> Value {
    let r = s.post("/Users", body);
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn filters_every_operator_logic_value_filters_and_urns() {
    let s = Stack::start();
    let ada = unique_email("protada");
    let grace = unique_email("protgrace");
    let linus = unique_email("protlinus");
    let mut a = okta_user(&ada, "Ada", "Lovelace");
    a["title"] = json!("Engineer");
    a[ENTERPRISE] = json!({"department": "R&D", "employeeNumber": "100"});
    a[FASTLY_USER] = json!({"role": "engineer"});
    let mut g = okta_user(&grace, "Grace", "Hopper");
    g["title"] = json!("Admiral");
    g[ENTERPRISE] = json!({"department": "Navy", "employeeNumber": "200"});
    g["emails"] = json!([{"value": grace, "type": "home", "primary": true}]);
    let mut l = okta_user(&linus, "Linus", "Torvalds");
    l[ENTERPRISE] = json!({"department": "R&D", "employeeNumber": "300"});
    l["roles"] = json!([{"value": "billing"}]);
    let ids: Vec<String> = [&a, &g, &l].iter().map(|b| create(&s, b)["id"].as_str().unwrap().to_owned()).collect();
    let r = s.scim(
        "PATCH",
        &format!("/Users/{}", ids[1]),
        SUPERUSER,
        Some(&json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"active","value":false}]})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let name_of = |id: &str| match ids.iter().position(|i| i == id) {
        Some(0) => "ada".to_owned(),
        Some(1) => "grace".to_owned(),
        Some(2) => "linus".to_owned(),
        _ => format!("other:{id}"),
    };
    // Every filter's matches, by user; users from the seed show as `other:<id>` and are kept
    // only where a case expects them.
    let run = |filter: &str| -> BTreeSet<String> {
        let r = s.get(&format!("/Users?filter={}&count=200", enc(filter)));
        assert_eq!(r.status, 200, "{filter}: {:?}", r.body);
        assert_eq!(r.body["totalResults"].as_u64().unwrap() as usize, r.body["Resources"].as_array().unwrap().len());
        r.body["Resources"].as_array().unwrap().iter().map(|u| name_of(u["id"].as_str().unwrap())).collect()
    };
    let ours =
        |filter: &str| -> BTreeSet<String> { run(filter).into_iter().filter(|n| !n.starts_with("other:")).collect() };
    let ent = |attr: &str| format!("{ENTERPRISE}:{attr}");

    let cases: Vec<(String, &[&str])> = vec![
        (format!("userName eq \"{}\"", ada.to_uppercase()), &["ada"]),
        ("title ne \"Engineer\"".into(), &["grace", "linus"]),
        ("userName co \"protgr\"".into(), &["grace"]),
        ("userName sw \"PROTLINUS.\"".into(), &["linus"]),
        (format!("emails.value ew \"{}\"", &grace[grace.len() - 20..]), &["grace"]),
        ("title pr".into(), &["ada", "grace"]),
        (format!("{} gt \"100\"", ent("employeeNumber")), &["grace", "linus"]),
        (format!("{} ge \"200\"", ent("employeeNumber")), &["grace", "linus"]),
        (format!("{} lt \"300\"", ent("employeeNumber")), &["ada", "grace"]),
        (format!("{} le \"100\"", ent("employeeNumber")), &["ada"]),
        ("meta.created gt \"2000-01-01T00:00:00Z\" and userName sw \"prot\"".into(), &["ada", "grace", "linus"]),
        ("meta.lastModified lt \"2000-01-01T00:00:00Z\"".into(), &[]),
        ("active eq false".into(), &["grace"]),
        ("title eq \"Engineer\" or title eq \"Admiral\"".into(), &["ada", "grace"]),
        (format!("{} eq \"r&d\" and not (title pr)", ent("department")), &["linus"]),
        (format!("not ({} eq \"R&D\") and userName sw \"prot\"", ent("department")), &["grace"]),
        (format!("(title eq \"Engineer\" or {} eq \"Navy\") and active eq true", ent("department")), &["ada"]),
        ("emails[type eq \"home\" and value co \"protgrace\"]".into(), &["grace"]),
        ("emails[type eq \"work\"] and userName sw \"prot\"".into(), &["ada", "linus"]),
        (format!("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"{linus}\""), &["linus"]),
        (format!("{FASTLY_USER}:role eq \"engineer\" and userName sw \"prot\""), &["ada"]),
        ("roles[value eq \"billing\"] and userName sw \"prot\"".into(), &["linus"]),
        (format!("externalId eq \"00u{}\" and name.givenName eq \"Ada\"", ada.len()), &["ada"]),
        (format!("id eq \"{}\"", ids[2]), &["linus"]),
        ("USERNAME SW \"protada\" AND Name.FamilyName Eq \"lovelace\"".into(), &["ada"]),
    ];
    for (filter, want) in &cases {
        assert_eq!(ours(filter), set(want), "filter: {filter}");
    }
    // Control-panel users match too: Dave's role is billing.
    let billing = run(&format!("{FASTLY_USER}:role eq \"billing\""));
    assert!(billing.contains("linus") && billing.contains("other:1DaveBillingA000000000"), "{billing:?}");
    let alice = run("userName eq \"ALICE@example.com\"");
    assert_eq!(alice, set(&["other:1AliceEngineerA0000000"]));

    for bad in [
        "userName zz \"x\"",
        "userName eq",
        "userName eq \"unterminated",
        "(userName eq \"x\"",
        "nosuchattribute eq \"x\"",
        "password eq \"1mz050nq\"",
        "active eq \"yes\"",
        "title gt true",
    ] {
        let r = s.get(&format!("/Users?filter={}", enc(bad)));
        assert_scim_error(&r, 400, Some("invalidFilter"));
    }
}

#[test]
fn search_with_post() {
    let s = Stack::start();
    let email = unique_email("search");
    let created = create(&s, &okta_user(&email, "Search", "Me"));
    let id = created["id"].as_str().unwrap();

    for path in ["/Users/.search", "/.search"] {
        let body = json!({"schemas":[SEARCH],"filter":format!("userName eq \"{email}\""),
            "attributes":["userName","name.givenName"],"startIndex":1,"count":10});
        let r = s.post(path, &body);
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        assert_eq!(r.body["schemas"], json!([LIST]));
        assert_eq!(r.body["totalResults"], 1);
        assert_eq!(r.body["itemsPerPage"], 1);
        let u = &r.body["Resources"][0];
        assert_eq!(keys(u), set(&["id", "name", "schemas", "userName"]), "{u}");
        assert_eq!(u["id"], id);
        assert_eq!(u["name"], json!({"givenName": "Search"}));
    }
    // excludedAttributes as a comma-separated string; paging in the body.
    let body = json!({"schemas":[SEARCH],"excludedAttributes":"emails,meta","startIndex":2,"count":3});
    let r = s.post("/Users/.search", &body);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 3);
    assert_eq!(r.body["totalResults"], 7);
    for u in r.body["Resources"].as_array().unwrap() {
        assert!(u.get("emails").is_none() && u.get("meta").is_none(), "{u}");
        assert!(u["id"].is_string() && u["schemas"].is_array() && u["userName"].is_string(), "{u}");
    }
    // A search body must say what it is; a bad filter is invalidFilter here too.
    let r = s.post("/Users/.search", &json!({"filter": "userName pr"}));
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = s.post("/Users/.search", &json!({"schemas":[SEARCH],"filter":"userName eq"}));
    assert_scim_error(&r, 400, Some("invalidFilter"));
    // GET on .search is not a search.
    assert_eq!(s.get("/Users/.search").status, 404);
}

#[test]
fn projection_on_every_response_that_returns_users() {
    let s = Stack::start();
    let email = unique_email("proj");
    let mut body = okta_user(&email, "Pro", "Jection");
    body[ENTERPRISE] = json!({"department": "Optics"});

    // POST.
    let r = s.post("/Users?attributes=userName", &body);
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(keys(&r.body), set(&["id", "schemas", "userName"]), "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(r.header("location").is_some() && r.header("etag").is_some());

    // GET: attributes, sub-attributes, extension attributes.
    let r = s.get(&format!("/Users/{id}?attributes=name.givenName,emails.value,{ENTERPRISE}:department"));
    assert_eq!(r.status, 200);
    assert_eq!(keys(&r.body), set(&["emails", "id", "name", "schemas", ENTERPRISE]), "{:?}", r.body);
    assert_eq!(r.body["name"], json!({"givenName": "Pro"}));
    assert_eq!(r.body["emails"], json!([{"value": email}]));
    assert_eq!(r.body[ENTERPRISE], json!({"department": "Optics"}));
    // excludedAttributes; id and schemas cannot be excluded.
    let r = s.get(&format!("/Users/{id}?excludedAttributes=id,schemas,emails,meta,name.familyName"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id.as_str());
    assert!(r.body["schemas"].is_array());
    assert!(r.body.get("emails").is_none() && r.body.get("meta").is_none());
    assert_eq!(r.body["name"], json!({"givenName": "Pro"}));
    assert_eq!(r.body["userName"], email.as_str());
    // Asking for password never returns it.
    let r = s.get(&format!("/Users/{id}?attributes=password,userName"));
    assert_eq!(keys(&r.body), set(&["id", "schemas", "userName"]), "{:?}", r.body);

    // List.
    let r = s.get(&format!("/Users?filter={}&attributes=active", enc(&format!("userName eq \"{email}\""))));
    assert_eq!(r.status, 200);
    assert_eq!(keys(&r.body["Resources"][0]), set(&["active", "id", "schemas"]), "{:?}", r.body);
    let r = s.get("/Users?excludedAttributes=name,emails&count=50");
    for u in r.body["Resources"].as_array().unwrap() {
        assert!(u.get("name").is_none() && u.get("emails").is_none() && u.get("password").is_none(), "{u}");
        assert!(u["id"].is_string() && u["schemas"].is_array());
    }

    // PUT.
    let mut put = body.clone();
    put["title"] = json!("Lens Maker");
    let r = s.scim("PUT", &format!("/Users/{id}?attributes=title"), SUPERUSER, Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(keys(&r.body), set(&["id", "schemas", "title"]), "{:?}", r.body);
    assert_eq!(r.body["title"], "Lens Maker");

    // PATCH.
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"nickName","value":"Proj"}]});
    let r = s.scim(
        "PATCH",
        &format!("/Users/{id}?excludedAttributes=name,emails,meta,{ENTERPRISE}"),
        SUPERUSER,
        Some(&ops),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["nickName"], "Proj");
    assert!(r.body.get("name").is_none() && r.body.get(ENTERPRISE).is_none() && r.body.get("meta").is_none());
    assert_eq!(r.body["id"], id.as_str());

    // Whatever is asked, no response ever carries the password.
    let full = s.get(&format!("/Users/{id}"));
    assert!(full.body.get("password").is_none());
    assert!(!full.body.to_string().contains("1mz050nq"));
}

#[test]
fn etags_and_preconditions() {
    let s = Stack::start();
    let email = unique_email("etag");
    let r = s.post("/Users", &okta_user(&email, "E", "Tag"));
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let v1 = r.header("etag").expect("an ETag on create").to_owned();
    assert_eq!(Some(v1.as_str()), r.body["meta"]["version"].as_str());

    let g = s.get(&format!("/Users/{id}"));
    assert_eq!(g.header("etag"), Some(v1.as_str()));
    assert_eq!(g.header("etag"), g.body["meta"]["version"].as_str());

    // If-None-Match with the current version: 304, nothing sent.
    let auth = format!("Bearer {SUPERUSER}");
    let r = s.scim_with("GET", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-None-Match", &v1)], None);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(v1.as_str()));
    assert_eq!(r.body, Value::Null);

    // A change with If-Match current: applied, new version.
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"title","value":"One"}]});
    let r = s.scim_with("PATCH", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-Match", &v1)], Some(&ops));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let v2 = r.header("etag").unwrap().to_owned();
    assert_ne!(v1, v2);
    assert_eq!(Some(v2.as_str()), r.body["meta"]["version"].as_str());

    // If-None-Match with the old version: the full resource.
    let r = s.scim_with("GET", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-None-Match", &v1)], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["title"], "One");

    // Stale If-Match on PATCH, PUT and DELETE: 412, nothing changed anywhere.
    s.clear_upstream_requests();
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"active","value":false}]});
    let r = s.scim_with("PATCH", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-Match", &v1)], Some(&ops));
    assert_scim_error(&r, 412, None);
    let mut put = okta_user(&email, "E", "Changed");
    put["active"] = json!(false);
    let r = s.scim_with("PUT", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-Match", &v1)], Some(&put));
    assert_scim_error(&r, 412, None);
    let r = s.scim_with("DELETE", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-Match", &v1)], None);
    assert_scim_error(&r, 412, None);
    assert!(s.upstream_writes().is_empty(), "{:?}", s.upstream_writes());
    let g = s.get(&format!("/Users/{id}"));
    assert_eq!(g.header("etag"), Some(v2.as_str()));
    assert_eq!(g.body["active"], true);
    assert_eq!(g.body["name"]["familyName"], "Tag");
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_some());

    // The current version (weak or strong form) passes.
    let strong = v2.trim_start_matches("W/").to_owned();
    let r = s.scim_with("PUT", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-Match", &strong)], Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    let v3 = r.header("etag").unwrap().to_owned();
    let r = s.scim_with("DELETE", &format!("/Users/{id}"), &[("Authorization", &auth), ("If-Match", &v3)], None);
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(s.get(&format!("/Users/{id}")).status, 404);
}

#[test]
fn discovery_endpoints() {
    let s = Stack::start();
    let r = s.get("/ServiceProviderConfig");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]));
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["filter"]["supported"], true);
    assert!(r.body["filter"]["maxResults"].is_u64());
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["sort"]["supported"], false);
    assert_eq!(r.body["changePassword"]["supported"], false);
    assert!(!r.body["authenticationSchemes"].as_array().unwrap().is_empty());
    assert_eq!(r.body["meta"]["location"], format!("{}/ServiceProviderConfig", s.base));

    let r = s.get("/ResourceTypes");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], "User");

    let r = s.get("/ResourceTypes/User");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["endpoint"], "/Users");
    assert_eq!(r.body["schema"], CORE_USER);
    let exts: Vec<&str> =
        r.body["schemaExtensions"].as_array().unwrap().iter().map(|e| e["schema"].as_str().unwrap()).collect();
    assert!(exts.contains(&ENTERPRISE) && exts.contains(&FASTLY_USER), "{exts:?}");
    assert_scim_error(&s.get("/ResourceTypes/Group"), 404, None);

    let r = s.get("/Schemas");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["schemas"], json!([LIST]));
    let ids: BTreeSet<String> =
        r.body["Resources"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, set(&[CORE_USER, ENTERPRISE, FASTLY_USER]));
    assert_eq!(r.body["totalResults"], 3);

    for urn in [CORE_USER, ENTERPRISE, FASTLY_USER] {
        let r = s.get(&format!("/Schemas/{urn}"));
        assert_eq!(r.status, 200, "{urn}: {:?}", r.body);
        assert_eq!(r.body["id"], urn);
        assert!(!r.body["attributes"].as_array().unwrap().is_empty());
    }
    let core = s.get(&format!("/Schemas/{CORE_USER}")).body;
    let attr = |n: &str| core["attributes"].as_array().unwrap().iter().find(|a| a["name"] == n).cloned().unwrap();
    assert_eq!(attr("password")["returned"], "never");
    assert_eq!(attr("userName")["uniqueness"], "server");
    assert_eq!(attr("groups")["mutability"], "readOnly");
    let fastly = s.get(&format!("/Schemas/{FASTLY_USER}")).body;
    let role = fastly["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "role").cloned().unwrap();
    assert!(role["canonicalValues"].as_array().unwrap().contains(&json!("engineer")));

    assert_scim_error(&s.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group"), 404, None);
    assert_scim_error(&s.get("/Schemas/nope"), 404, None);
}

#[test]
fn content_types() {
    let s = Stack::start();
    let auth = format!("Bearer {SUPERUSER}");
    let email = unique_email("ctype");
    let body = okta_user(&email, "Content", "Type");

    let r = s.scim_with("POST", "/Users", &[("Authorization", &auth), ("Content-Type", "text/plain")], Some(&body));
    assert_scim_error(&r, 415, None);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &email).is_none());

    let r =
        s.scim_with("POST", "/Users", &[("Authorization", &auth), ("Content-Type", "application/json")], Some(&body));
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let id = r.body["id"].as_str().unwrap().to_owned();

    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"title","value":"T"}]});
    for ct in ["application/scim+json; charset=utf-8", "application/json; charset=UTF-8", "Application/SCIM+JSON"] {
        let r = s.scim_with(
            "PATCH",
            &format!("/Users/{id}"),
            &[("Authorization", &auth), ("Content-Type", ct)],
            Some(&ops),
        );
        assert_eq!(r.status, 200, "{ct}: {:?}", r.body);
    }
    let r = s.scim_with(
        "PATCH",
        &format!("/Users/{id}"),
        &[("Authorization", &auth), ("Content-Type", "application/x-www-form-urlencoded")],
        Some(&ops),
    );
    assert_scim_error(&r, 415, None);

    // GETs with a content type and no body, as the Runscope SPEC test sends them.
    for ct in ["application/json", "application/scim+json; charset=utf-8"] {
        let headers = [("Authorization", auth.as_str()), ("Content-Type", ct), ("Accept", "application/scim+json")];
        for path in [format!("/Users/{id}"), "/Users?count=1".to_owned(), "/ServiceProviderConfig".to_owned()] {
            let r = s.scim_with("GET", &path, &headers, None);
            assert_eq!(r.status, 200, "{ct} {path}: {:?}", r.body);
            assert_eq!(r.header("content-type"), Some("application/scim+json"));
        }
    }

    // Not JSON at all, and no body.
    let raw = [("Authorization", auth.as_str()), ("Content-Type", "application/scim+json")];
    let r = s.scim_with("POST", "/Users", &raw, Some(&json!("not an object")));
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    let r = s.scim_with("POST", "/Users", &[("Authorization", auth.as_str())], None);
    assert_scim_error(&r, 400, Some("invalidSyntax"));
}

#[test]
fn errors_are_scim_json() {
    let s = Stack::start();
    let auth = format!("Bearer {SUPERUSER}");
    let h = [("Authorization", auth.as_str())];
    for path in ["/Nope", "/Users/x/y", "/Groups", "/Me", "/Bulk"] {
        assert_scim_error(&s.get(path), 404, None);
    }
    // Outside the SCIM base, too.
    let r = s.scim_with("GET", "/../../nope", &h, None);
    assert!(r.status == 404 || r.status == 400, "{:?}", r);

    let email = unique_email("errors");
    let created = create(&s, &okta_user(&email, "Err", "Ors"));
    let id = created["id"].as_str().unwrap().to_owned();
    for (method, path) in [
        ("DELETE", "/Users".to_owned()),
        ("PUT", "/Users".to_owned()),
        ("PATCH", "/Users".to_owned()),
        ("POST", format!("/Users/{id}")),
        ("POST", "/ServiceProviderConfig".to_owned()),
        ("DELETE", "/Schemas".to_owned()),
        ("PUT", "/ResourceTypes/User".to_owned()),
    ] {
        let r = s.scim_with(method, &path, &h, Some(&json!({})));
        assert_scim_error(&r, 405, None);
    }

    // Unknown ids on every method that names one.
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"title","value":"x"}]});
    let unknown = "/Users/00919288221112222";
    assert_scim_error(&s.scim("PUT", unknown, SUPERUSER, Some(&okta_user(&email, "A", "B"))), 404, None);
    assert_scim_error(&s.scim("PATCH", unknown, SUPERUSER, Some(&ops)), 404, None);
    assert_scim_error(&s.scim("DELETE", unknown, SUPERUSER, None), 404, None);

    // userName that is the Fastly login cannot change: mutability, and nothing is sent upstream.
    s.clear_upstream_requests();
    let other = unique_email("errors-renamed");
    let mut put = okta_user(&other, "Err", "Ors");
    put["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    let r = s.scim("PUT", &format!("/Users/{id}"), SUPERUSER, Some(&put));
    assert_scim_error(&r, 400, Some("mutability"));
    assert!(r.body["detail"].as_str().unwrap().contains("support"), "{:?}", r.body);
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"userName","value":other}]});
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&ops));
    assert_scim_error(&r, 400, Some("mutability"));
    assert!(s.upstream_writes().is_empty(), "{:?}", s.upstream_writes());
    assert_eq!(s.get(&format!("/Users/{id}")).body["userName"], email.as_str());
    // A change of case only is no change.
    let mut put = okta_user(&email.to_uppercase(), "Err", "Ors");
    put["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    let r = s.scim("PUT", &format!("/Users/{id}"), SUPERUSER, Some(&put));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["userName"], email.as_str());

    // Over the body limit: 413, SCIM JSON, nothing created.
    let big_email = unique_email("errors-big");
    let mut big = okta_user(&big_email, "Big", "Body");
    big["title"] = json!("x".repeat(70 * 1024));
    let r = s.post("/Users", &big);
    assert_scim_error(&r, 413, None);
    assert!(s.fastly_user_by_login(CUSTOMER_A, &big_email).is_none());
    // Just under the limit is fine.
    big["title"] = json!("x".repeat(60 * 1024));
    assert_eq!(s.post("/Users", &big).status, 201);

    // Bad paging is a 400 with scimType; a PATCH that does not parse is invalidSyntax.
    assert_scim_error(&s.get("/Users?startIndex=abc"), 400, Some("invalidValue"));
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&json!({"Operations": []})));
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"nosuch","value":"x"}]});
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&ops));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["status"], "400");
    let ops = json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"id","value":"mine"}]});
    let r = s.scim("PATCH", &format!("/Users/{id}"), SUPERUSER, Some(&ops));
    assert_scim_error(&r, 400, Some("mutability"));
}

#[test]
fn external_id_is_not_unique_and_filters_find_every_holder() {
    let s = Stack::start();
    let first = unique_email("ext-a");
    let second = unique_email("ext-b");
    let mut a = okta_user(&first, "Ext", "A");
    a["externalId"] = json!("shared-ext-id");
    let mut b = okta_user(&second, "Ext", "B");
    b["externalId"] = json!("shared-ext-id");
    let ids = BTreeSet::from([
        create(&s, &a)["id"].as_str().unwrap().to_owned(),
        create(&s, &b)["id"].as_str().unwrap().to_owned(),
    ]);
    let found = |filter: &str| -> BTreeSet<String> {
        let r = s.get(&format!("/Users?filter={}", enc(filter)));
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect()
    };
    // externalId has uniqueness "none" (RFC 7643 §3.1): both users hold it.
    assert_eq!(found("externalId eq \"shared-ext-id\""), ids);
    assert_eq!(found("externalId eq \"shared-ext-id\" and name.familyName eq \"A\"").len(), 1);
    // Deleting one holder leaves the other findable.
    let last = ids.iter().next_back().unwrap();
    assert_eq!(s.scim("DELETE", &format!("/Users/{last}"), SUPERUSER, None).status, 204);
    assert_eq!(found("externalId eq \"shared-ext-id\"").len(), 1);
}
