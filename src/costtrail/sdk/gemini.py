"""``instrument(genai.Client(...))``: Google's ``google-genai`` client, sync (``client.models``) and async.

google-genai sends each model call through an httpx client it holds; costtrail
wraps that client's ``send`` (:func:`~costtrail.sdk.http_capture.patch_send`),
so every ``generateContent``, ``streamGenerateContent``, ``embedContent`` and
``batchEmbedContents`` request becomes one event, read by :mod:`costtrail.wire`
like the gateway reads it. One event per HTTP request rather than per method
call is what Google bills: ``generate_content`` with automatic function calling
makes one model call per round. google-genai's own retries (off unless
``HttpRetryOptions`` asks) are recorded one event an attempt. With budgets
enforced (``costtrail.enforce_budgets``) each request is first checked and
raises ``BudgetExceeded`` instead of being sent.
"""

from __future__ import annotations

import logging
from typing import Any

from costtrail.sdk.calls import RecorderRef
from costtrail.sdk.http_capture import patch_send
from costtrail.wire import GOOGLE, provider_for_url

log = logging.getLogger("costtrail.sdk")


def is_gemini_client(client: Any) -> bool:
    """True for a ``google.genai.Client`` (its ``aio`` side included through it)."""
    return type(client).__module__.startswith("google.genai") and hasattr(client, "_api_client")


def instrument_gemini(client: Any, recorder_ref: RecorderRef) -> Any:
    """Record every model call ``client`` makes, sync and async (idempotent); returns ``client``."""
    if getattr(client, "_costtrail_instrumented", False):
        return client
    api = client._api_client
    sync_http = getattr(api, "_httpx_client", None)
    if sync_http is None or not hasattr(sync_http, "send"):
        raise TypeError(f"cannot find the HTTP client inside {type(client).__name__}; is this google-genai?")
    base_url = getattr(getattr(api, "_http_options", None), "base_url", None) or ""
    recorded_as = provider_for_url(str(base_url), GOOGLE) if base_url else GOOGLE
    patch_send(sync_http, GOOGLE, recorder_ref, recorded_as, check_budgets=True, methods_wrapped=False)
    async_http = getattr(api, "_async_httpx_client", None)
    if async_http is not None and hasattr(async_http, "send"):
        patch_send(async_http, GOOGLE, recorder_ref, recorded_as, check_budgets=True, methods_wrapped=False)
    uses_aiohttp = getattr(api, "_use_aiohttp", None)
    if callable(uses_aiohttp) and uses_aiohttp():
        log.warning(
            "costtrail: google-genai sends async calls through aiohttp here, which costtrail does not see: "
            "pass http_options=HttpOptions(async_client_args={'transport': httpx.AsyncHTTPTransport()}) "
            "to send them through httpx"
        )
    client._costtrail_instrumented = True
    return client
