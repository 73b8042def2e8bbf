"""Logs (structlog, PII-masked), traces (OpenTelemetry) and metrics (Prometheus) of Cashloop.

A leaf package: it imports no other Cashloop package, so adapters, activities and entry
points may all use it. Workflow code never does: workflows log through workflow.logger.
"""
