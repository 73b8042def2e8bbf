"""Sandbox systems: the embedded default stand-ins (real HTTP services over a real database)."""
