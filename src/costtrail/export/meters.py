"""Meter sinks through each billing system's official client: Stripe, OpenMeter, Lago.

Each sends :class:`~costtrail.billing.meters.MeterRecord` batches in the service's
documented wire format and returns only once the service acknowledged them:

* Stripe Billing meter events (``stripe`` package): ``POST /v1/billing/meter_events``,
  one per record, ``identifier`` = the record id, ``payload`` =
  ``{stripe_customer_id, value}``;
* OpenMeter (CloudEvents 1.0 built with the ``cloudevents`` package):
  ``POST /api/v1/events`` as ``application/cloudevents-batch+json``, ``id`` = the
  record id, ``type`` = the meter's event type, ``subject`` = the customer;
* Lago (``lago-python-client``): ``POST /api/v1/events/batch``, ``transaction_id`` =
  the record id, ``external_subscription_id`` = the customer, ``code`` = the metric code.

The ledger's ``customer_id`` is sent as the billing system's customer (Stripe) or
subscription (Lago) id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import httpx

from costtrail.billing.meters import MeterRecord, MeterSink

SOURCE = "costtrail"


def _value(record: MeterRecord) -> str:
    return str(record.as_dict()["value"])


class StripeSink:
    name = "stripe"
    max_batch = 1  # one meter event per request: each is logged as soon as Stripe has it

    def __init__(self, api_key: str, base_url: str | None = None, retries: int = 2) -> None:
        import stripe

        bases = {"api": base_url, "meter_events": base_url} if base_url else None
        self._stripe = stripe
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=bases,  # type: ignore[arg-type]
            max_network_retries=retries,
        )

    def send(self, records: Sequence[MeterRecord]) -> None:
        for r in records:
            try:
                self._client.v1.billing.meter_events.create(
                    {
                        "event_name": r.event_name,
                        "identifier": r.id,
                        "timestamp": int(r.timestamp.timestamp()),
                        "payload": {"stripe_customer_id": r.customer_id, "value": _value(r)},
                    }
                )
            except self._stripe.InvalidRequestError as exc:
                # sent before, its acknowledgement lost (a crash between send and log): already there
                if exc.code != "resource_already_exists":
                    raise


class OpenMeterSink:
    name = "openmeter"
    max_batch = 1000

    def __init__(self, api_key: str, base_url: str | None = None, retries: int = 2) -> None:
        base_url = base_url or "https://openmeter.cloud"
        self._transport = httpx.HTTPTransport(retries=retries)  # connection failures only
        self._url = base_url.rstrip("/") + "/api/v1/events"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @staticmethod
    def cloudevent(r: MeterRecord) -> dict[str, object]:
        """The record as a structured-mode CloudEvent (JSON format of the ``cloudevents`` package)."""
        from cloudevents.core.formats.json import JSONFormat
        from cloudevents.core.v1.event import CloudEvent

        event = CloudEvent(
            attributes={
                "id": r.id,
                "source": SOURCE,
                "type": r.event_name,
                "subject": r.customer_id,
                "time": r.timestamp,
                "datacontenttype": "application/json",
            },
            data={"value": _value(r), "metric": r.metric, "event_id": r.event_id},
        )
        parsed: dict[str, object] = json.loads(JSONFormat().write(event))
        return parsed

    def send(self, records: Sequence[MeterRecord]) -> None:
        body = json.dumps([self.cloudevent(r) for r in records])
        headers = {**self._headers, "Content-Type": "application/cloudevents-batch+json"}
        with httpx.Client(transport=self._transport, timeout=30) as client:
            client.post(self._url, content=body, headers=headers).raise_for_status()


class LagoSink:
    name = "lago"
    max_batch = 100  # Lago's batch endpoint takes up to 100 events

    def __init__(self, api_key: str, base_url: str | None = None, retries: int = 2) -> None:
        from lago_python_client.client import Client

        self._client = Client(api_key=api_key, api_url=base_url or "", max_retries=retries)

    def send(self, records: Sequence[MeterRecord]) -> None:
        from lago_python_client.models.event import BatchEvent, Event

        events = [
            Event(
                transaction_id=r.id,
                external_subscription_id=r.customer_id,
                code=r.event_name,
                timestamp=int(r.timestamp.timestamp()),
                precise_total_amount_cents=None,
                properties={"value": _value(r), "event_id": r.event_id},
            )
            for r in records
        ]
        self._client.events.batch_create(BatchEvent(events=events))


SINKS: dict[str, Callable[[str, str | None], MeterSink]] = {
    "stripe": StripeSink,
    "openmeter": OpenMeterSink,
    "lago": LagoSink,
}
API_KEY_ENV = {"stripe": "STRIPE_API_KEY", "openmeter": "OPENMETER_API_KEY", "lago": "LAGO_API_KEY"}
