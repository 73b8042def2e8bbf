"""Deterministic order-to-cash workflows; task queue names live here."""

DEFAULT_TASK_QUEUE = "cashloop"
# ERP calls get their own queue so the ERP's rate limit can be enforced across workers.
DEFAULT_ERP_TASK_QUEUE = "cashloop-erp"
