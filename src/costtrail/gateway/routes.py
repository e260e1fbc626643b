"""The gateway's routes: which request is which priced call, and which may be forwarded.

A request is routed on its *normalized* path (:func:`resolve`): percent-decoded
once, doubled slashes merged, a trailing slash dropped. A spelling that could
mean something else to the provider (a dot segment, an encoded ``?`` or ``#``,
a backslash, a ``%`` left after decoding, a control character) is refused, and
what is forwarded is exactly the path that was routed on, so no spelling can
reach the provider as a priced call without being priced, nor leave ``/v1/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes, urlencode

from costtrail.wire.azure import AZURE
from costtrail.wire.flavors import ANTHROPIC, GOOGLE, OPENAI


@dataclass(frozen=True)
class WireRoute:
    """One priced endpoint: which upstream serves it and how its usage is reported."""

    path: str
    upstream: str
    kind: str = "llm"
    # OpenAI chat/completions streams report usage only when asked (stream_options.include_usage).
    usage_on_request: bool = False
    model: str | None = None  # the model the path names (Gemini: /v1beta/models/{model}:generateContent)


ROUTES: dict[str, WireRoute] = {
    r.path: r
    for r in (
        WireRoute("/v1/chat/completions", OPENAI, usage_on_request=True),
        WireRoute("/v1/completions", OPENAI, usage_on_request=True),
        WireRoute("/v1/responses", OPENAI),
        WireRoute("/v1/embeddings", OPENAI, kind="embedding"),
        WireRoute("/v1/messages", ANTHROPIC),
    )
}


# Azure OpenAI: /openai/deployments/{deployment}/{operation}?api-version=..., the deployment naming a
# model; the Responses API names the deployment as the body's model (/openai/responses).
AZURE_ROOT = "/openai/deployments/"
AZURE_RESPONSES = WireRoute("/openai/responses", AZURE)
# Azure's v1 API (/openai/v1/..., no api-version): the deployment is the body's model, as on OpenAI.
AZURE_V1: dict[str, WireRoute] = {
    r.path: r
    for r in (
        WireRoute("/openai/v1/chat/completions", AZURE, usage_on_request=True),
        WireRoute("/openai/v1/responses", AZURE),
        WireRoute("/openai/v1/embeddings", AZURE, kind="embedding"),
    )
}
AZURE_ROUTES: dict[str, WireRoute] = {
    r.path: r
    for r in (
        WireRoute(AZURE_ROOT + "{deployment}/chat/completions", AZURE, usage_on_request=True),
        WireRoute(AZURE_ROOT + "{deployment}/completions", AZURE, usage_on_request=True),
        WireRoute(AZURE_ROOT + "{deployment}/embeddings", AZURE, kind="embedding"),
        AZURE_RESPONSES,
        *AZURE_V1.values(),
    )
}
_AZURE_OPERATIONS = {
    path.removeprefix(AZURE_ROOT + "{deployment}/"): r
    for path, r in AZURE_ROUTES.items()
    if path.startswith(AZURE_ROOT)
}

_BY_FOLDED = {path.lower(): route for path, route in ROUTES.items()}
# Gemini API model calls: the model is a path segment; the method is matched whatever its case and
# forwarded in Google's spelling, so no other spelling reaches Google unpriced.
_GEMINI = re.compile(
    r"/(v1beta|v1)/models/([A-Za-z0-9][A-Za-z0-9._-]*):(generatecontent|streamgeneratecontent)"
)
_GEMINI_METHODS = {"generatecontent": "generateContent", "streamgeneratecontent": "streamGenerateContent"}
API_ROOT = "/v1/"
# What a normalized path may hold (ASCII only, so it goes on the wire as it is): RFC 3986 unreserved
# and sub-delims but ';' (path parameters in some servers), and ':@/'.
_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=:@/]*")


class PathRefused(ValueError):
    """A request path the gateway will not route; ``status`` is the HTTP answer (400 or 404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    """Where a request goes: a priced ``route`` (POST) or a forwarded ``path`` under the API root."""

    path: str  # normalized; exactly what is forwarded
    upstream: str
    route: WireRoute | None = None
    deployment: str | None = None  # an Azure OpenAI route's deployment


def upstream_for_path(path: str) -> str:
    """Forwarded paths (``/v1/models``, ``/v1/messages/count_tokens``) go to their provider."""
    if path.startswith("/v1beta/") or _GEMINI.fullmatch(path.lower()):
        return GOOGLE
    return ANTHROPIC if path.startswith("/v1/messages") else OPENAI


def gemini_route(path: str) -> WireRoute | None:
    """The priced route of a Gemini model call (``/v1beta/models/gemini-2.5-pro:generateContent``).

    >>> gemini_route("/v1beta/models/gemini-2.5-pro:StreamGenerateContent")
    WireRoute(path='/v1beta/models/gemini-2.5-pro:streamGenerateContent', upstream='google', kind='llm', \
usage_on_request=False, model='gemini-2.5-pro')
    """
    found = _GEMINI.fullmatch(path.lower())
    if found is None:
        return None
    version, method = found.group(1), _GEMINI_METHODS[found.group(3)]
    model = path[found.start(2) : found.end(2)]
    return WireRoute(f"/{version}/models/{model}:{method}", GOOGLE, model=model)


def key_to_header(
    query: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A Gemini ``?key=`` moved into the ``x-goog-api-key`` header Google also reads, so no URL the
    gateway sends (or an HTTP library logs) carries the key.

    >>> key_to_header(b"alt=sse&key=AIza1", [])
    (b'alt=sse', [(b'x-goog-api-key', b'AIza1')])
    """
    if b"key=" not in query:
        return query, headers
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    keys = [v for k, v in pairs if k == "key"]
    if not keys:
        return query, headers
    rest = urlencode([(k, v) for k, v in pairs if k != "key"]).encode("latin-1")
    if not any(name.lower() == b"x-goog-api-key" for name, _ in headers):
        headers = [*headers, (b"x-goog-api-key", keys[-1].encode("latin-1"))]
    return rest, headers


def normalize_path(raw: bytes) -> str:
    """The path a request names, decoded once, or :class:`PathRefused` (400) for an ambiguous spelling.

    >>> normalize_path(b"/v1//chat%2Fcompletions/")
    '/v1/chat/completions'
    >>> normalize_path(b"/v1/chat/completions%3F")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    costtrail.gateway.routes.PathRefused: the request path holds '?', which a provider could read ...
    """
    try:
        path = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise PathRefused(400, "the request path is not UTF-8 once decoded: send the plain path") from None
    bad = None if _SAFE.fullmatch(path) else next(c for c in path if _SAFE.fullmatch(c) is None)
    if bad is not None:
        raise PathRefused(
            400, f"the request path holds {bad!r}, which a provider could read otherwise: send the plain path"
        )
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise PathRefused(400, "the request path holds a '.' or '..' segment: send the plain path")
    return "/" + "/".join(segments)


def _allowed(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def resolve(method: str, raw_path: bytes, allowed: Iterable[str] = ()) -> Target:
    """The :class:`Target` of a request, or :class:`PathRefused`.

    A POST to a priced route (whatever the case of its spelling; an Azure
    OpenAI deployment's name is kept as written) is priced; any
    other request is forwarded only under an operator-allowed prefix
    (``costtrail gateway --allow-path``), else refused with 404.

    >>> resolve("POST", b"/V1/Chat/Completions").route.path
    '/v1/chat/completions'
    >>> resolve("GET", b"/v1/models", ["/v1/models"]).path
    '/v1/models'
    """
    path = normalize_path(raw_path)
    route = (_BY_FOLDED.get(path.lower()) or gemini_route(path)) if method == "POST" else None
    if route is not None:
        return Target(route.path, route.upstream, route)
    azure = _azure_target(path) if method == "POST" else None
    if azure is not None:
        return azure
    if path.startswith(API_ROOT) and _allowed(path, allowed):
        return Target(path, upstream_for_path(path))
    raise PathRefused(
        404,
        f"costtrail gateway: {method} {path} is not a priced route and its path is not allowed to be "
        "forwarded (the operator may allow it: costtrail gateway --allow-path /v1/...)",
    )


def _azure_target(path: str) -> Target | None:
    """An Azure OpenAI priced route (``/openai/deployments/prod-chat/chat/completions``), else ``None``.

    >>> _azure_target("/OpenAI/deployments/prod-chat/Chat/Completions").path
    '/openai/deployments/prod-chat/chat/completions'
    """
    if path.lower() == AZURE_RESPONSES.path:
        return Target(AZURE_RESPONSES.path, AZURE, AZURE_RESPONSES)
    v1 = AZURE_V1.get(path.lower())
    if v1 is not None:
        return Target(v1.path, AZURE, v1)
    parts = path.split("/", 4)  # '', openai, deployments, {deployment}, {operation}
    if len(parts) < 5 or parts[1].lower() != "openai" or parts[2].lower() != "deployments":
        return None
    operation = parts[4].lower()
    route = _AZURE_OPERATIONS.get(operation)
    if route is None:
        return None
    return Target(f"{AZURE_ROOT}{parts[3]}/{operation}", AZURE, route, deployment=parts[3])


def check_prefix(prefix: str) -> str:
    """An operator's ``--allow-path`` prefix, normalized; ValueError unless it is under ``/v1/``."""
    try:
        path = normalize_path(prefix.encode("utf-8"))
    except PathRefused as exc:
        raise ValueError(f"'{prefix}': {exc}") from None
    if not path.startswith(API_ROOT):
        raise ValueError(f"'{prefix}' is not under the providers' API root {API_ROOT}: e.g. /v1/models")
    return path
