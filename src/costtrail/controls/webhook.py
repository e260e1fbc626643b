"""The webhook alert sink: JSON POSTs (or a Slack-compatible payload) from a background thread.

Uses only the standard library (``urllib``) so the core needs no HTTP client;
sending never blocks the request path: alerts wait in a bounded queue and a
full queue drops (and counts) the alert rather than slowing a caller.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from costtrail.controls.alerts import Alert, evidence_json

log = logging.getLogger("costtrail.alerts")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message (``text`` plus a block with the evidence)."""
    evidence = "\n".join(f"• {k}: {v}" for k, v in json.loads(evidence_json(alert.evidence)).items())
    icon = ":rotating_light:" if alert.severity == "critical" else ":warning:"
    return {
        "text": f"{icon} {alert.title}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{alert.title}*\n{alert.message}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": evidence or "(no evidence)"}},
        ],
    }


class WebhookSink:
    """POSTs each alert to ``url`` as JSON (:meth:`Alert.as_dict`) or a Slack message (``format="slack"``)."""

    def __init__(
        self, url: str, *, format: str = "json", timeout_s: float = 5.0, max_queue: int = 1000
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https:// (got {url!r})")
        self.url = url
        self.format = format
        self.timeout_s = timeout_s
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="costtrail-webhook", daemon=True)
        self._thread.start()

    def payload(self, alert: Alert) -> dict[str, Any]:
        return slack_payload(alert) if self.format == "slack" else alert.as_dict()

    def send(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            log.warning("webhook queue full; dropped alert %s", alert.key)

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                self._post(alert)
            finally:
                self._queue.task_done()

    def _post(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert)).encode()
        req = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
            self.delivered += 1
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.failed += 1
            # The path of a Slack-style URL is a secret: name only the host.
            log.warning(
                "webhook to %s failed for alert %s: %s",
                urllib.parse.urlsplit(self.url).netloc,
                alert.key,
                exc,
            )

    def flush(self) -> None:
        """Wait until every queued alert was attempted."""
        self._queue.join()

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=self.timeout_s + 1)
