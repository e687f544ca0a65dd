"""Browser clients: the search page's stream in headless Chromium, recorded like any client."""

from harness.browser.chromium import Chromium, chromium_on_demand
from harness.browser.client import BrowserClient, page_cannot_speak
from harness.browser.warmup import warm_up

__all__ = ["BrowserClient", "Chromium", "chromium_on_demand", "page_cannot_speak", "warm_up"]
