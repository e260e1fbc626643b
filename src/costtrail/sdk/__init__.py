"""SDK: run/step context, instrumented provider clients, record(), outcome(), background writer."""
