"""A shard's clock against the reference's Date header, its bound, the common start T and the slots."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from harness.embedded import EmbeddedServer
from harness.errors import ConfigurationError, EnvironmentProblem
from harness.history import History
from harness.shards import clock, slots
from harness.shards.clock import (
    MAX_UNCERTAINTY_S,
    Anchor,
    ClockSample,
    Observation,
    clock_widening,
    edge_between,
    measure,
    measurement_of,
    too_uncertain,
)
from harness.shards.slots import SLOT_MARGIN_S, SlotKeeper, parse_start_at, slot_starts
from harness.share import Share
from harness.transport import new_http_client
from tests.helpers.histories import built_plan
from tests.helpers.shards import SECOND, measured


def test_an_edge_between_two_answers_gives_the_offset_at_its_midpoint_within_half_its_width() -> None:
    """The reference's second 100 began between 99.990 s (the first request left) and 100.010 s
    (the second answer came) on this clock: it is 100.000 s here, give or take 10 ms."""
    before = Observation(sent_ns=99_990_000_000 + 5 * SECOND, received_ns=99_992_000_000 + 5 * SECOND, date_s=104)
    after = Observation(sent_ns=99_998_000_000 + 5 * SECOND, received_ns=100_010_000_000 + 5 * SECOND, date_s=105)
    sample = edge_between(before, after)
    assert sample == ClockSample(offset_s=0.0, uncertainty_s=0.010)


@pytest.mark.parametrize("second", [104, 106])
def test_answers_in_one_second_or_further_apart_than_one_say_nothing(second: int) -> None:
    before = Observation(0, 1, 104)
    assert edge_between(before, Observation(2, 3, second)) is None


def test_the_tightest_edge_is_kept_and_every_one_recorded() -> None:
    samples = [ClockSample(offset_s=0.3, uncertainty_s=0.02), ClockSample(offset_s=0.1, uncertainty_s=0.004)]
    found = measurement_of("http-date x", samples)
    assert (found.offset_s, found.uncertainty_s, found.samples) == (0.1, 0.004, samples)


@pytest.mark.asyncio
@pytest.mark.parametrize("shift_s", [0.0, -20.0])
async def test_a_clock_measured_against_a_server_on_this_machine_is_off_by_its_shift_within_its_uncertainty(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch, shift_s: float
) -> None:
    """The server's Date comes from the true clock; a shard whose clock reads 20 s behind finds +20 s."""
    unshifted = clock.wall_ns
    monkeypatch.setattr(clock, "wall_ns", lambda: unshifted() + round(shift_s * 1e9))
    async with new_http_client() as http:
        found = await measure(http, server.stream_url, edges=2)
    assert len(found.samples) == 2
    assert found.uncertainty_s <= MAX_UNCERTAINTY_S
    assert abs(found.offset_s + shift_s) <= found.uncertainty_s, found
    assert found.source == f"http-date {server.stream_url}"


@pytest.mark.asyncio
async def test_a_clock_reference_that_does_not_answer_is_an_error() -> None:
    async with new_http_client() as http:
        with pytest.raises(EnvironmentProblem, match=r"the clock reference http://127\.0\.0\.1:9/ did not answer"):
            await measure(http, "http://127.0.0.1:9/")


@pytest.mark.parametrize(("uncertainty", "refused"), [(MAX_UNCERTAINTY_S, False), (MAX_UNCERTAINTY_S + 0.001, True)])
def test_a_clock_known_less_closely_than_the_bound_is_refused(uncertainty: float, refused: bool) -> None:
    why = too_uncertain(measured(uncertainty=uncertainty), "shard 1/2")
    assert (why is not None) == refused
    if why is not None:
        assert why.startswith("shard 1/2's clock offset is known only to ± 101 ms, more than the 100 ms bound")


def anchored(shard: str, uncertainty: float) -> Anchor:
    return Anchor(shard=shard, start_at=0, slot_s=5, wall_ns=0, monotonic_ns=0, clock=measured(uncertainty=uncertainty))


def test_the_widening_is_the_two_largest_uncertainties_of_two_shards_and_none_for_one() -> None:
    three = [anchored("0/3", 0.002), anchored("1/3", 0.010), anchored("2/3", 0.004)]
    assert clock_widening(three) == pytest.approx(0.014)
    assert clock_widening([anchored("0/1", 0.05)]) == 0.0
    assert clock_widening([anchored("0/2", 0.5), anchored("1/2", 0.5)]) == 2 * MAX_UNCERTAINTY_S


def test_an_anchor_moves_a_shard_s_monotonic_time_onto_the_reference_clock() -> None:
    """Its wall clock read 980 s (20 s behind the reference) when its monotonic clock read 7 s."""
    anchor = Anchor(
        shard="1/2", start_at=990, slot_s=1000, wall_ns=980 * SECOND, monotonic_ns=7 * SECOND, clock=measured(20.0)
    )
    assert anchor.aligned_ns(8 * SECOND) == 1001 * SECOND


def test_start_at_reads_iso_8601_with_a_zone_and_unix_seconds() -> None:
    ahead = round(time.time()) + 60
    iso = datetime.fromtimestamp(ahead, UTC).isoformat().replace("+00:00", "Z")
    assert parse_start_at(iso) == parse_start_at(str(ahead)) == ahead


