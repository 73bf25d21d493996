"""The bare Python proxy the gateway is measured against: one Starlette endpoint that forwards
GET and POST to one upstream over the gateway's own ERP client (`AiohttpTransport`), served by
uvicorn with `gateway serve`'s settings (uvloop, httptools, no access log).

Not the gateway: no token, policy, store, routing or translation; what any Python proxy costs.
Run with `python -m bench.bare_proxy --port N --upstream URL`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.adapters.http import AiohttpTransport

FORWARDED = ("authorization", "accept")  # the request headers the upstream needs
ANSWERED = ("content-type", "location")  # the answer's headers a client needs
# As backends/cloud.yaml sizes the gateway's pool to the cloud ERP.
POOL_CONNECTIONS = 32
KEEPALIVE_S = 30.0
TIMEOUT_S = 5.0


def create_app(upstream: str) -> Starlette:
    transport = AiohttpTransport(
        upstream, max_connections=POOL_CONNECTIONS, keepalive_s=KEEPALIVE_S, timeout_s=TIMEOUT_S
    )

    async def forward(request: Request) -> Response:
        body = await request.body()
        answer = await transport.request(
            request.method,
            request.url.path,
            params=dict(request.query_params) or None,
            headers={name: request.headers[name] for name in FORWARDED if name in request.headers},
            # The ERP client sends JSON it is given, as the gateway hands it a record.
            json_body=json.loads(body) if body else None,
        )
        headers = {name: value for name in ANSWERED if (value := answer.header(name)) is not None}
        return Response(answer.body, answer.status, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await transport.aclose()

    return Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "POST"])], lifespan=lifespan
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_proxy", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the base URL forwarded to")
    args = parser.parse_args()
    # gateway/cli/serve.py's settings, less the gateway's own protocol guards.
    uvicorn.run(
        create_app(args.upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
