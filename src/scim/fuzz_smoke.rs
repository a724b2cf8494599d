//! The fuzz smoke: a stable, bounded stand-in for `make fuzz` that runs with the unit tests on
//! any toolchain. It feeds the four fuzz entry points ([`super::fuzz`]) the seed corpus of
//! `fuzz/seeds/`, mutations of it, and thousands of inputs built from the SCIM vocabulary by a
//! deterministic PRNG, and asserts what the fuzz targets assert: no panic, every error a 4xx.
//! The same seed gives the same inputs on every machine, so a failure names its input and
//! reproduces.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::fuzz;
use super::schema::{CORE_USER, ENTERPRISE_USER, FASTLY_USER};
use crate::scim::patch::PATCH_OP;

/// SplitMix64: tiny, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ATTRIBUTES: &[&str] = &[
    "userName",
    "name",
    "name.givenName",
    "name.familyName",
    "name.formatted",
    "displayName",
    "nickName",
    "title",
    "userType",
    "locale",
    "timezone",
    "active",
    "password",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "phoneNumbers",
    "phoneNumbers.value",
    "addresses",
    "addresses.postalCode",
    "roles",
    "roles.value",
    "roles.primary",
    "groups",
    "groups.display",
    "id",
    "externalId",
    "meta",
    "meta.created",
    "meta.lastModified",
    "meta.version",
    "schemas",
    "ims",
    "x509Certificates",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:fastly:2.0:User:role",
    "urn:ietf:params:scim:schemas:extension:fastly:2.0:User:userId",
    "urn:ietf:params:scim:schemas:extension:fastly:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:nope:User:x",
    "USERNAME",
    "Emails.Value",
    "value",
    "type",
    "primary",
    "display",
];

const OPERATORS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "Pr", "xx"];

const LITERALS: &[&str] = &[
    "\"bjensen@example.com\"",
    "\"work\"",
    "\"\"",
    "\"engineer\"",
    "\"2011-05-13T04:42:34Z\"",
    "\"2024-02-29T23:59:60.123456789+23:59\"",
    "\"2023-02-29T00:00:00Z\"",
    "\"Zoë \\u00e9 \\\"q\\\" \\\\\"",
    "\"\\ud800\"",
    "\"\\u",
    "\"open",
    "true",
    "FALSE",
    "null",
    "0",
    "-1",
    "12.5e3",
    "1e400",
    "-",
    "00",
    "18446744073709551616",
];

const PUNCTUATION: &[&str] = &["(", ")", "[", "]", "].", " and ", " or ", "not ", "not (", " ", "\t", ".", "\"", "\\"];

fn filter_text(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..1 + rng.below(24) {
        let piece = match rng.below(10) {
            0..=2 => rng.pick(ATTRIBUTES),
            3 | 4 => rng.pick(OPERATORS),
            5 | 6 => rng.pick(LITERALS),
            _ => rng.pick(PUNCTUATION),
        };
        out.push_str(piece);
        if rng.chance(70) {
            out.push(' ');
        }
    }
    out
}

const STRING_PATHS: &[&str] = &[
    "userName",
    "displayName",
    "title",
    "name.givenName",
    "emails.value",
    "emails.type",
    "externalId",
    "id",
    "roles.value",
    "urn:ietf:params:scim:schemas:extension:fastly:2.0:User:role",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
];
const STRING_OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
const STRINGS: &[&str] = &["\"bjensen@example.com\"", "\"work\"", "\"\"", "\"engineer\"", "\"ZOË\"", "\"b\""];
const DATES: &[&str] = &["\"2011-05-13T04:42:34Z\"", "\"2010-01-23T04:56:22.5+01:00\"", "\"2099-12-31T23:59:60\""];

/// A comparison that type-checks, so the evaluator runs and not only the parser's error paths.
fn comparison(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("{} pr", rng.pick(ATTRIBUTES)),
        1 => format!("{} {} null", rng.pick(STRING_PATHS), rng.pick(&["eq", "ne"])),
        2 => format!(
            "{} {} {}",
            rng.pick(&["active", "emails.primary"]),
            rng.pick(&["eq", "ne"]),
            rng.pick(&["true", "False"])
        ),
        3 => format!(
            "{} {} {}",
            rng.pick(&["meta.created", "meta.lastModified"]),
            rng.pick(&["eq", "ne", "gt", "ge", "lt", "le"]),
            rng.pick(DATES)
        ),
        4 => format!("emails[type eq {} and value {} {}]", rng.pick(STRINGS), rng.pick(STRING_OPS), rng.pick(STRINGS)),
        5 => format!("roles[value eq {} or primary eq true]", rng.pick(STRINGS)),
        _ => format!("{} {} {}", rng.pick(STRING_PATHS), rng.pick(STRING_OPS), rng.pick(STRINGS)),
    }
}

