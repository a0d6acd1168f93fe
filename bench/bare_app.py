"""A FastAPI app with the forecast route's HTTP work and no model.

It parses the request body with the service's own ``ForecastRequest`` and
returns, through the same ``ForecastResponse`` model, a response captured
from the real server for the same request, so both servers parse and
serialize the same bytes. The serving benchmark runs it under the same
uvicorn settings as ``rnn-forecast serve``::

    python -m bench.bare_app --port 8001 --response response.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from service.request_heads import head_deadline_protocol
from service.schemas import ForecastRequest, ForecastResponse
from service.settings import Settings


def create_bare_app(response: ForecastResponse) -> FastAPI:
    """An app whose forecast route returns ``response`` for any valid body."""
    app = FastAPI(title="bare forecast route")

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/models/{name}/forecast", response_model=ForecastResponse)
    async def forecast(name: str, body: ForecastRequest) -> ForecastResponse:
        return response

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address")
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument(
        "--response",
        type=Path,
        required=True,
        help="JSON file with the forecast response to return",
    )
    args = parser.parse_args()

    response = ForecastResponse.model_validate(json.loads(args.response.read_text()))
    # the settings `rnn-forecast serve` passes to uvicorn, minus its log
    # format: the same HTTP protocol, with its deadline and size limit for
    # request heads
    head_timeout = Settings.model_fields["head_timeout_seconds"].default
    uvicorn.run(
        create_bare_app(response),
        host=args.host,
        port=args.port,
        access_log=False,
        http=head_deadline_protocol(head_timeout),
    )


if __name__ == "__main__":
    main()
