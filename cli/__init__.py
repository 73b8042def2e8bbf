"""Subcommands of starter.py, one module per command group."""
