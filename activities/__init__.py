"""Thin Temporal activities: pick the adapter, call it, classify its errors."""
