"""Azure OpenAI: calls name a *deployment* (``/openai/deployments/{deployment}/chat/completions``),
which the operator maps to the model it serves.

A deployments file is YAML, one ``deployment: model`` line each::

    deployments:
      prod-chat: gpt-4o
      embedder: text-embedding-3-small

A call's model is the mapped one, else the model the response names, else the deployment's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from costtrail.schema.yaml_source import describe_errors, parse_mapping, read_source

AZURE = "azure"

_DEPLOYMENT = re.compile(r"/openai/deployments/([^/]+)/")
_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class DeploymentsError(ValueError):
    """A deployments file cannot be read; the message names the file, line and field."""


class _DeploymentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deployments: dict[_Name, _Name]


def deployment_in_path(path: str) -> str | None:
    """The deployment an Azure OpenAI URL path names, else ``None``.

    >>> deployment_in_path("/openai/deployments/prod-chat/chat/completions")
    'prod-chat'
    >>> deployment_in_path("/v1/chat/completions") is None
    True
    """
    found = _DEPLOYMENT.search(path)
    return found.group(1) if found else None


def load_deployments(source: Mapping[str, str] | str | Path | None) -> dict[str, str]:
    """Deployment -> model, from a mapping or a YAML file; :class:`DeploymentsError` names what is wrong.

    >>> load_deployments({"prod-chat": "gpt-4o"})
    {'prod-chat': 'gpt-4o'}
    """
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return _validated({"deployments": dict(source)}, None, "azure_deployments")
    text = read_source(source, DeploymentsError, "Azure deployments file")
    node, data = parse_mapping(
        text,
        str(source),
        DeploymentsError,
        "an Azure deployments file is a YAML mapping: 'deployments:' then 'name: model' lines",
        empty_ok=False,
    )
    return _validated(data, node, str(source))


def _validated(data: dict[str, Any], node: yaml.Node | None, source: str) -> dict[str, str]:
    try:
        return dict(_DeploymentsFile.model_validate(data).deployments)
    except ValidationError as exc:
        raise DeploymentsError(
            describe_errors(
                exc,
                data,
                node,
                source,
                title="invalid Azure deployments (write 'deployments:' then 'deployment-name: model')",
                default="deployments",
            )
        ) from exc
