"""Toxiproxy: the real server as a child process, and a typed client for its API."""

from harness.toxiproxy.api import Proxy, ToxicSpec, ToxiproxyAPI, ToxiproxyError, ToxiproxyUnavailable
from harness.toxiproxy.binary import find_binary
from harness.toxiproxy.server import ToxiproxyServer, toxiproxy

__all__ = [
    "Proxy",
    "ToxicSpec",
    "ToxiproxyAPI",
    "ToxiproxyError",
    "ToxiproxyServer",
    "ToxiproxyUnavailable",
    "find_binary",
    "toxiproxy",
]
