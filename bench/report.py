#!/usr/bin/env python3
"""The table of `make bench` (scripts/bench.sh): printed, and written to docs/PERFORMANCE.md."""

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess

FLOOR = "floor: one KV read"
KINDS = ["GET /ServiceProviderConfig", "GET /Users/{id}", "GET ?filter=userName eq", "GET ?startIndex=1&count=100 (import start)", "GET ?startIndex&count=100", "PUT /Users/{id} (no-op)"]
SERVERS = ["scim-edge", "scim2-server"]
UPSTREAM = "upstream: GET /user/{id}"


def run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem": mem, "os": platform.platform()}


def users_label(n: int) -> str:
    return f"{n:,}" if n else "–"


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}" if x >= 1 else f"{x:.{digits + 1}f}" if x >= 0.1 else f"{x:.3f}"


def ratio(x: float | None) -> str:
    """Two significant digits: 0.23, 0.000021, 1.9, 12."""
    if x is None:
        return "–"
    if x >= 10:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.1f}"
    if x <= 0:
        return "0"
    return f"{x:.{1 - math.floor(math.log10(x))}f}"


def heap(r: dict) -> str:
    return f"{r['heap_mib']:.1f}" if r.get("heap_mib") is not None else "–"


def calls(r: dict) -> str:
    """Fastly API calls per request, from the emulator's log of the warm-up and the timed request."""
    if r.get("fastly_calls_per_request") is None or r["server"] != "scim-edge":
        return "–"
    return f"{r['fastly_calls_per_request']:.2g}"


