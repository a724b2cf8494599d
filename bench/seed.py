#!/usr/bin/env python3
"""Seeds for `make bench` (scripts/bench.sh): N users of customer A, in three matching forms.

    bench/seed.py --users N --out DIR [--emulator-seed emulator/seed.json]
                  [--manifest fastly.toml --api-url http://127.0.0.1:8840/]

writes into DIR:
- emulator-seed.json  the emulator's default seed (tokens included) with N more users in customer A;
- kv.json             the Viceroy KV store `scim_state` (`[local_server.kv_stores]` file form): for each
                      user the scim-edge record and its userName, Fastly-id and email indexes, and the
                      account's directory, as if Okta had created it through scim-edge
                      (src/store/keys.rs, `UserRecord` and `write_indexes` in src/provision.rs,
                      src/provision/directory.rs);
- scim2-users.jsonl   one SCIM User per line with its id, for bench/scim2_seeded_server.py;
- targets.json        the ids, userName and page the driver asks for;
- fastly.toml         with --manifest: that manifest for Viceroy, its Fastly API backends at --api-url,
                      its `scim_state` store loaded from kv.json, token verdicts cached for an hour (the
                      benchmark measures the warm path), and `fastly_sync_seconds` at the deployed
                      default (its `[setup]` value) rather than the local 0.

Everything is derived from the index of the user, so two runs write the same files.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import tomllib
import uuid

CUSTOMER_A = "51MumwLiSJyFTWhtbByYgR"
ROLES = ("user", "engineer", "billing")
STAMP = "2025-01-01T00:00:00Z"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def digest(s: str) -> str:
    """keys::digest: base64url(sha256(s)), no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(s.encode()).digest()).rstrip(b"=").decode()


def shard_of(scim_id: str) -> int:
    """directory::shard_of: the first byte of sha256(id), modulo the 64 shards."""
    return hashlib.sha256(scim_id.encode()).digest()[0] % 64


def fastly_id(i: int) -> str:
    """A 22-character base62 id like Fastly's, random-looking (no long shared prefixes)."""
    n = int.from_bytes(hashlib.sha256(f"bench-fastly-{i}".encode()).digest(), "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(BASE62[r])
    return "".join(out)


def scim_id(i: int) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(f"bench-scim-{i}".encode()).digest()[:16], version=4))


def person(i: int) -> dict:
    given, family = f"Bench{i:06d}", "User"
    return {
        "login": f"bench.user{i:06d}@example.com",
        "given": given,
        "family": family,
        "name": f"{given} {family}",
        "role": ROLES[i % len(ROLES)],
    }


def attributes(p: dict) -> dict:
    """What scim-edge stores of an Okta create (user::read of Okta's body): normalised, writable only."""
    return {
        "userName": p["login"],
        "name": {"givenName": p["given"], "familyName": p["family"]},
        "displayName": p["name"],
        "emails": [{"value": p["login"], "type": "work", "primary": True}],
    }


def record(i: int) -> dict:
    """The `UserRecord` serde shape (src/provision.rs)."""
    p = person(i)
    return {
        "id": scim_id(i),
        "attributes": attributes(p),
        "active": True,
        "role": p["role"],
        "role_detail": {},
        # Never compared with Fastly yet: the first read asks Fastly, then reads within
        # `fastly_sync_seconds` serve the record as stored.
        "synced_at": 0,
        "fastly_roles": [p["role"]],
        "fastly_id": fastly_id(i),
        "login": p["login"],
        "created": STAMP,
        "last_modified": STAMP,
        "revision": 1,
    }


def fold(s: str) -> str:
    """keys::fold: trimmed, lowercase."""
    return s.strip().lower()


