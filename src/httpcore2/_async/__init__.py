"""Async I/O: the hand-written source of the sync twins in `_sync/`."""
