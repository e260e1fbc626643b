"""Who a gateway call is for: ``X-Costtrail-*`` headers, the body's ``user``/``metadata``, key defaults.

Precedence, strongest first: headers, body, the caller's API key defaults,
the gateway's own defaults. A key bound to a tenant always sets that tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from costtrail.schema import EVENT_ALIASES, Event
from costtrail.schema.events import MAX_STRING

HEADER_PREFIX = "x-costtrail-"

# Header suffix -> envelope field.
HEADER_FIELDS: dict[str, str] = {
    "workflow": "workflow",
    "run-id": "run_id",
    "step": "step",
    "agent": "agent",
    "feature": "feature",
    "customer": "customer_id",
    "customer-id": "customer_id",
    "tenant": "tenant_id",
    "tenant-id": "tenant_id",
    "environment": "environment",
    "session-id": "session_id",
    "user-id": "user_id",
    "product": "product",
    "team": "team",
    "cost-center": "cost_center",
    "plan-tier": "plan_tier",
    "parent-event-id": "parent_event_id",
}

_ATTRIBUTION = frozenset({*HEADER_FIELDS.values()})
_EVENT_FIELDS = frozenset(Event.model_fields)


class AttributionError(ValueError):
    """A header value cannot be used; ``header`` names it."""

    def __init__(self, header: str, message: str) -> None:
        super().__init__(message)
        self.header = header


def from_headers(headers: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Envelope fields and tag attributes named by ``X-Costtrail-*`` headers."""
    fields: dict[str, str] = {}
    tags: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if not lower.startswith(HEADER_PREFIX) or not value:
            continue
        suffix = lower[len(HEADER_PREFIX) :]
        if suffix == "tags":
            tags.update(parse_tags(value))
        elif suffix in HEADER_FIELDS:
            fields[HEADER_FIELDS[suffix]] = value.strip()
    return fields, tags


def parse_tags(value: str) -> dict[str, str]:
    """``team=search,release=2026-05`` (or bare ``beta``) as attributes ``tag.<name>``."""
    tags: dict[str, str] = {}
    for item in value.split(","):
        name, sep, tag_value = item.strip().partition("=")
        if name:
            tags[f"tag.{name.strip()}"] = tag_value.strip() if sep else "true"
    return tags


def from_body(body: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """OpenAI's ``user`` and ``metadata``; Anthropic's ``metadata.user_id``."""
    fields: dict[str, str] = {}
    attrs: dict[str, str] = {}
    user = body.get("user")
    if isinstance(user, str) and user:
        fields["user_id"] = user
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                continue
            name = EVENT_ALIASES.get(str(key), str(key))
            if name in _ATTRIBUTION or name == "user_id":
                fields[name] = str(value)
            elif name in _EVENT_FIELDS:
                continue  # never let metadata set usage, cost or identity fields
            else:
                attrs[f"metadata.{key}"] = str(value)
    return fields, attrs


def attribute(
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    *,
    key_defaults: Mapping[str, str] | None = None,
    gateway_defaults: Mapping[str, str] | None = None,
    tenant: str | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The envelope fields and attributes for one call (see the module docstring for precedence)."""
    head_fields, tags = from_headers(headers)
    body_fields, body_attrs = from_body(body)
    fields: dict[str, str] = {}
    for layer in (gateway_defaults or {}, key_defaults or {}, body_fields, head_fields):
        fields.update({EVENT_ALIASES.get(k, k): v[:MAX_STRING] for k, v in layer.items() if v})
    if tenant is not None:
        asked = fields.get("tenant_id")
        if asked not in (None, tenant):
            raise AttributionError(
                "X-Costtrail-Tenant",
                f"unknown tenant '{asked}' for this key: it may only send calls for tenant '{tenant}'",
            )
        fields["tenant_id"] = tenant
    return fields, {k[:MAX_STRING]: v[:MAX_STRING] for k, v in {**body_attrs, **tags}.items()}
