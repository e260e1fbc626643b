"""Local stand-ins for Stripe, OpenMeter and Lago that speak each one's documented wire format.

Each validates what the official clients send as the service documents it, keeps the ids it
accepted, counts re-sent ids, and can be told to fail (HTTP 500) from its n-th request on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


@dataclass
class Ledger:
    """What a stand-in accepted."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    resent: int = 0
    requests: int = 0
    fail_from: int | None = None  # 1-based request number from which every request fails
    invalid: list[str] = field(default_factory=list)

    def failing(self) -> bool:
        self.requests += 1
        return self.fail_from is not None and self.requests >= self.fail_from

    def accept(self, record_id: str, record: dict[str, Any]) -> bool:
        if record_id in self.accepted:
            self.resent += 1
            return False
        self.accepted[record_id] = record
        return True


def _number(text: Any) -> bool:
    try:
        return Decimal(str(text)).is_finite()
    except ArithmeticError:
        return False


def stripe_app(ledger: Ledger) -> FastAPI:
    """``POST /v1/billing/meter_events`` (form-encoded, ``payload[...]`` keys, Bearer secret key)."""
    app = FastAPI()

    @app.post("/v1/billing/meter_events")
    async def create(request: Request) -> Response:
        if ledger.failing():
            return JSONResponse({"error": {"type": "api_error", "message": "down"}}, status_code=500)
        if not request.headers.get("authorization", "").startswith("Bearer sk_"):
            return JSONResponse({"error": {"type": "invalid_request_error"}}, status_code=401)
        event = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        ok = (
            event.get("event_name")
            and event.get("identifier")
            and event.get("timestamp", "").isdigit()
            and event.get("payload[stripe_customer_id]")
            and _number(event.get("payload[value]"))
            and set(event)
            == {"event_name", "identifier", "timestamp", "payload[stripe_customer_id]", "payload[value]"}
        )
        if not ok:
            ledger.invalid.append(json.dumps(event))
            return JSONResponse(
                {"error": {"type": "invalid_request_error", "message": "bad"}}, status_code=400
            )
        if not ledger.accept(event["identifier"], event):
            error = {
                "type": "invalid_request_error",
                "code": "resource_already_exists",
                "message": f"An event with identifier {event['identifier']} already exists.",
            }
            return JSONResponse({"error": error}, status_code=400)
        body = {
            "object": "billing.meter_event",
            "created": int(event["timestamp"]),
            "event_name": event["event_name"],
            "identifier": event["identifier"],
            "livemode": False,
            "payload": {
                "stripe_customer_id": event["payload[stripe_customer_id]"],
                "value": event["payload[value]"],
            },
            "timestamp": int(event["timestamp"]),
        }
        return JSONResponse(body)

    return app


def openmeter_app(ledger: Ledger) -> FastAPI:
    """``POST /api/v1/events``: CloudEvents 1.0, structured JSON, one or a batch; 204 on success."""
    app = FastAPI()

    @app.post("/api/v1/events")
    async def ingest(request: Request) -> Response:
        if ledger.failing():
            return JSONResponse({"title": "down"}, status_code=500)
        kind = request.headers.get("content-type", "")
        body = json.loads(await request.body())
        events = body if kind.startswith("application/cloudevents-batch+json") else [body]
        if not kind.startswith(("application/cloudevents-batch+json", "application/cloudevents+json")):
            return JSONResponse({"title": "unsupported content type"}, status_code=415)
        for e in events:
            ok = (
                e.get("specversion") == "1.0"
                and e.get("id")
                and e.get("source")
                and e.get("type")
                and e.get("subject")
                and datetime.fromisoformat(str(e.get("time")).replace("Z", "+00:00"))
                and _number((e.get("data") or {}).get("value"))
            )
            if not ok:
                ledger.invalid.append(json.dumps(e))
                return JSONResponse({"title": "invalid event"}, status_code=400)
        for e in events:
            ledger.accept(f"{e['source']}/{e['id']}", e)  # OpenMeter de-duplicates by source + id
        return Response(status_code=204)

    return app


def lago_app(ledger: Ledger) -> FastAPI:
    """``POST /api/v1/events/batch``: ``{"events": [{transaction_id, external_subscription_id, code,
    timestamp, properties}]}`` with a Bearer API key."""
    app = FastAPI()

    @app.post("/api/v1/events/batch")
    async def batch(request: Request) -> Response:
        if ledger.failing():
            return JSONResponse({"status": 500, "error": "Internal Server Error"}, status_code=500)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"status": 401}, status_code=401)
        events = json.loads(await request.body()).get("events") or []
        for e in events:
            ok = (
                e.get("transaction_id")
                and e.get("external_subscription_id")
                and e.get("code")
                and _number(e.get("timestamp"))  # a Unix time, as a number or a string
                and _number((e.get("properties") or {}).get("value"))
            )
            if not ok:
                ledger.invalid.append(json.dumps(e))
                return JSONResponse({"status": 422, "error": "Unprocessable Entity"}, status_code=422)
        for e in events:
            ledger.accept(e["transaction_id"], e)
        return JSONResponse({"events": [{**e, "lago_id": e["transaction_id"]} for e in events]})

    return app
