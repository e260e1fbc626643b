"""Gateway: OpenAI- and Anthropic-compatible reverse proxy that prices, attributes and enforces budgets."""
