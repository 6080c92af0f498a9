"""Diagnostics bundles: the hostile-input zip reader, JSON Schemas, the error catalogue,
phone numbers (``phonenumbers``) and the bundle directory."""
