"""Payload encryption (AES-256-GCM codec, key ring) and the codec server for the Temporal UI."""
