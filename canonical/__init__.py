"""Canonical business model of Cashloop: pure models and rules, no I/O."""
