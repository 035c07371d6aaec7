"""Loopback servers for the test suite: an ASGI app on hypercorn, a raw-socket server, TLS certs.

Nothing in here imports httpcore2, so the servers can be tested on their own.
"""
