"""The embedded local stack: Temporal dev server, sandbox systems, gateway and worker."""