def bench_manifest(manifest: str, api_url: str, kv_file: str) -> str:
    """The project's fastly.toml, pointed at the bench emulator and the seeded KV file."""
    with open(manifest) as f:
        text = f.read()
    # The inline entries of scim_state give way to the file form.
    text, _ = re.subn(r"\n[ \t]*\[\[local_server\.kv_stores\.scim_state\]\](\n[ \t]*\w+[ \t]*=.*)*", "", text)
    text, header = re.subn(
        r"^([ \t]*)\[local_server\.kv_stores\][ \t]*$",
        lambda m: f"{m.group(0)}\n{m.group(1)}  scim_state = {{ file = {json.dumps(kv_file)}, format = \"json\" }}",
        text,
        count=1,
        flags=re.M,
    )
    text = re.sub(r'url = "http://127\.0\.0\.1:8787/"', f"url = {json.dumps(api_url)}", text)
    text = re.sub(r'^([ \t]*auth_cache_ttl_seconds = )"\d+"', r'\1"3600"', text, count=1, flags=re.M)
    deployed = tomllib.loads(text)["setup"]["config_stores"]["scim_config"]["items"]
    sync = deployed.get("fastly_sync_seconds", {}).get("value")
    if sync is not None:
        text = re.sub(
            r'^([ \t]*fastly_sync_seconds = )"\d+"', lambda m: f'{m.group(1)}"{sync}"', text, count=1, flags=re.M
        )
    # Refuse a manifest this no longer understands rather than benchmark the wrong setup.
    local = tomllib.loads(text)["local_server"]
    backends = local["backends"]
    if (
        header != 1
        or local["kv_stores"].get("scim_state") != {"file": kv_file, "format": "json"}
        or backends["fastly_api"]["url"] != api_url
        or local["config_stores"]["scim_config"]["contents"].get("auth_cache_ttl_seconds") != "3600"
        or local["config_stores"]["scim_config"]["contents"].get("fastly_sync_seconds", sync) != sync
    ):
        raise SystemExit(f"bench/seed.py: cannot adapt {manifest} for the benchmark; update bench_manifest()")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--emulator-seed", default=os.path.join(os.path.dirname(__file__), "..", "emulator", "seed.json"))
    ap.add_argument("--manifest", help="the fastly.toml to adapt for Viceroy")
    ap.add_argument("--api-url", default="http://127.0.0.1:8840/", help="the emulator, as a backend URL")
    args = ap.parse_args()
    n = args.users
    os.makedirs(args.out, exist_ok=True)

    with open(args.emulator_seed) as f:
        seed = json.load(f)
    customer = next(c for c in seed["customers"] if c["id"] == CUSTOMER_A)
    kv = {}
    directory = {}
    with open(os.path.join(args.out, "scim2-users.jsonl"), "w") as scim2:
        for i in range(n):
            p, rec = person(i), record(i)
            fid = rec["fastly_id"]
            customer["users"].append(
                {"id": fid, "login": p["login"], "name": p["name"], "role": p["role"], "created_at": STAMP}
            )
            kv[f"t/{CUSTOMER_A}/user/{rec['id']}"] = json.dumps(rec, separators=(",", ":"))
            # A userName claim may also carry the time it was made (`<id> <unix seconds>`); without
            # one it is an old, settled claim, which is what these are.
            kv[f"t/{CUSTOMER_A}/name/{digest(fold(p['login']))}"] = rec["id"]
            kv[f"t/{CUSTOMER_A}/fastly/{digest(fid)}"] = rec["id"]
            kv[f"t/{CUSTOMER_A}/email/{digest(fold(p['login']))}/{rec['id']}"] = ""
            directory.setdefault(shard_of(rec["id"]), {})[rec["id"]] = fid
            user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": rec["id"], "active": True}
            user.update(attributes(p))
            user["roles"] = [{"value": p["role"], "primary": True}]
            scim2.write(json.dumps(user, separators=(",", ":")) + "\n")

    # The directory (src/provision/directory.rs): its shards and a version token.
    for shard, entries in directory.items():
        kv[f"t/{CUSTOMER_A}/dir/{shard:02d}"] = json.dumps(entries, separators=(",", ":"))
    kv[f"t/{CUSTOMER_A}/dirversion"] = "seed"

    with open(os.path.join(args.out, "emulator-seed.json"), "w") as f:
        json.dump(seed, f, separators=(",", ":"))
    with open(os.path.join(args.out, "kv.json"), "w") as f:
        json.dump(kv, f, separators=(",", ":"))
    if args.manifest:
        kv_file = os.path.abspath(os.path.join(args.out, "kv.json"))
        with open(os.path.join(args.out, "fastly.toml"), "w") as f:
            f.write(bench_manifest(args.manifest, args.api_url, kv_file))
    mid = n // 2
    targets = {
        "users": n,
        "id": scim_id(mid),
        "fastly_id": fastly_id(mid),
        # The KV key of that user's record (what the floor reads).
        "record_key": f"t/{CUSTOMER_A}/user/{scim_id(mid)}",
        "userName": person(mid)["login"],
        # A page of 100 in the middle of the listing (1-based startIndex).
        "start_index": max(1, n // 2 - 50),
        "count": 100,
    }
    with open(os.path.join(args.out, "targets.json"), "w") as f:
        json.dump(targets, f, indent=2)
    print(json.dumps(targets))


if __name__ == "__main__":
    main()
