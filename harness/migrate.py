"""Histories of earlier formats read as the current one: the first (an untyped `meta` dict,
before plans) as the second, the second (every client stamped by the harness's one loop, before
worker processes and shards) as the third.

What the first format did not record is given neutral values that no check reads: the request's
parameters, the clients' stagger and attempt limit, the hard deadline.
"""

from __future__ import annotations

import json
from typing import Any

from harness.faults import FaultNote, make_fault
from harness.plan import TEARDOWN_MARGIN_SECONDS

_NOT_CLIENTS = ("nemesis", "harness")
_FIRST_FORMAT_MAX_ATTEMPTS = 30


def from_format_1(payload: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = payload["meta"]
    rows = [dict(zip(payload["columns"], row, strict=True)) for row in payload["records"]]
    records = [_record(row) for row in rows]
    columns = list(records[0]) if records else []
    return {
        "format": 2,
        "plan": _plan(meta, rows) if "profile" in meta else None,
        "baseline": _baseline(meta.get("baseline")),
        "screenshots": meta.get("screenshots", []),
        "epoch_ns": payload["epoch_ns"],
        "columns": columns,
        "records": [list(record.values()) for record in records],
    }


def from_format_2(payload: dict[str, Any]) -> dict[str, Any]:
    return {"loops": {}, "anchors": []} | payload | {"format": 3}


def _record(row: dict[str, Any]) -> dict[str, Any]:
    record = row | {"outcome": "", "lag_us": 0}
    if row["kind"] == "loop_lag":
        record |= {"lag_us": row["nbytes"], "nbytes": 0}
    elif row["kind"] == "outcome":
        record |= {"outcome": row["detail"], "detail": row["data"], "data": ""}
    elif row["kind"] in ("fault_start", "fault_end"):
        record["detail"] = json.dumps(_fault_note(json.loads(row["detail"])))
    return record


def _fault(spec: dict[str, Any]) -> dict[str, Any]:
    settings = dict(spec.get("attributes", {}))
    if spec["action"] != "down":
        settings |= {"stream": spec.get("stream", "downstream"), "toxicity": spec.get("toxicity", 1.0)}
    return {"action": spec["action"], **settings}


def _fault_note(spec: dict[str, Any]) -> dict[str, Any]:
    settings = _fault(spec)
    fault = make_fault(settings.pop("action"), settings)
    return FaultNote.of(fault, spec.get("proxy", "")).model_dump()


def _plan(meta: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    clients = list(dict.fromkeys(row["client"] for row in rows if row["client"] not in _NOT_CLIENTS))
    browser = bool(meta.get("screenshots")) or any(row["kind"] == "display" for row in rows)
    faults = [
        {"fault_id": f"f{index}", "fault": _fault(spec), "at": spec["at"], "until": spec["until"]}
        for index, spec in enumerate(meta.get("faults", []))
    ]
    deadline = meta["client_deadline"]
    return {
        "scenario": meta["scenario"],
        "description": meta.get("description", ""),
        "profile": meta["profile"],
        "timing": meta["timing"],
        "request": {"url": meta["target"], "params": {}},
        "clients": {
            "kind": "browser" if browser else "http",
            "count": len(clients),
            "stagger": 0.0,
            "deadline": deadline,
            "max_attempts": _FIRST_FORMAT_MAX_ATTEMPTS,
        },
        "faults": faults,
        "sweep": _sweep(meta.get("sweep"), faults, len(clients)),
        "expect": meta["expect"],
        "hard_deadline": deadline + TEARDOWN_MARGIN_SECONDS,
    }


def _sweep(sweep: dict[str, Any] | None, faults: list[dict[str, Any]], clients: int) -> dict[str, Any] | None:
    if sweep is None:
        return None
    swept = next((fault for fault in faults if sweep["attribute"] in fault["fault"]), None)
    if swept is None:
        raise ValueError(f"no fault has the swept attribute {sweep['attribute']!r}")
    values = list(range(sweep["start"], sweep["stop"], sweep.get("step", 1)))
    return {
        "fault_id": swept["fault_id"],
        "attribute": sweep["attribute"],
        "values": values,
        "lanes": min(sweep.get("lanes", 50), max(1, clients)),
    }


def _baseline(baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    return {"content": baseline.get("content"), "reason": baseline.get("reason")}
