"""Sharing an embedded warehouse: the owner's RPC routes and the client that uses them.

The owner process (``hcp serve``) mounts :func:`owner_routes` under ``/wh`` on loopback. Every call
carries the token from ``hcp-owner.json``. The wire format is deliberately boring: JSON for SQL and
parameters, Arrow IPC streams for tables in both directions, so a proxied query returns exactly the
Arrow table the owner's clickhouse-connect client produced.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Mapping
from urllib.parse import urlencode

import pyarrow as pa
import urllib3
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from warehouse.client import Warehouse, WarehouseError, normalise_parameters

ARROW_STREAM = "application/vnd.apache.arrow.stream"
TOKEN_HEADER = "X-HCP-Token"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def arrow_to_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def arrow_from_bytes(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def owner_routes(warehouse: Warehouse, token: str) -> list[Route]:
    """Routes that expose ``warehouse`` to other local processes holding ``token``."""

    def authorised(request: Request) -> bool:
        # Only local processes that can read the owner file (mode 0600) may use the warehouse.
        local = request.client is not None and request.client.host in LOOPBACK
        return local and hmac.compare_digest(request.headers.get(TOKEN_HEADER, ""), token)

    def guarded(handler):
        """Refuse callers without the token; turn warehouse errors into 400 with ClickHouse's message."""

        async def endpoint(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": "missing or wrong owner token"}, status_code=403)
            try:
                return await handler(request)
            except WarehouseError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        return endpoint

    @guarded
    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "warehouse": warehouse.display_dsn})

    @guarded
    async def query(request: Request) -> Response:
        body = await request.json()
        table = await run_in_threadpool(warehouse.query_arrow, body["sql"], body.get("parameters"))
        return Response(arrow_to_bytes(table), media_type=ARROW_STREAM)

    @guarded
    async def command(request: Request) -> Response:
        body = await request.json()
        result = await run_in_threadpool(warehouse.command, body["sql"], body.get("parameters"))
        return JSONResponse({"result": result if isinstance(result, (str, int, float, list)) else str(result)})

    @guarded
    async def insert(request: Request) -> Response:
        data = arrow_from_bytes(await request.body())
        settings = json.loads(request.query_params.get("settings", "{}"))
        rows = await run_in_threadpool(warehouse.insert_arrow, request.query_params.get("table", ""), data, settings)
        return JSONResponse({"rows": rows})

    return [
        Route("/wh/health", health, methods=["GET"]),
        Route("/wh/query", query, methods=["POST"]),
        Route("/wh/command", command, methods=["POST"]),
        Route("/wh/insert", insert, methods=["POST"]),
    ]


class OwnerWarehouse(Warehouse):
    """A warehouse reached through the process that owns it."""

    embedded = True

    def __init__(self, url: str, token: str, *, display_dsn: str, timeout: float = 3600.0):
        self._url = url.rstrip("/")
        self._headers = {TOKEN_HEADER: token}
        self._http = urllib3.PoolManager(
            num_pools=2, maxsize=8, timeout=urllib3.Timeout(connect=5.0, read=timeout), retries=False
        )
        self.display_dsn = display_dsn

    def ping(self) -> bool:
        try:
            response = self._http.request("GET", f"{self._url}/wh/health", headers=self._headers,
                                          timeout=urllib3.Timeout(connect=2.0, read=5.0))
        except urllib3.exceptions.HTTPError:
            return False
        return response.status == 200

    def _post(self, path: str, *, body: bytes, content_type: str, fields: dict | None = None):
        url = f"{self._url}{path}"
        if fields:
            url += "?" + urlencode(fields)
        try:
            response = self._http.request(
                "POST", url, body=body, headers={**self._headers, "Content-Type": content_type}
            )
        except urllib3.exceptions.HTTPError as exc:
            raise WarehouseError(f"the warehouse owner at {self._url} did not answer: {exc}") from exc
        if response.status != 200:
            try:
                message = json.loads(response.data)["error"]
            except (ValueError, KeyError, TypeError):
                message = response.data.decode(errors="replace")[:500]
            raise WarehouseError(message)
        return response

    def _sql_body(self, sql: str, parameters: Mapping[str, Any] | None) -> bytes:
        return json.dumps({"sql": sql, "parameters": normalise_parameters(parameters)}, ensure_ascii=False).encode()

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        response = self._post("/wh/query", body=self._sql_body(sql, parameters), content_type="application/json")
        return arrow_from_bytes(response.data)

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        response = self._post("/wh/command", body=self._sql_body(sql, parameters), content_type="application/json")
        return json.loads(response.data)["result"]

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> int:
        if data.num_rows == 0:
            return 0
        fields = {"table": table, **({"settings": json.dumps(dict(settings))} if settings else {})}
        response = self._post("/wh/insert", body=arrow_to_bytes(data), content_type=ARROW_STREAM, fields=fields)
        return int(json.loads(response.data)["rows"])

    def close(self) -> None:
        self._http.clear()
