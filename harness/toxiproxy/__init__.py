"""Toxiproxy: the real server as a child process, and a typed client for its API."""

from harness.toxiproxy.api import Proxy, ToxiproxyAPI, ToxiproxyError, ToxiproxyUnavailable
from harness.toxiproxy.server import ToxiproxyServer, find_binary, toxiproxy
from harness.toxiproxy.toxics import TOXIC_TYPES, Toxic, ToxicSpec, make_toxic

__all__ = [
    "TOXIC_TYPES",
    "Proxy",
    "Toxic",
    "ToxicSpec",
    "ToxiproxyAPI",
    "ToxiproxyError",
    "ToxiproxyServer",
    "ToxiproxyUnavailable",
    "find_binary",
    "make_toxic",
    "toxiproxy",
]