@pytest.mark.parametrize(
    ("offset", "message"),
    [(-5, r"--start-at is \d+\.\d s in the past"), (86_500, r"--start-at is 24\.\d h ahead, more than a day")],
)
def test_a_start_in_the_past_or_more_than_a_day_ahead_is_refused(offset: int, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_start_at(str(round(time.time()) + offset))


@pytest.mark.parametrize(
    ("text", "message"), [("2030-01-01T00:00:00", "has no zone"), ("tomorrow\x1b[31m", r"not 'tomorrow\\x1b\[31m'")]
)
def test_a_start_without_a_zone_or_unreadable_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_start_at(text)


def test_each_slot_starts_after_the_previous_plan_s_hard_deadline_and_the_margin() -> None:
    first, second = built_plan(), built_plan().model_copy(update={"scenario": "second", "hard_deadline": 10.0})
    slots = slot_starts(1000.0, [first, second])
    assert slots == {"built": 1000 + SLOT_MARGIN_S, "second": 1000 + 2 * SLOT_MARGIN_S + first.hard_deadline}


@pytest.mark.asyncio
async def test_a_shard_reaching_its_slot_late_makes_the_scenario_an_error_saying_by_how_much() -> None:
    keeper = SlotKeeper(Share(1, 2), start_at=time.time() - 30)
    keeper.schedule(measured(), [built_plan()])
    keeper.slots["built"] = time.time() - 2.5
    with pytest.raises(EnvironmentProblem, match=r"shard 1/2 reached scenario built's slot 2\.5\d\d s late"):
        await keeper.open(built_plan(), History())


@pytest.mark.asyncio
async def test_a_shard_waits_for_its_slot_and_anchors_the_history_there() -> None:
    keeper = SlotKeeper(Share(0, 2), start_at=time.time())
    keeper.schedule(measured(offset=-3.0), [built_plan()])
    keeper.slots["built"] = time.time() - 3.0 + 0.2  # 0.2 s ahead on the reference clock (3 s behind this one)
    history = History()
    started = time.monotonic()
    await keeper.open(built_plan(), history)
    assert time.monotonic() - started >= 0.18
    (anchor,) = history.anchors
    assert (anchor.shard, anchor.slot_s) == ("0/2", keeper.slots["built"])
    assert abs(anchor.aligned_ns(anchor.monotonic_ns) / 1e9 - anchor.slot_s) < 0.05


class StoppedClock:
    """A wall clock that moves only when the slot keeper sleeps: each sleep is recorded, never slept."""

    def __init__(self, now_s: float) -> None:
        self.now_ns = round(now_s * SECOND)
        self.slept: list[float] = []

    def wall_ns(self) -> int:
        return self.now_ns

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_ns += round(seconds * SECOND)


NOW_S = 1000.0  # on the stopped clock; the keeper's clock reads 3 s behind the reference


@pytest.fixture
def stopped(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    stopped = StoppedClock(NOW_S)
    monkeypatch.setattr(clock, "wall_ns", stopped.wall_ns)
    monkeypatch.setattr(slots.asyncio, "sleep", stopped.sleep)
    return stopped


def keeper_with_slot_in(seconds: float) -> SlotKeeper:
    """Shard 0/2, whose scenario `built`'s slot is `seconds` ahead on the reference clock."""
    keeper = SlotKeeper(Share(0, 2), start_at=NOW_S)
    keeper.schedule(measured(offset=3.0), [built_plan()])
    keeper.slots["built"] = NOW_S + 3.0 + seconds
    return keeper


@pytest.mark.asyncio
@pytest.mark.parametrize(("slot_in", "slept"), [(10.0, [8.0]), (1.5, []), (-1.0, [])])
async def test_approaching_a_slot_sleeps_until_the_lead_before_it_or_not_at_all_when_nearer(
    stopped: StoppedClock, slot_in: float, slept: list[float]
) -> None:
    await keeper_with_slot_in(slot_in).approach(built_plan(), lead_seconds=2.0)
    assert stopped.slept == pytest.approx(slept)


@pytest.mark.asyncio
async def test_a_gate_approached_opens_at_the_slot_itself_and_anchors_the_history_there(stopped: StoppedClock) -> None:
    keeper, history = keeper_with_slot_in(10.0), History()
    await keeper.approach(built_plan(), lead_seconds=2.0)
    assert history.anchors == []
    await keeper.open(built_plan(), history)
    assert stopped.slept == pytest.approx([8.0, 2.0])
    (anchor,) = history.anchors
    assert anchor.wall_ns == stopped.now_ns
    assert anchor.aligned_ns(anchor.monotonic_ns) == round(keeper.slots["built"] * SECOND)


@pytest.mark.asyncio
async def test_a_gate_opened_after_its_slot_is_an_error_saying_by_how_much(stopped: StoppedClock) -> None:
    keeper, history = keeper_with_slot_in(-0.25), History()
    await keeper.approach(built_plan(), lead_seconds=2.0)
    with pytest.raises(EnvironmentProblem, match=r"shard 0/2 reached scenario built's slot 0\.250 s late"):
        await keeper.open(built_plan(), history)
    assert (stopped.slept, history.anchors) == ([], [])
