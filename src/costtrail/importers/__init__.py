"""Importers: provider bills and billing exports normalized to cost lines."""
