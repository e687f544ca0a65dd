"""The streaming search page's files (static/), served at `/` and reused by the harness's browser clients."""

from __future__ import annotations

from reference_server.package_data import shipped_folder

STATIC_DIR = shipped_folder("reference_server", "static")
PAGE_FILE = "index.html"
# The page and its modules come from this origin only; nothing inline, nothing framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
