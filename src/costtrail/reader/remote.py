"""Questions answered by a running collector's read API (``POST /v1/read/{question}``)."""

from __future__ import annotations

from typing import Any

import httpx

from costtrail.reader import codec
from costtrail.reader.base import ReadFailed

_KINDS = {404: "not_found", 422: "input", 400: "input"}


class RemoteReader:
    """A collector at ``endpoint`` (``http://host:port``), asked with a read key."""

    def __init__(self, endpoint: str, api_key: str | None, *, timeout: float = 120.0) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ReadFailed(
                f"--endpoint takes the collector's URL, e.g. http://127.0.0.1:4318, not {endpoint!r}"
            )
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(base_url=self.endpoint, headers=headers, timeout=timeout)

    def ask(self, question: str, **args: Any) -> Any:
        try:
            response = self._http.post(
                f"/v1/read/{question}",
                content=codec.dumps(args),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ReadFailed(f"cannot reach the collector at {self.endpoint}: {exc}", "unavailable") from exc
        if response.status_code == 200:
            return codec.loads(response.content)
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        if response.status_code in (401, 403):
            message = f"{message} (pass a read key with --api-key or COSTTRAIL_API_KEY)"
        raise ReadFailed(message, _KINDS.get(response.status_code, "unavailable"))

    def close(self) -> None:
        self._http.close()
