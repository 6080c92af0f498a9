"""Messaging use cases (SPEC §8): open, send, moderate, read, export; the notification bridge."""
