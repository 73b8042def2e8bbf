"""The erp port and its implementations."""
