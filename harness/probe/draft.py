"""The draft profile a probe writes: `extends` the profile that fits best (the one asked for
with --profile, else the shipped one needing the fewest changes), then each field found that
differs from it, each with the plain words that say why."""

from __future__ import annotations

from typing import Any

import tomli_w

from harness.probe.findings import Findings
from harness.profile import DEFAULT_PROFILE, PROFILES_DIR, TargetProfile, load_profile
from harness.request import RequestShape


def shipped_profiles() -> dict[str, TargetProfile]:
    names = [DEFAULT_PROFILE.name, *sorted(path.stem for path in PROFILES_DIR.glob("*.toml"))]
    return {name: load_profile(name) for name in names}


def changes(findings: Findings, parent: TargetProfile) -> dict[str, Any]:
    """The fields found that differ from `parent`'s."""
    return {
        name: value
        for name, value in findings.fields.items()
        if _comparable(getattr(parent, name)) != _comparable(value)
    }


def _comparable(value: Any) -> Any:
    """A profile's value as a probe finds it: a list for a tuple, "" (TOML's none) for None."""
    if value is None:
        return ""
    return list(value) if isinstance(value, tuple) else value


def fitting(findings: Findings, shape: RequestShape) -> str:
    """The shipped profile needing the fewest changes among those whose request `shape` can
    extend: the same method, no parameter `shape` lacks (a profile that extends can add, not remove)."""
    candidates = {
        name: profile
        for name, profile in shipped_profiles().items()
        if profile.request.method == shape.method and profile.request.params.keys() <= shape.params.keys()
    }
    return min(candidates, key=lambda name: len(changes(findings, candidates[name])))


def draft_text(findings: Findings, extends: str, parent: TargetProfile, shape: RequestShape) -> str:
    lines = [
        "# A draft profile written by `sse-chaos probe` from what the target answered.",
        f"# It extends {extends!r}, the profile that fits best, and sets what the probe found",
        "# different, each with why. Check what it could not hear (a comment says so), then:",
        "#   sse-chaos run --target URL --profile THIS-FILE",
        "# Headers given with -H are not written here: give them to `run` again.",
        tomli_w.dumps({"extends": extends, "name": f"probed-{parent.name}"}),
    ]
    for name, value in changes(findings, parent).items():
        lines += [f"# {findings.why[name]}", tomli_w.dumps({name: value})]
    if not findings.fields.get("endless") and parent.stream_max_seconds is None and not findings.fields["cap_header"]:
        lines.append("# No header advertises a cap on a stream's length: set stream_max_seconds if there is one.\n")
    if "deterministic" not in findings.fields:
        lines.append(
            f"# deterministic = {str(parent.deterministic).lower()} (from {extends}): the probe cannot tell.\n"
        )
    if shape.raw() != parent.request.raw():
        request = shape.model_dump(exclude_none=True)
        lines += ["# The request the probe made.", tomli_w.dumps({"request": request})]
    return "\n".join(lines)
