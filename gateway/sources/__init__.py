"""Source modules: one per upstream system, each mapping its messages to canonical events."""
