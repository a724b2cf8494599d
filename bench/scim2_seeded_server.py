#!/usr/bin/env python3
"""python-scim's scim2-server, as its `scim2-server` command serves it, with users loaded first.

    bench/scim2_seeded_server.py --users scim2-users.jsonl [--port 8842] [--bearer-token TOKEN]

The same server as the `scim2-server` command (default schemas and configuration, in-memory
storage, wsgiref's threading server), except that the users of the file are stored through the
storage's own `create` before it listens, with the ids the file gives, so that the benchmark asks
both servers for the same users. Posting 100,000 users over HTTP would take longer than the benchmark.
"""

import argparse
import json
import time

from scim2_models import Context
from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import load_default_resource_types
from scim2_server.utils import load_default_schemas
from scim2_server.utils import load_default_service_provider_config
from wsgiref.simple_server import make_server


class SeededStorage(InMemoryStorage):
    """Takes the id of a stored user from the seed while seeding, then draws them as usual."""

    seed_id: str | None = None

    def generate_id(self, resource_type, resource):
        return self.seed_id or super().generate_id(resource_type, resource)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", required=True, help="JSON lines, one SCIM User with its id each")
    ap.add_argument("--hostname", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8842)
    ap.add_argument("--bearer-token", action="append")
    args = ap.parse_args()

    config = load_default_service_provider_config()
    if args.bearer_token:
        config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    service = ScimService(provider)
    storage = SeededStorage()
    users = service.get_resource_type_by_endpoint("/Users")
    model = service.get_model(users)
    started = time.monotonic()
    count = 0
    with open(args.users) as f:
        for line in f:
            payload = json.loads(line)
            storage.seed_id = payload.pop("id")
            storage.create(users, model.model_validate(payload, scim_ctx=Context.RESOURCE_CREATION_REQUEST))
            count += 1
    storage.seed_id = None
    print(f"stored {count} users in {time.monotonic() - started:.1f}s", flush=True)

    app = BearerTokenApplication(storage, provider, service=service, bearer_tokens=args.bearer_token or [])
    with make_server(args.hostname, args.port, app, server_class=ThreadingWSGIServer) as server:
        print(f"Serving SCIM on http://{args.hostname}:{args.port}/v2", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
