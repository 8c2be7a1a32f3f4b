"""Routes built from the shipped spec data: one per served operation, with request validation.

Hand-modelled routes (:func:`._routes.hand_routes`) replace the spec-driven route of the same method and path.
Operations marked ``x-vluna-not-served`` get no route, so they answer the router's 404 like the server.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

from ._admin import admin_routes
from ._engine import Engine
from ._engine.spec_call import SpecCall
from ._errors import HttpError
from ._jsutil import JsonValue, js_number
from ._routes import Call, Handler, Reply, Route, RouteTable, hand_routes
from ._spec_data import load
from ._spec_data.spec_types import EmulatorOperation

__all__ = ["build_routes", "spec_operations"]


def spec_operations() -> List[EmulatorOperation]:
    """Every operation of the specs (served or not), as shipped in the package."""
    return list(load()["operations"])


def build_routes(engine: Engine) -> RouteTable:
    """The route table: spec-driven routes for every served operation, hand-modelled ones on top."""
    table = RouteTable()
    for op in spec_operations():
        if op["not_served"]:
            continue
        table.add(
            Route(
                method=op["method"],
                path=op["path"],
                name=op["operation_id"],
                auth=op["auth"],
                bindings=op["bindings"],
                idempotent=op["idempotent"],
                replay_hangs=op["replay_hangs"],
                handler=_spec_handler(op),
                operation=op,
            )
        )
    for route in admin_routes():
        table.add(route)
    for route in hand_routes():
        spec_route = table.get(route.method, route.path)
        if spec_route is not None and spec_route.operation is not None:
            route = Route(
                method=route.method,
                path=route.path,
                name=spec_route.name,
                auth=route.auth,
                handler=route.handler,
                bindings=route.bindings,
                idempotent=route.idempotent,
                replay_hangs=spec_route.replay_hangs,
            )
        table.add(route)
    return table


def _spec_handler(op: EmulatorOperation) -> Handler:
    def handle(engine: Engine, call: Call) -> Reply:
        body = _checked_body(engine, op, call.body)
        query = _checked_query(engine, op, call.query)
        status, data, meta = engine.resources.handle(SpecCall(op, call.ctx, body, query, call.path_params))
        engine.after_spec_write(op["operation_id"], body, data)
        return Reply(data, status=status, meta=meta)

    return handle


def _checked_body(engine: Engine, op: EmulatorOperation, body: JsonValue) -> Dict[str, Any]:
    schema = op["body"]
    if schema is None:
        return {}
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise HttpError(422, "VALIDATION.INVALID_INPUT", "body must be an object")
    problem = engine.schemas.error(body, schema, "")
    if problem:
        raise HttpError(422, "VALIDATION.INVALID_INPUT", problem)
    return body


def _checked_query(engine: Engine, op: EmulatorOperation, query: Mapping[str, JsonValue]) -> Dict[str, JsonValue]:
    checked: Dict[str, JsonValue] = dict(query)
    for name, raw_schema in op["query"].items():
        if name not in query:
            continue
        schema = engine.schemas.resolve(raw_schema)
        types = schema.get("type") or []
        types = [types] if isinstance(types, str) else types
        values = query[name] if isinstance(query[name], list) else [query[name]]
        item_schema = engine.schemas.resolve(schema.get("items", {})) if "array" in types else schema
        item_types = item_schema.get("type") or []
        item_types = [item_types] if isinstance(item_types, str) else item_types
        for value in values:
            text = value if isinstance(value, str) else ""
            if "integer" in item_types:
                number = js_number(text)
                if number is None or number != int(number):
                    raise HttpError(400, "VALIDATION.INVALID_INPUT", f"{name} must be an integer")
            elif "enum" in item_schema and text not in item_schema["enum"]:
                allowed = ", ".join(str(v) for v in item_schema["enum"])
                raise HttpError(400, "VALIDATION.INVALID_INPUT", f"{name} must be one of {allowed}")
    return checked
