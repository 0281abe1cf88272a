"""The ``/__admin`` endpoints: observe the server and steer it from a test or a benchmark.

They are neither authenticated nor rate limited and keep answering during outages, so a harness
can always read stats or end an outage it started.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_api.config import OUTAGE_MODES
from mock_api.responses import Denied, answer_denied, bad_request, error_response, json_body
from mock_api.state import MockState


class _Admin:
    """Admin handlers bound to one server's state."""

    def __init__(self, state: MockState) -> None:
        self._state = state

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self._state.stats.as_json(self._state.config_json()))

    async def reset_stats(self, request: Request) -> Response:
        self._state.stats.reset()
        return JSONResponse({"reset": True})

    async def start_outage(self, request: Request) -> Response:
        payload = await json_body(request, default={})
        mode = payload.get("mode", "error") if isinstance(payload, dict) else None
        if mode not in OUTAGE_MODES:
            raise Denied(bad_request('Body must be {"mode": "error"} or {"mode": "hang"}'))
        self._state.outages.start(mode)
        return JSONResponse({"outage": mode})

    async def stop_outage(self, request: Request) -> Response:
        self._state.outages.stop()
        return JSONResponse({"outage": None})

    async def set_campaigns(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]
        catalog = self._state.catalogs.get(client_id)
        if catalog is None:
            raise Denied(error_response(404, "Not found", f"No account {client_id}"))
        items = await json_body(request, default=None)
        if not isinstance(items, list):
            raise Denied(bad_request("Body must be a JSON list"))
        catalog.set_raw(items)
        return JSONResponse({"client_id": client_id, "campaigns": len(items)})


def admin_routes(state: MockState) -> list[Route]:
    admin = _Admin(state)
    return [
        Route("/__admin/stats", answer_denied(admin.stats), methods=["GET"]),
        Route("/__admin/stats/reset", answer_denied(admin.reset_stats), methods=["POST"]),
        Route("/__admin/outage", answer_denied(admin.start_outage), methods=["POST"]),
        Route("/__admin/outage", answer_denied(admin.stop_outage), methods=["DELETE"]),
        Route(
            "/__admin/accounts/{client_id}/campaigns",
            answer_denied(admin.set_campaigns),
            methods=["PUT"],
        ),
    ]
