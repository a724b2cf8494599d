#!/usr/bin/env python3
"""The soak load driver (scripts/soak.sh starts the stack and runs this).

N client threads, one keep-alive connection each, send mixed SCIM reads and writes to scim-edge for
S seconds. Each thread owns its own people, so it knows what every answer must show: a read that
does not show the thread's last write counts as inconsistent. The emulator injects no fault, so
any 5xx is scim-edge's own. Afterwards the same audit as tests/chaos.rs: every SCIM user against
the emulator's users, no duplicate, nothing orphaned, and each thread's people as it believes them.

Python 3.11 standard library only. Exit status: 0 when the run and the audit are clean.
"""

import argparse
import collections
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
FASTLY = "urn:ietf:params:scim:schemas:extension:fastly:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CUSTOMER_A = "51MumwLiSJyFTWhtbByYgR"
ROLES = ["user", "billing", "engineer", "superuser", "tls_viewer", "tls_admin"]
GIVEN = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Radia"]
FAMILY = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Perlman"]
PASSWORD = "Soak-pw-1mz050nq"
PEOPLE_PER_CONNECTION = 3

# Operation mix (weights): mostly reads, as an IdP's steady state is, with every kind of write.
MIX = [
    ("get", 30),
    ("lookup", 20),
    ("import", 6),
    ("discovery", 4),
    ("role", 12),
    ("name", 10),
    ("echo", 6),
    ("toggle", 8),
    ("delete", 4),
]


class Person:
    def __init__(self, email, rng):
        self.email = email
        self.given = rng.choice(GIVEN)
        self.family = rng.choice(FAMILY)
        self.role = rng.choice(ROLES)
        self.active = True
        self.id = None

    def body(self):
        u = {
            "schemas": [CORE, FASTLY],
            "userName": self.email,
            "name": {"givenName": self.given, "familyName": self.family},
            "emails": [{"primary": True, "value": self.email, "type": "work"}],
            "displayName": f"{self.given} {self.family}",
            "externalId": "00u-" + self.email,
            "password": PASSWORD,
            "active": self.active,
            FASTLY: {"role": self.role},
        }
        if self.id:
            u["id"] = self.id
        return u

    def mismatch(self, u):
        """What an answer shows differently from what the client believes, or None."""
        shown = (u.get("id"), u.get("userName", "").lower(), u.get("active"), u.get(FASTLY, {}).get("role"),
                 u.get("name", {}).get("givenName"), u.get("name", {}).get("familyName"))
        want = (self.id, self.email.lower(), self.active, self.role, self.given, self.family)
        return None if shown == want else f"shown {shown}, believed {want}"


class Client:
    def __init__(self, host, port, token, timeout=30):
        self.host, self.port, self.token, self.timeout = host, port, token, timeout
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/scim+json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, OSError) as e:
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            return None, repr(e)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return resp.status, parsed