fn structured_filter(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.chance(40) {
        return comparison(rng);
    }
    let a = structured_filter(rng, depth - 1);
    let b = structured_filter(rng, depth - 1);
    match rng.below(4) {
        0 => format!("{a} and {b}"),
        1 => format!("{a} or {b}"),
        2 => format!("not ({a})"),
        _ => format!("({a}) and not ({b})"),
    }
}

fn json_scalar(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.pick(&["True", "false", "FALSE", "yes"])),
        3 => json!(rng.next() as i64),
        4 => json!(-0.5),
        5 => json!(""),
        6 => json!(rng.pick(&["user", "engineer", "superuser", "billing", "Boss", "nope"])),
        7 => json!(rng.pick(&["work", "home", "a@example.com", "2024-01-31T12:00:00Z", "Zoë"])),
        _ => json!(rng.pick(ATTRIBUTES)),
    }
}

fn json_value(rng: &mut Rng, depth: usize) -> Value {
    if depth == 0 {
        return json_scalar(rng);
    }
    match rng.below(6) {
        0 | 1 => json_scalar(rng),
        2 | 3 => {
            let mut m = Map::new();
            for _ in 0..rng.below(5) {
                m.insert(rng.pick(ATTRIBUTES).to_string(), json_value(rng, depth - 1));
            }
            Value::Object(m)
        }
        _ => Value::Array((0..rng.below(4)).map(|_| json_value(rng, depth - 1)).collect()),
    }
}

fn patch_path(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => json!(7),
        2 => json!(""),
        3 => json!(format!("emails[{}]", filter_text(rng))),
        4 => json!(format!(
            "{}[type eq {}].{}",
            rng.pick(&["emails", "phoneNumbers", "roles", "addresses", "name", "title"]),
            rng.pick(LITERALS),
            rng.pick(&["value", "type", "primary", "display", "nope"])
        )),
        _ => json!(rng.pick(ATTRIBUTES)),
    }
}

/// A path and a value of its type: most of these apply, so `apply` and the reader run.
fn typed_operation(rng: &mut Rng) -> (String, Value) {
    let text = json!(rng.pick(&["Babs", "bjensen@example.com", "ZOË", "engineer", "billing", "work"]));
    match rng.below(9) {
        0 => ("active".into(), json!(rng.pick(&[json!(true), json!(false), json!("True"), json!("false")]))),
        1 => ("emails".into(), json!([{"value": "n@example.com", "type": "work", "primary": rng.chance(50)}])),
        2 => (
            format!("emails[type eq {}].{}", rng.pick(STRINGS), rng.pick(&["value", "primary", "display"])),
            if rng.chance(30) { json!(true) } else { text },
        ),
        3 => ("roles".into(), json!([{"value": rng.pick(&["user", "billing", "engineer"])}])),
        4 => ("name".into(), json!({"givenName": text, "familyName": "J"})),
        5 => (format!("{ENTERPRISE_USER}:manager"), if rng.chance(50) { text } else { json!({"value": text}) }),
        6 => (FASTLY_USER.into(), json!({"role": rng.pick(&["user", "engineer"])})),
        _ => (rng.pick(&STRING_PATHS[..4]).to_string(), text),
    }
}

fn patch_body(rng: &mut Rng) -> Value {
    let ops: Vec<Value> = (0..1 + rng.below(4))
        .map(|_| {
            if rng.chance(60) {
                let (path, value) = typed_operation(rng);
                return match rng.below(4) {
                    0 => json!({"op": "remove", "path": path}),
                    1 => json!({"op": "Replace", "value": {path: value}}),
                    _ => json!({"op": rng.pick(&["add", "replace"]), "path": path, "value": value}),
                };
            }
            let mut op = Map::new();
            op.insert("op".into(), json!(rng.pick(&["add", "replace", "remove", "Add", "Replace", "move"])));
            if rng.chance(80) {
                op.insert("path".into(), patch_path(rng));
            }
            if rng.chance(85) {
                op.insert("value".into(), json_value(rng, 3));
            }
            Value::Object(op)
        })
        .collect();
    let schemas = if rng.chance(95) { json!([PATCH_OP]) } else { json_value(rng, 1) };
    json!({"schemas": schemas, "Operations": ops})
}

