"""Charts as inline SVG (matplotlib, no server, no network), drawn from the history's records."""

from __future__ import annotations

import io
from itertools import pairwise

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from harness.checks.views import client_views, fault_windows, heartbeats
from harness.history import History, Kind

# Text as SVG text, not glyph paths: faster to draw and a smaller page.
plt.rcParams["svg.fonttype"] = "none"

_MAX_CLIENT_ROWS = 24
# Marks closer than this fraction of an axis fall on the same pixels, and drawing one draws
# them all: a client capped at thousands of records would otherwise make a chart of megabytes.
_PIXELS = 2000
_FAULT_COLOURS = ("#f4a261", "#e76f51", "#9b5de5", "#2a9d8f")


def timeline_svg(history: History) -> str:
    every_client = sorted(history.clients())
    clients = every_client[:_MAX_CLIENT_ROWS]
    if not clients or history.plan is None:
        return ""
    profile = history.plan.profile
    fig, ax = plt.subplots(figsize=(10, max(2.2, 0.9 + 0.28 * len(clients))))
    if len(every_client) > len(clients):
        ax.set_title(f"first {len(clients)} of {len(every_client)} clients", fontsize=8, loc="left")
    _shade_faults(ax, history)
    rows = {name: index for index, name in enumerate(clients)}
    # only what is drawn: the records' text, in a frame, would take memory for nothing
    marks = pd.DataFrame(
        [(history.seconds(r), r.client, r.kind, r.event) for r in history.records if r.client in rows],
        columns=["t", "client", "kind", "event"],
    )
    shown = _one_per_pixel(marks, ["t"], ["client", "kind", "event"])
    y = shown["client"].map(rows)
    is_event = shown["kind"] == Kind.EVENT
    layers = [
        (is_event & (shown["event"] == profile.content_event), "|", "#8d99ae", "content"),
        (is_event & (shown["event"] == profile.heartbeat_event), "|", "#1d3557", "heartbeat"),
        (shown["kind"] == Kind.COMMENT, "|", "#457b9d", "comment"),
        (shown["kind"] == Kind.ATTEMPT, ">", "#f77f00", "connect"),
        (shown["kind"] == Kind.ERROR, "x", "#d62828", "cut / error"),
        (shown["kind"] == Kind.DUPLICATE, "D", "#d62828", "duplicate"),
        (is_event & shown["event"].isin(profile.terminal_events), "*", "#2a9d8f", "terminal"),
        (shown["kind"] == Kind.TRUNCATED, "s", "#d62828", "records capped"),
    ]
    for mask, marker, colour, label in layers:
        if mask.any():
            ax.scatter(shown["t"][mask], y[mask], marker=marker, c=colour, s=40, label=label, linewidths=1)
    ax.set_yticks(range(len(clients)), clients, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since scenario start")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return _svg(fig)


def heartbeat_svg(history: History) -> str:
    if history.plan is None:
        return ""
    profile, interval = history.plan.profile, history.plan.timing.heartbeat
    if interval is None or profile.heartbeat == "none":
        return ""
    tolerance = history.plan.expect.heartbeat_tolerance
    points = []
    for client in client_views(history):
        for connection in client.connections:
            beats = [history.seconds(r) for r in heartbeats(connection, profile)]
            points += [(b, b - a) for a, b in pairwise(beats)]
    if not points:
        return ""
    # the band is always on the chart, so the gap axis spans it even when every gap is alike
    band = (interval - tolerance, interval + tolerance)
    shown = _one_per_pixel(pd.DataFrame(points, columns=["t", "gap"]), ["t", "gap"], spans={"gap": band})
    fig, ax = plt.subplots(figsize=(10, 2.6))
    _shade_faults(ax, history)
    ax.axhspan(interval - tolerance, interval + tolerance, color="#2a9d8f", alpha=0.15, label="tolerance band")
    ax.axhline(interval, color="#2a9d8f", linewidth=1, label=f"advertised {interval:g} s")
    ax.scatter(shown["t"], shown["gap"], s=8, c="#1d3557", label="observed inter-arrival")
    ax.set_xlabel("seconds since scenario start")
    ax.set_ylabel("seconds between heartbeats")
    ax.legend(fontsize=7, loc="upper right")
    return _svg(fig)


def _one_per_pixel(
    frame: pd.DataFrame,
    axes: list[str],
    keys: list[str] | None = None,
    spans: dict[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """The first of the rows that share `keys` and fall on the same pixels along `axes`; an axis
    covers its values and, when `spans` names it, that range too (what else the chart draws)."""
    pixels = {f"pixel_{axis}": _pixel(frame[axis], (spans or {}).get(axis)) for axis in axes}
    return frame[~frame.assign(**pixels).duplicated([*(keys or []), *pixels])]


def _pixel(values: pd.Series, also: tuple[float, float] | None) -> pd.Series:
    low, high = values.min(), values.max()
    if also is not None:
        low, high = min(low, also[0]), max(high, also[1])
    return ((values - low) / ((high - low) or 1.0) * _PIXELS).astype(int)


def _shade_faults(ax: plt.Axes, history: History) -> None:
    """Shade the fault windows, overlapping ones of one action merged (a sweep has hundreds)."""
    colours: dict[str, str] = {}
    for action, start, end in _merged_windows(history):
        colour = colours.setdefault(action, _FAULT_COLOURS[len(colours) % len(_FAULT_COLOURS)])
        ax.axvspan(start, end, color=colour, alpha=0.18, label=None)
        ax.text(start, 1.0, action, transform=ax.get_xaxis_transform(), fontsize=7, va="bottom")


def _merged_windows(history: History) -> list[tuple[str, float, float]]:
    merged: list[tuple[str, float, float]] = []
    for window in sorted(fault_windows(history), key=lambda w: (w.action, w.start)):
        if merged and merged[-1][0] == window.action and window.start <= merged[-1][2]:
            action, start, end = merged[-1]
            merged[-1] = (action, start, max(end, window.end))
        else:
            merged.append((window.action, window.start, window.end))
    return merged


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]
