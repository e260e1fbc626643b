"""Allocation: shared costs split by documented rules."""
