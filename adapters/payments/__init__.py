"""The payments port and its implementations."""
