"""The reference implementation of the robust SSE stream (docs/protocol.md)."""