fn user_body(rng: &mut Rng) -> Value {
    let mut m = Map::new();
    if rng.chance(90) {
        m.insert("userName".into(), json_scalar(rng));
    }
    for _ in 0..rng.below(8) {
        let key = match rng.below(4) {
            0 => rng.pick(&[ENTERPRISE_USER, FASTLY_USER, CORE_USER, "schemas"]).to_string(),
            _ => rng.pick(ATTRIBUTES).to_string(),
        };
        m.insert(key, json_value(rng, 3));
    }
    Value::Object(m)
}

fn authorization(rng: &mut Rng) -> Vec<u8> {
    let scheme = rng.pick(&["Bearer ", "bearer  ", "Basic ", "BASIC ", "Token ", "", " ", "Bearer\t"]);
    let mut out = scheme.as_bytes().to_vec();
    let creds: Vec<u8> = (0..rng.below(40)).map(|_| (rng.next() % 256) as u8).collect();
    if scheme.trim().eq_ignore_ascii_case("basic") && rng.chance(70) {
        use base64::Engine;
        let mut plain = b"okta:".to_vec();
        plain.extend(&creds);
        out.extend(base64::engine::general_purpose::STANDARD.encode(plain).bytes());
    } else if rng.chance(60) {
        out.extend(creds.iter().map(|b| b'!' + b % 94));
    } else {
        out.extend(creds);
    }
    out
}

/// libFuzzer-style mutations of a seed: flip, insert, delete and duplicate bytes.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => out.insert(at, *rng.pick(b"[](){}\":,\\. \x00\xff")),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => {
                let end = (at + rng.below(16)).min(out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            _ => out.insert(at, (rng.next() % 256) as u8),
        }
    }
    out
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

/// Runs `check` on every seed, `mutations` mutations of each, and `generated` generated inputs.
fn smoke(
    target: &str,
    check: fn(&[u8]) -> Result<(), fuzz::Violation>,
    mutations: usize,
    generated: usize,
    generate: fn(&mut Rng) -> Vec<u8>,
) {
    let started = Instant::now();
    let run = |origin: &str, input: &[u8]| {
        if let Err(v) = check(input) {
            panic!("{target}: {v}\n  input ({origin}): {:?}", String::from_utf8_lossy(input));
        }
    };
    let seeds = seeds(target);
    let mut rng = Rng(0x5C1A_ED6E ^ target.len() as u64);
    for (name, seed) in &seeds {
        run(name, seed);
        for i in 0..mutations {
            run(&format!("mutation {i} of {name}"), &mutate(&mut rng, seed));
        }
    }
    for i in 0..generated {
        run(&format!("generated input {i}"), &generate(&mut rng));
    }
    let took = started.elapsed();
    eprintln!("{target}: {} seeds, {} inputs in {took:?}", seeds.len(), seeds.len() * (1 + mutations) + generated);
}

#[test]
fn filter_inputs_never_panic_and_fail_as_4xx() {
    smoke("filter", fuzz::filter, 10, 1500, |rng| {
        let text = if rng.chance(50) { filter_text(rng) } else { structured_filter(rng, 4) };
        text.into_bytes()
    });
    // The generator reaches the evaluator, not only the parser's errors.
    let mut rng = Rng(7);
    let parsed = (0..400).filter(|_| super::filter::parse(&structured_filter(&mut rng, 4)).is_ok()).count();
    assert!(parsed >= 100, "only {parsed} of 400 generated filters parse");
}

#[test]
fn patch_inputs_never_panic_and_fail_as_4xx() {
    smoke("patch", fuzz::patch, 10, 1200, |rng| patch_body(rng).to_string().into_bytes());
    // The generator reaches `apply`, and some bodies apply cleanly.
    let mut rng = Rng(7);
    let applied = (0..400)
        .filter(|_| {
            let ops = super::patch::parse(&patch_body(&mut rng));
            ops.is_ok_and(|ops| super::patch::apply(&mut fuzz::fixed_user(), &ops).is_ok())
        })
        .count();
    assert!(applied >= 40, "only {applied} of 400 generated PATCH bodies apply");
}

#[test]
fn user_inputs_never_panic_and_fail_as_4xx() {
    smoke("user", fuzz::user, 15, 1500, |rng| user_body(rng).to_string().into_bytes());
    let mut rng = Rng(7);
    let read = (0..400).filter(|_| super::user::read(&user_body(&mut rng)).is_ok()).count();
    assert!(read >= 40, "only {read} of 400 generated Users are read");
}

#[test]
fn authorization_inputs_never_panic_and_fail_as_4xx() {
    smoke("authorization", fuzz::authorization, 50, 3000, authorization);
}
