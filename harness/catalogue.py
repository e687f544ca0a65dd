"""Where the scenario catalogue and the target profiles live: files shipped inside the package."""

from __future__ import annotations

from reference_server.package_data import shipped_folder

CATALOGUE_DIR = shipped_folder("harness", "scenarios")
PROFILES_DIR = CATALOGUE_DIR / "profiles"
