"""The reference implementation of the robust SSE stream (shared PROTOCOL.md)."""