def plain(url, method="GET", body=None, headers=None):
    """One request to the emulator (its API or control socket)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, u.path + ("?" + u.query if u.query else ""), body=data, headers=headers or {})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, (json.loads(raw) if raw else None)


class Stats:
    def __init__(self):
        self.answers = collections.Counter()  # (op, status) -> n
        self.latency = collections.defaultdict(list)  # op -> seconds
        self.problems = []

    def merge(self, other):
        self.answers.update(other.answers)
        for k, v in other.latency.items():
            self.latency[k].extend(v)
        self.problems.extend(other.problems)


def worker(n, args, deadline_box, out, people_out, start_barrier):
    rng = random.Random(args.seed * 1000 + n)
    client = Client("127.0.0.1", args.edge_port, args.token)
    stats = Stats()
    people = [Person(f"soak{args.run}.{n}.{k}@example.com", rng) for k in range(PEOPLE_PER_CONNECTION)]
    ops, weights = zip(*MIX)
    start_barrier.wait()
    deadline = deadline_box[0]

    def call(op, method, path, body=None, want=(200,)):
        t0 = time.perf_counter()
        status, answer = client.request(method, path, body)
        stats.latency[op].append(time.perf_counter() - t0)
        stats.answers[(op, status if status is not None else "transport error")] += 1
        if status not in want and len(stats.problems) < 50:
            stats.problems.append(f"{op}: {method} {path} -> {status}: {str(answer)[:300]}")
        return status, answer

    def check(p, op, u):
        m = p.mismatch(u)
        if m:
            stats.answers[(op, "inconsistent")] += 1
            if len(stats.problems) < 50:
                stats.problems.append(f"{op} of {p.email}: {m}")

    while time.monotonic() < deadline:
        p = rng.choice(people)
        if p.id is None:
            p.active, p.role = True, rng.choice(ROLES)
            status, u = call("create", "POST", "/scim/v2/Users", p.body(), want=(201,))
            if status == 201:
                p.id = u["id"]
                check(p, "create", u)
            continue
        op = rng.choices(ops, weights)[0]
        path = f"/scim/v2/Users/{p.id}"
        if op == "get":
            status, u = call(op, "GET", path)
            if status == 200:
                check(p, op, u)
        elif op == "lookup":
            f = urllib.parse.quote(f'userName eq "{p.email}"', safe="")
            status, lst = call(op, "GET", f"/scim/v2/Users?filter={f}&startIndex=1&count=100")
            if status == 200:
                found = lst.get("Resources", [])
                if len(found) != 1:
                    stats.answers[(op, "inconsistent")] += 1
                    stats.problems.append(f"lookup of {p.email}: {len(found)} found")
                else:
                    check(p, op, found[0])
        elif op == "import":
            call(op, "GET", f"/scim/v2/Users?startIndex={rng.randint(1, 40)}&count=10")
        elif op == "discovery":
            call(op, "GET", "/scim/v2/" + rng.choice(["ServiceProviderConfig", "ResourceTypes", "Schemas"]))
        elif op == "role":
            p.role = rng.choice(ROLES)
            body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": FASTLY + ":role", "value": p.role}]}
            status, u = call(op, "PATCH", path, body)
            if status == 200:
                check(p, op, u)
        elif op in ("name", "echo"):
            if op == "name":
                p.given, p.family = rng.choice(GIVEN), rng.choice(FAMILY)
            status, u = call(op, "PUT", path, p.body())
            if status == 200:
                check(p, op, u)
        elif op == "toggle":
            p.active = not p.active
            body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": p.active}}]}
            status, u = call(op, "PATCH", path, body)
            if status == 200:
                check(p, op, u)
        elif op == "delete":
            status, _ = call(op, "DELETE", path, want=(204,))
            if status == 204:
                p.id = None
    out.append(stats)
    people_out.extend(people)


def import_all(client):
    attrs = urllib.parse.quote(f"userName,active,name,roles,{FASTLY}:role,{FASTLY}:userId", safe="")
    users, start = [], 1
    while True:
        status, page = client.request("GET", f"/scim/v2/Users?startIndex={start}&count=100&attributes={attrs}")
        if status != 200:
            raise SystemExit(f"soak: import failed: {status} {page}")
        res = page.get("Resources", [])
        users.extend(res)
        start += len(res)
        if not res or start > page["totalResults"]:
            if len(users) != page["totalResults"]:
                raise SystemExit(f"soak: the import pages hold {len(users)} users, totalResults {page['totalResults']}")
            return users


def audit(args, people):
    client = Client("127.0.0.1", args.edge_port, args.token)
    scim = import_all(client)
    status, fastly = plain(f"{args.api}/customer/{CUSTOMER_A}/users", headers={"Fastly-Key": args.token})
    if status != 200:
        raise SystemExit(f"soak: the emulator's user list failed: {status}")
    problems = []
    logins = collections.Counter(u["login"].lower() for u in fastly)
    problems += [f"{n} Fastly users with login {l}" for l, n in logins.items() if n > 1]
    by_id = {u["id"]: u for u in fastly}
    names, linked = collections.Counter(), collections.Counter()
    for u in scim:
        name = u["userName"].lower()
        names[name] += 1
        fid = u.get(FASTLY, {}).get("userId")
        f = by_id.get(fid)
        if u["active"]:
            if f is None:
                problems.append(f"SCIM {name} is active with no Fastly user ({fid})")
                continue
            linked[fid] += 1
            if f["login"].lower() != name:
                problems.append(f"SCIM {name} is linked to Fastly login {f['login']}")
            if f["role"] != u.get(FASTLY, {}).get("role"):
                problems.append(f"SCIM {name} has role {u.get(FASTLY, {}).get('role')}, Fastly {f['role']}")
        elif name in logins:
            problems.append(f"SCIM {name} is inactive but Fastly has the login")
    problems += [f"{n} SCIM users named {l}" for l, n in names.items() if n > 1]
    problems += [f"{n} SCIM users link Fastly {f}" for f, n in linked.items() if n > 1]
    problems += [f"Fastly user {u['id']} ({u['login']}) is linked by no SCIM user" for u in fastly if u["id"] not in linked]
    for p in people:
        name = p.email.lower()
        shown = [u for u in scim if u["userName"].lower() == name]
        in_fastly = [u for u in fastly if u["login"].lower() == name]
        if p.id is None:
            if shown or in_fastly:
                problems.append(f"{name} was deleted, but SCIM shows {len(shown)} and Fastly {len(in_fastly)}")
            continue
        if len(shown) != 1 or shown[0]["id"] != p.id or shown[0]["active"] != p.active \
                or shown[0].get(FASTLY, {}).get("role") != p.role:
            problems.append(f"{name}: SCIM shows {shown}, the client believes {vars(p)}")
        if p.active and (len(in_fastly) != 1 or in_fastly[0]["role"] != p.role
                         or in_fastly[0]["name"] != f"{p.given} {p.family}"):
            problems.append(f"{name}: Fastly has {in_fastly}, the client believes {vars(p)}")
        if not p.active and in_fastly:
            problems.append(f"{name} is inactive but Fastly has it")
    return scim, fastly, problems


def pct(xs, q):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--edge-port", type=int, required=True)
    ap.add_argument("--api", required=True, help="the emulated Fastly API, http://127.0.0.1:PORT")
    ap.add_argument("--control", required=True, help="the emulator's control API, http://127.0.0.1:PORT")
    ap.add_argument("--token", default="dev-superuser-token")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", help="the Viceroy log, checked for credentials")
    ap.add_argument("--json", help="write the figures here as JSON")
    args = ap.parse_args()
    args.run = int(time.time())

    # A budget that a minute of writes cannot spend: the soak measures scim-edge, not the hourly limit.
    status, _ = plain(f"{args.control}/_emulator/rate_limit", "POST", {"remaining": 10_000_000, "limit": 10_000_000})
    if status != 200:
        raise SystemExit(f"soak: could not raise the emulator's budget: {status}")
    plain(f"{args.control}/_emulator/requests", "DELETE")

    results, people = [], []
    barrier = threading.Barrier(args.connections + 1)
    deadline_box = [0.0]
    threads = [threading.Thread(target=worker, args=(n, args, deadline_box, results, people, barrier))
               for n in range(args.connections)]
    for t in threads:
        t.start()
    started = time.monotonic()
    deadline_box[0] = started + args.seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    stats = Stats()
    for s in results:
        stats.merge(s)
    total = sum(stats.answers.values())
    by_status = collections.Counter()
    for (_, status), n in stats.answers.items():
        by_status[str(status)] += n
    status_5xx = sum(n for s, n in by_status.items() if s.isdigit() and int(s) >= 500)
    inconsistent = by_status.get("inconsistent", 0)
    requests = total - inconsistent
    all_lat = [x for v in stats.latency.values() for x in v]
    _, upstream = plain(f"{args.control}/_emulator/requests")
    upstream_writes = sum(1 for r in upstream if r.get("method") != "GET")

    print(f"soak: {requests} requests in {elapsed:.1f} s over {args.connections} connections: "
          f"{requests / elapsed:.0f} requests/s; latency p50 {pct(all_lat, 0.5):.1f} ms, "
          f"p99 {pct(all_lat, 0.99):.1f} ms, max {pct(all_lat, 1.0):.1f} ms")
    print(f"soak: statuses {dict(sorted(by_status.items()))}")
    print(f"soak: Fastly API calls {len(upstream)} ({upstream_writes} writes)")
    for op, _ in [("create", 0)] + MIX:
        lat = stats.latency.get(op, [])
        codes = {str(s): n for (o, s), n in sorted(stats.answers.items(), key=str) if o == op}
        print(f"soak:   {op:<9} {len(lat):>7}  p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):7.1f} ms  {codes}")

    scim, fastly, audit_problems = audit(args, people)
    secrets = []
    if args.log:
        with open(args.log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        secrets = [s for s in (args.token, PASSWORD) if s in text]
    problems = stats.problems + audit_problems + [f"the log shows {s}" for s in secrets]
    ok = status_5xx == 0 and inconsistent == 0 and by_status.get("transport error", 0) == 0 and not problems
    print(f"soak: audit: {len(scim)} SCIM users, {len(fastly)} Fastly users, "
          f"{len(people)} people of the clients: {'clean' if not audit_problems else 'FAILED'}")
    for p in problems[:40]:
        print(f"soak:   problem: {p}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({
                "seconds": round(elapsed, 1), "connections": args.connections, "requests": requests,
                "requests_per_second": round(requests / elapsed, 1), "statuses": dict(by_status),
                "latency_ms": {"p50": round(pct(all_lat, 0.5), 1), "p99": round(pct(all_lat, 0.99), 1),
                               "max": round(pct(all_lat, 1.0), 1)},
                "upstream_calls": len(upstream), "upstream_writes": upstream_writes,
                "scim_users": len(scim), "fastly_users": len(fastly), "problems": problems, "ok": ok,
            }, f, indent=2)
    print("soak: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
