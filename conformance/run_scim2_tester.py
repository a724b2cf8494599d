#!/usr/bin/env python3
"""Runs python-scim's scim2-tester against a scim-edge endpoint (Users only).

scim2-tester generates its checks from the server's own /Schemas, /ResourceTypes and
/ServiceProviderConfig, so what scim-edge advertises is tested against what it does.

  python conformance/run_scim2_tester.py --url http://127.0.0.1:7690/scim/v2 --token dev-superuser-token

Prints every check that did not pass, then "N passed, N failed, N skipped"; exit 0 when none failed.
"""

import argparse
import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASS = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args()

    http = Client(base_url=a.url, headers={"Authorization": f"Bearer {a.token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client, resource_types=["User"])
    counts = Counter()
    for r in results:
        kind = "passed" if r.status in PASS else "skipped" if r.status == Status.SKIPPED else "failed"
        counts[kind] += 1
        if kind == "failed" or a.verbose:
            print(f"{r.status.name:10} {r.title}: {r.reason}")
            if kind == "failed" and r.data is not None:
                print(f"           {repr(r.data)[:800]}")
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 0 if counts["failed"] == 0 and counts["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