def table(rows: list[dict], main_sizes: list[int]) -> tuple[str, list[str]]:
    # A kind measured in several rounds (and the floor, before each scim-edge run) is shown by its
    # median run; a failed run shows only when no run of the kind succeeded.
    by = {}
    for key in dict.fromkeys((r["server"], r["kind"], r["users"]) for r in rows):
        runs = sorted((r for r in rows if (r["server"], r["kind"], r["users"]) == key and not r.get("failed")),
                      key=lambda r: r["rps"])
        failed = [r for r in rows if (r["server"], r["kind"], r["users"]) == key and r.get("failed")]
        by[key] = dict(runs[(len(runs) - 1) // 2], runs=[r["rps"] for r in runs]) if runs else failed[-1]
    # Each scim-edge run against the floor run right before it at the same size: the two shared the
    # machine's state of the moment, so their ratio drifts less than either.
    paired, last_floor = {}, {}
    for r in rows:
        if r.get("failed") or not r.get("rps"):
            continue
        if r["kind"] == FLOOR:
            last_floor[r["users"]] = r["rps"]
        elif r["server"] == "scim-edge" and r["users"] in last_floor:
            paired.setdefault((r["server"], r["kind"], r["users"]), []).append(r["rps"] / last_floor.pop(r["users"]))
    # The floor is measured at each size, over the same seeded KV store (Viceroy's store slows down as
    # it grows); a kind is compared with the floor at its own size, else with any floor.
    floors = {k[2]: r for k, r in by.items() if k[1] == FLOOR and not r.get("failed")}
    any_floor = next(iter(floors.values()), None)
    sizes = sorted({r["users"] for r in rows if r["kind"] not in (FLOOR, UPSTREAM)})
    scaled = sorted(main_sizes) or sizes
    small, big = (scaled[0], scaled[-1]) if scaled else (0, 0)
    if len(scaled) < 2:
        scale = "largest ÷ smallest size"
    elif small >= 1000 and big % 1000 == 0 and small % 1000 == 0:
        scale = f"{big // 1000}k ÷ {small // 1000}k"
    else:
        scale = f"{big:,} ÷ {small:,}"
    head = ["server", "request", "users", "req/s", "p50 ms", "p99 ms", "heap MiB", "Fastly calls", "÷ floor",
            "÷ scim2-server", scale]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    notes, failures = [], []
    order = (
        [floors[n] for n in sorted(floors)]
        + [by[("emulator", UPSTREAM, n)] for n in sizes if ("emulator", UPSTREAM, n) in by]
        + [by[(s, k, n)] for k in KINDS for s in SERVERS for n in sizes if (s, k, n) in by]
    )
    for r in order:
        if r.get("failed"):
            failures.append(f"({len(failures) + 1}) {r['server']}, `{r['kind']}`, {r['users']:,} users: {r['failed']}.")
            cells = [r["server"], f"`{r['kind']}`", users_label(r["users"]), f"**failed** ({len(failures)})", "–", "–"]
            cells += [heap(r), calls(r)]
            out.append("| " + " | ".join(cells + ["–"] * (len(head) - len(cells))) + " |")
            continue
        rps = r["rps"]
        is_floor = r["kind"] == FLOOR
        floor = floors.get(r["users"], any_floor)
        pairs = paired.get((r["server"], r["kind"], r["users"]))
        if pairs:
            vs_floor = statistics.median(pairs)
        else:
            vs_floor = rps / floor["rps"] if floor and not is_floor and r["server"] != "emulator" else None
        other = by.get(("scim2-server", r["kind"], r["users"])) if r["server"] == "scim-edge" else None
        vs_scim2 = rps / other["rps"] if other and other.get("rps") else None
        base = floors.get(small) if is_floor else by.get((r["server"], r["kind"], small))
        vs_small = rps / base["rps"] if base and base.get("rps") and r["users"] == big and big != small else None
        mark = ""
        if r.get("sequential"):
            mark += " †"
        if r.get("errors"):
            mark += f" ‡{r['errors']}"
        out.append(
            "| "
            + " | ".join(
                [
                    r["server"] if not is_floor else "baseline",
                    f"`{r['kind']}`" if not is_floor else r["kind"],
                    users_label(r["users"]),
                    fmt(rps) + mark,
                    fmt(r["p50_ms"], 2),
                    fmt(r["p99_ms"], 2),
                    heap(r),
                    calls(r),
                    ratio(vs_floor),
                    f"{ratio(vs_scim2)}×" if vs_scim2 is not None else "–",
                    ratio(vs_small),
                ]
            )
            + " |"
        )
    spread = [f"{r['server'] if r['kind'] != FLOOR else 'floor'}{'' if r['kind'] == FLOOR else ' `' + r['kind'] + '`'}"
              f" at {n:,}: {fmt(r['runs'][0])}–{fmt(r['runs'][-1])}"
              for (_, _, n), r in by.items() if len(r.get("runs", [])) > 1]
    if spread:
        notes.append("Each scim-edge kind is measured in several rounds, the floor right before each run, so that a "
                     "kind and its floor share the machine's state of the moment (on a shared machine it drifts by tens "
                     "of percent within minutes); a row is the median run. The runs' range, in req/s: "
                     + "; ".join(spread) + ".")
    if paired:
        notes.append("÷ floor of a scim-edge kind measured in rounds is the median of each run's requests/s over the "
                     "floor run's right before it; their range: "
                     + "; ".join(f"`{k}` at {n:,}: {ratio(min(v))}–{ratio(max(v))}"
                                 for (_, k, n), v in paired.items() if len(v) > 1) + ".")
    notes += failures
    if any(r.get("sequential") for r in rows):
        notes.append(
            "† Not a load run: one request at a time on one connection (req/s = 1 / mean, p50 = the median, "
            "p99 = the slowest). Either the size was only probed (a single request), or a request took longer "
            "than BENCH_SLOW seconds after its warm-up, and up to 3 (as many as fit in BENCH_SECONDS) were timed."
        )
    if any(r.get("errors") for r in rows):
        notes.append("‡ Requests that failed (non-2xx, timeouts or socket errors) during the run.")
    return "\n".join(out), notes


COSTS = """\
What each request does in scim-edge, read from `src/provision.rs` and `src/auth/` at the commit above. The
token verdict comes from the POP cache (warmed before the runs), so no request spends a KV read or a Fastly
call on authentication. `fastly_sync_seconds` is the deployed default (10): a stored user is served as stored
for 10 s after scim-edge last compared it with Fastly. The counts of every operation (get, filter hit and
miss, pages at three offsets, create, role change, no-op PUT, deactivate, reactivate, delete) are asserted
exactly, at two account sizes, by `cost_of_each_operation_does_not_grow_with_the_account`
(`src/provision_tests.rs`, part of `make unit`).

| request | KV | Fastly API | what grows with the account |
|---|---|---|---|
| `GET /ServiceProviderConfig` | – | – | nothing (measured once, at the smallest size) |
| `GET /Users/{id}` | 1 read; 1 write when the sync window has passed | `GET /user/{id}` when the sync window has passed | nothing |
| `GET ?filter=userName eq` | 2 reads (the userName index, the record); as above | as above | nothing |
| `GET ?startIndex=1&count=100` (import start) | the directory version and its 64 shard documents, then the page's 100 records (at the edge, 32 lookups in flight at a time) | `GET /customer/{id}/users`: every user, in one answer | the snapshot: Fastly's list and the directory are read, sorted and cached in chunks of 100 (POP cache) |
| `GET ?startIndex&count=100` | the directory version; 1–2 snapshot chunks from the POP cache; the page's 100 records (32 lookups in flight at a time) | – (the import's snapshot) | nothing |
| `PUT /Users/{id}` (no-op) | 1 read, no write | `GET /user/{id}` (always, before a change) | nothing |

An import is paged over a snapshot of the account (`src/provision/snapshot.rs`): Fastly's user list has no
paging, so the first page of an import (`startIndex=1`, once the snapshot is older than `fastly_sync_seconds`)
reads all of it and the account's directory (`src/provision/directory.rs`: 64 KV documents, no key listing), and
keeps the sorted result in the POP cache. Every later page reads the directory's version (a change made through
scim-edge makes the snapshot stale at once), one or two cached chunks, and the records on the page. Fastly's
answer is read into a buffer sized from its `Content-Length`, so a large account's list is never copied while
it grows.

Not measured here: a filter that no index answers (e.g. `displayName co "x"`) reads and renders every user
of the account (from the import snapshot) before it filters and pages; on an account of more than 1,000 users
it is refused with 400 `tooMany` (`MAX_UNINDEXED_FILTER_USERS` in `src/provision.rs`).

The emulator row is the Fastly API call `GET /user/{id}` measured on its own: what the stand-in for
api.fastly.com costs at each size.

The floor (`bench/baseline`) is a Compute app that reads one KV value and returns it: the cost of Viceroy,
a wasm instance and one KV read, below which no request can go. At each size it is served over the same
seeded KV store as scim-edge and reads the record that `GET /Users/{id}` reads, so each kind is compared
with the floor at its own size; the floor's own 100k ÷ 1k is what Viceroy's store costs as it grows.
"""

CAVEATS = """\
How to read the figures:
- **One machine for everything.** wrk, Viceroy, the emulator and scim2-server share the CPUs, so the figures
  compare request kinds and servers with each other; they do not predict Fastly's production latency.
- **Viceroy is not the Fastly edge.** Its KV store is an in-process map (on Fastly a lookup goes over the
  network): one ordered map for every store, behind one lock that each lookup takes for writing, so
  lookups slow down as the store grows and queue behind each other under load. Its list walks every key.
  Each request gets a fresh wasm instance, as on Compute.
- **The Fastly API is the local emulator**, which indexes users by id and login; `GET /customer/{id}/users`
  serialises every user. The real API's latency (tens of milliseconds per call)
  would dominate the calls that scim-edge makes per request.
- **scim2-server** (python-scim, the in-memory reference server) runs as its `scim2-server` command serves it:
  wsgiref's threading server, HTTP/1.0 (one connection per request), one Python process. Its users are stored
  through its storage's own `create` before it listens (`bench/scim2_seeded_server.py`). Its PUT replaces the
  user and bumps its version; scim-edge's no-op PUT writes nothing.
- **heap MiB** is the largest WebAssembly heap one request of the kind used (Viceroy's log). By default Compute
  allows a request 128 MB of heap, 1 MB of stack, 50 ms of CPU time, 2 minutes and 32 backend requests
  ([Compute resource limits](https://docs.fastly.com/products/compute-resource-limits)). Viceroy enforces the
  128 MiB (a request that needs more fails with a 500), not the CPU time.
- **Fastly calls** is the number of Fastly API calls per scim-edge request: the emulator's log of the warm-up
  and the timed request before each run (so a read within the sync window shows 0).
- **÷ floor** is the share of the floor's requests/s a kind reaches (for scim-edge, the median over its runs of
  each run's share of the floor run right before it); **÷ scim2-server** is scim-edge's requests/s
  over scim2-server's for the same kind and size; the last column is requests/s at the largest size over the
  smallest.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", default="")
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--users", default="")
    ap.add_argument("--list-sizes", default="", help="sizes at which one import page was timed alone")
    ap.add_argument("--seconds", default="")
    ap.add_argument("--rounds", default="1")
    ap.add_argument("--connections", default="")
    ap.add_argument("--threads", default="")
    ap.add_argument("--load-before", default="")
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--floor-wasm", required=True)
    ap.add_argument("--scim2-server-version", default="")
    ap.add_argument("--commit", default="", help="the commit measured, as the driver saw it before building")
    ap.add_argument("--elapsed", type=int, default=0, help="seconds the whole run took")
    ap.add_argument("--cpu", default="", help="the section `cargo bench --bench core` wrote (BENCH_CPU_OUT), if any")
    args = ap.parse_args()

    with open(args.results) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = args.commit or run("git", "rev-parse", "--short", "HEAD") or "unknown"
    load_after = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else ""
    tools = [
        run("viceroy", "--version") or "viceroy ?",
        (run("wrk", "-v").splitlines() or ["wrk ?"])[0].split(" Copyright")[0],
        f"scim2-server {args.scim2_server_version}" if args.scim2_server_version else "scim2-server",
        run("rustc", "--version") or "rustc ?",
    ]
    sizes = [(p, os.path.getsize(p)) for p in (args.wasm, args.floor_wasm) if os.path.exists(p)]
    body, notes = table(rows, [int(n) for n in args.users.split()])

    summary = [
        f"- **Command:** `{args.command}` (BENCH_USERS=\"{args.users}\", BENCH_ROUNDS={args.rounds}, "
        f"BENCH_SECONDS={args.seconds}, "
        f"BENCH_CONNECTIONS={args.connections}; wrk -t {args.threads} -c {args.connections} -d {args.seconds}s)"
        + (f", {args.elapsed // 60} min {args.elapsed % 60} s in all, builds included" if args.elapsed else ""),
        f"- **Date:** {now}; commit " + re.sub(r"^(\w+)", r"`\1`", commit),
        f"- **Machine:** `nproc` = {m['nproc']}, {m['cpu']}, {m['mem']} RAM, {m['os']}",
        f"- **Load average** (1, 5, 15 min): {args.load_before or '?'} before the run, {load_after or '?'} after it"
        f" (on {m['nproc']} CPUs, below 1 is a quiet machine)",
        "- **Tools:** " + ", ".join(tools),
        "- **Release wasm:** "
        + ", ".join(f"`{os.path.basename(p)}` {s:,} bytes ({s / 1024:.0f} KiB)" for p, s in sizes)
        + " (`ls -l target/wasm32-wasip1/release/*.wasm`)",
    ]
    print("\n".join(summary))
    print()
    print(body)
    for n in notes:
        print(n)

    if args.out:
        doc = [
            "# Performance",
            "",
            "Requests/s and latency of scim-edge under Viceroy, for accounts of "
            + " and ".join(f"{int(n):,}" for n in args.users.split())
            + " users, next to a floor and to python-scim's scim2-server. Produced by `make bench`"
            " (`scripts/bench.sh`); this file is rewritten on every run. Quick run:"
            " `BENCH_USERS=1000 BENCH_LIST_SIZES= BENCH_SECONDS=3 make bench`."
            + (
                " One import page of scim-edge is also timed alone (a single request) at "
                + ", ".join(f"{int(n):,}" for n in args.list_sizes.split())
                + " users, to show where it breaks."
                if args.list_sizes.split()
                else ""
            ),
            "",
            *summary,
            "",
            body,
            "",
            *[n + "\n" for n in notes],
            COSTS,
            CAVEATS,
        ]
        if args.cpu and os.path.exists(args.cpu):
            with open(args.cpu) as f:
                doc.append(f.read())
        with open(args.out, "w") as f:
            f.write("\n".join(doc).rstrip() + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
