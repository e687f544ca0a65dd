"""The seeded defects' registry (reference_server/defects.py), without a server."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from harness.checks import CHECKS
from harness.embedded import server_env
from harness.scenario import catalogue
from harness.selftest import CORRECT
from reference_server.defects import CORRECT as CORRECT_BEHAVIOUR
from reference_server.defects import DEFECTS, Behaviour

HOOKS = {name for name in vars(Behaviour) if not name.startswith("_")}
SERVER_FILES = {"app.py", "streams.py", "connection.py"}


def test_at_least_fifteen_defects_each_catchable_by_a_check_of_the_harness() -> None:
    assert len(DEFECTS) >= 15
    scenarios = {path.stem for path in catalogue()}
    for name, defect in DEFECTS.items():
        assert name == defect.name != CORRECT
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name)
        assert defect.check in CHECKS
        assert defect.scenarios
        assert set(defect.scenarios) <= scenarios
        assert defect.breaks


def test_every_promise_a_stream_makes_has_a_defect() -> None:
    """Every check but the browser page's (a server defect shows in the events first)."""
    assert {defect.check for defect in DEFECTS.values()} == set(CHECKS) - {"page_display"}


def test_each_defect_overrides_exactly_one_hook_and_says_where_it_acts() -> None:
    for defect in DEFECTS.values():
        overridden = [name for name in vars(type(defect.behaviour)) if name in HOOKS]
        assert overridden == [defect.hook]
        file, hook = defect.where.split()
        assert file in SERVER_FILES
        assert hook == defect.hook


def test_the_correct_behaviour_changes_nothing() -> None:
    headers, payload = {"Cache-Control": "no-cache"}, {"reason": "finished", "trace_id": "t"}
    behaviour = CORRECT_BEHAVIOUR
    assert behaviour.response_headers(headers) == headers
    assert (behaviour.resume_after(7), behaviour.resumed_trace_id("t"), behaviour.resume_ttl(30.0)) == (7, "t", 30.0)
    assert behaviour.cap_deadline(100.0, 103.0, 6.0) == 106.0
    assert behaviour.chunk_seqs(5) == (5,)
    assert behaviour.heartbeat_data(payload) == payload == behaviour.complete_data(payload)
    assert list(itertools.islice(behaviour.heartbeat_gaps(0.25), 3)) == [0.25, 0.25, 0.25]
    assert behaviour.connection_end(0.25, 1.0, resumed=False) is None


@pytest.mark.parametrize(
    ("name", "gaps"),
    [
        ("heartbeat-late", [0.375, 0.375, 0.375]),
        ("heartbeat-early", [0.15, 0.15, 0.15]),
        ("heartbeat-first-early", [0.0, 0.25, 0.25]),
        ("heartbeat-stops", [0.25, 0.25, 86_400.0]),
    ],
)
def test_heartbeat_defects_move_or_stop_the_beats(name: str, gaps: list[float]) -> None:
    found = list(itertools.islice(DEFECTS[name].behaviour.heartbeat_gaps(0.25), 3))
    assert found == pytest.approx(gaps)


def test_a_silent_stall_hits_a_stream_s_first_connection_and_a_timeout_every_one() -> None:
    stall, timeout = DEFECTS["silent-stall"].behaviour, DEFECTS["connection-timeout"].behaviour
    assert stall.connection_end(0.25, 1.0, resumed=False) == (0.5, 2.0)
    assert stall.connection_end(0.25, 1.0, resumed=True) is None
    assert timeout.connection_end(0.25, 1.0, resumed=True) == (1.0, 0.0)


def test_payload_defects_keep_event_ids_apart_from_the_seq_they_claim() -> None:
    assert DEFECTS["seq-gap"].behaviour.chunk_seqs(4) == (4,)
    assert DEFECTS["seq-gap"].behaviour.chunk_seqs(5) == (6,)
    assert DEFECTS["seq-repeated"].behaviour.chunk_seqs(5) == (5, 5)
    mislabelled = DEFECTS["cap-mislabelled"].behaviour
    assert mislabelled.complete_data({"reason": "duration_cap"}) == {"reason": "finished"}
    assert mislabelled.complete_data({"reason": "finished"}) == {"reason": "finished"}


def test_the_embedded_server_gets_a_defect_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFECT", "seq-gap")
    assert "DEFECT" not in server_env({"heartbeat_interval": 0.25}, None)
    env = server_env({"heartbeat_interval": 0.25}, "cap-early")
    assert (env["DEFECT"], env["HEARTBEAT_INTERVAL"]) == ("cap-early", "0.25")


def test_the_readme_table_is_the_registry() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+?) \| ([a-z, -]+) \| `([a-z_]+)` \|$", readme, re.MULTILINE)
    assert rows == [(d.name, d.breaks, ", ".join(d.scenarios), d.check) for d in DEFECTS.values()]
