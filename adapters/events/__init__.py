"""Change-feed adapters (``application/ports/events.py``)."""
