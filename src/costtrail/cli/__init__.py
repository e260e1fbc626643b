"""Command-line interface (Typer + Rich): a thin edge over the core."""
