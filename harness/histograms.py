"""Timing evidence as histograms that merge (HdrHistogram): the heartbeat timing error, silences,
event-loop lag and the latency figures. Runs of one scenario in several processes or on several
machines add their histograms instead of shipping every sample, and the percentiles reported are
read from them.

Every histogram counts durations in microseconds, from 1 µs to one hour, to 3 significant
digits: values under 2.048 ms are kept to the microsecond, larger ones in buckets at most 0.1% of
their value wide, and a percentile is the highest value of its bucket (HdrHistogram's rule), so
it is exact or at most 0.1% above the sample it stands for: a p99 of 10 ms is read up to 7 µs
high, one of 200 ms up to 127 µs. It may therefore differ slightly from numpy's percentile, which
interpolates between samples.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterable, Mapping

from hdrh.codec import (
    HdrCookieException,
    HdrHistogramSettingsException,
    HdrLengthException,
    PayloadHeader,
    ext_header_size,
    payload_header_size,
)
from hdrh.histogram import HdrHistogram

from harness.errors import ConfigurationError
from harness.untrusted import printable

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: a longer duration is counted as one hour
DIGITS = 3
PRECISION = "HdrHistogram, 3 significant digits: exact to the microsecond under 2.048 ms, at most 0.1% high above"
_COUNTS = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS).counts_len
_MAX_PAYLOAD = payload_header_size + 9 * _COUNTS  # every count a 9-byte varint: the largest payload there is
_MAX_ENCODED = 4 * _MAX_PAYLOAD  # base64 of a payload zlib could not compress, with room to spare
_MAX_HISTOGRAMS = 32  # per scenario
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class Histogram:
    """Durations of one kind (its name), recorded in seconds."""

    __slots__ = ("_hdr", "name")

    def __init__(self, name: str, hdr: HdrHistogram | None = None) -> None:
        self.name = name
        self._hdr = hdr if hdr is not None else HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    @classmethod
    def of(cls, name: str, seconds: Iterable[float]) -> Histogram:
        histogram = cls(name)
        for value in seconds:
            histogram.record(value)
        return histogram

    def record(self, seconds: float) -> None:
        """Count one duration; a negative one (stamps of two clocks a hair apart) counts as 0."""
        self._hdr.record_value(min(max(round(seconds * 1e6), 0), HIGHEST_US))

    def add(self, other: Histogram) -> None:
        if other.name != self.name:
            raise ValueError(f"cannot add histogram {other.name!r} to {self.name!r}")
        self._hdr.add(other._hdr)

    @property
    def count(self) -> int:
        return int(self._hdr.get_total_count())

    def percentile(self, percent: float) -> float:
        """The duration in seconds that `percent` of the recorded ones do not exceed (see PRECISION)."""
        return float(self._hdr.get_value_at_percentile(percent)) / 1e6

    def largest(self) -> float:
        """The largest duration recorded, in seconds, read as the top of its bucket like a percentile."""
        return float(self._hdr.get_max_value()) / 1e6

    def encode(self) -> str:
        """HdrHistogram's own compact form (compressed, base64): its range, precision and counts."""
        return str(self._hdr.encode().decode("ascii"))

    def __eq__(self, other: object) -> bool:
        """Same name, same count in every bucket."""
        return isinstance(other, Histogram) and (self.name, self.encode()) == (other.name, other.encode())

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Histogram({self.name!r}, count={self.count})"


def merged(runs: Iterable[Mapping[str, Histogram]]) -> dict[str, Histogram]:
    """The histograms of several runs of one scenario (shards, workers) added name by name."""
    total: dict[str, Histogram] = {}
    for histograms in runs:
        for name, histogram in histograms.items():
            total.setdefault(name, Histogram(name)).add(histogram)
    return total


def encoded(histograms: Mapping[str, Histogram]) -> dict[str, str]:
    """Name: encoding, in name order (as summary.json keeps them)."""
    return {name: histograms[name].encode() for name in sorted(histograms)}


def decoded(saved: object) -> dict[str, Histogram]:
    """A scenario's histograms as `encoded` wrote them; anything else is refused in one line."""
    if not isinstance(saved, dict) or len(saved) > _MAX_HISTOGRAMS:
        raise ConfigurationError(f"histograms: not a mapping of at most {_MAX_HISTOGRAMS} names to encodings")
    return {_name(name): decode(name, text) for name, text in saved.items()}


def decode(name: str, text: object) -> Histogram:
    """One histogram from its encoding, refused unless it has sse-chaos's range and precision."""
    where = f"histogram '{printable(name, 64)}'"
    if not isinstance(text, str) or len(text) > _MAX_ENCODED:
        raise ConfigurationError(f"{where}: not an encoding of at most {_MAX_ENCODED} characters")
    header = _payload_header(where, text)
    if (header.lowest_trackable_value, header.highest_trackable_value, header.significant_figures) != (
        LOWEST_US,
        HIGHEST_US,
        DIGITS,
    ):
        raise ConfigurationError(
            f"{where}: its range or precision is not sse-chaos's ({LOWEST_US} µs to {HIGHEST_US} µs, {DIGITS} digits)"
        )
    try:
        hdr = HdrHistogram.decode(text)
    except (HdrCookieException, HdrLengthException, HdrHistogramSettingsException, zlib.error, ValueError) as error:
        raise ConfigurationError(f"{where}: not an HdrHistogram encoding ({type(error).__name__})") from None
    return Histogram(str(name), hdr)


def _name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = printable(name, 64) if isinstance(name, str) else type(name).__name__
        raise ConfigurationError(f"histograms: '{shown}' is not a histogram name (lower-case letters, digits, _)")
    return name


def _payload_header(where: str, text: str) -> PayloadHeader:
    """The payload's header, read with its inflation bounded before HdrHistogram reads it unbounded."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{where}: not base64") from None
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(raw[ext_header_size:], _MAX_PAYLOAD)
    except zlib.error:
        raise ConfigurationError(f"{where}: not an HdrHistogram encoding (its payload is not compressed)") from None
    if inflater.unconsumed_tail:
        raise ConfigurationError(f"{where}: its payload inflates past {_MAX_PAYLOAD} bytes")
    if len(raw) < ext_header_size or len(payload) < payload_header_size:
        raise ConfigurationError(f"{where}: too short to be an HdrHistogram encoding")
    return PayloadHeader.from_buffer_copy(payload)
