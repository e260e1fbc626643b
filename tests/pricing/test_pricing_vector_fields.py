"""The price vector's token columns are the schema's token fields: a new one cannot be left unpriced."""

from __future__ import annotations

from costtrail.pricing.decomposition import FEE_USAGE_KEYS, VECTOR_TOKEN_FIELDS
from costtrail.schema import TOKEN_FIELDS, TOOL_FEE_FIELDS


def test_the_vector_has_a_column_for_each_token_field_of_the_event() -> None:
    assert sorted(VECTOR_TOKEN_FIELDS) == sorted(TOKEN_FIELDS)
    assert len(VECTOR_TOKEN_FIELDS) == len(set(VECTOR_TOKEN_FIELDS))


def test_each_tool_fee_field_of_the_event_has_a_usage_key() -> None:
    assert sorted(FEE_USAGE_KEYS) == sorted(TOOL_FEE_FIELDS)
