"""Checks 4 and 5 and trace propagation: the answer arrives once, whole, under one trace id.

A server that cannot resume (`resume = false`) answers every attempt from the start: the client
keeps the final attempt's answer, which must be the whole answer, and each attempt is a request
of its own, with its own trace id. An endless feed (`endless = true`) has no whole answer: what
it must not do is skip an event id across reconnections.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import (
    ClientView,
    answer_of,
    baseline_missing,
    client_views,
    content_events,
    kept_events,
    last_terminal,
    payload,
)
from harness.history import Baseline, History, Record
from harness.plan import Plan
from harness.profile import TargetProfile
from harness.reading import answer_in, ends_stream, is_content, json_of
from harness.wording import counted

_RESTARTS = "the server restarts rather than resumes (resume = false)"


def check_no_duplicates(plan: Plan, history: History) -> Verdict:
    """Fails when the server sent any event id or content seq twice, even if the client dropped it
    (within one attempt, for a server that restarts: a new attempt may send them all again)."""
    profile = plan.profile
    problems: list[str] = []
    ids_seen = seqs_seen = 0
    for where, received in _streams(client_views(history), profile.resume):
        sent = [r for r in received if r.has_id]
        ids_seen += len(sent)
        repeated = [event_id for event_id, n in Counter(r.event_id for r in sent).items() if n > 1]
        if repeated:
            problems.append(f"{where}: {counted(len(repeated), 'event id')} sent twice, first {repeated[0][:80]!r}")
        if profile.payload == "protocol":
            seqs = [payload(r).get("seq") for r in received if r.event == profile.content_event]
            seqs_seen += len(seqs)
            twice = sorted(seq for seq, n in Counter(s for s in seqs if isinstance(s, int)).items() if n > 1)
            if twice:
                problems.append(f"{where}: content seq {twice[0]} sent twice ({counted(len(twice), 'seq')} repeated)")
    if ids_seen == seqs_seen == 0:
        return not_applicable("no event id or content seq arrived to compare")
    ok = f"{ids_seen} event ids and {seqs_seen} content seqs, none repeated"
    if not profile.resume:
        ok += f" within an attempt; {_RESTARTS}"
    return verdict(problems, ok, event_ids=ids_seen, content_seqs=seqs_seen)


def _streams(clients: list[ClientView], resume: bool) -> list[tuple[str, list[Record]]]:
    """What the server sent as one stream: a client's every connection when it resumes, else each attempt."""
    if resume:
        return [(client.name, client.events + client.duplicates) for client in clients]
    streams: dict[str, list[Record]] = defaultdict(list)
    for client in clients:
        for record in client.events + client.duplicates:
            streams[f"{client.name}#{record.connection}"].append(record)
    return list(streams.items())


def check_no_loss(plan: Plan, history: History) -> Verdict:
    profile = plan.profile
    if profile.endless:
        return _no_id_gaps(history)
    if not profile.has_answer:
        return not_applicable("the target's payload is opaque: no answer to re-assemble, no seq or checksum to verify")
    if profile.payload != "protocol" and not profile.deterministic:
        return not_applicable(
            "the profile does not say the target answers a fixed request the same way every time"
            " (deterministic = false): there is no answer to compare with"
        )
    judged = [client for client in client_views(history) if _received_anything(client, profile)]
    problems = baseline_missing(history)
    if not judged and not problems:
        return not_applicable("no client received content or a terminal event")
    baseline = history.baseline or Baseline()
    compared = baseline.content is not None
    verified = 0
    for client in judged:
        found = _losses(client, profile, baseline)
        problems += [f"{client.name}: {problem}" for problem in found]
        verified += not found
    against = "and equal to the fault-free baseline" if compared else "(no baseline to compare with)"
    ok = f"{counted(verified, 'answer')} re-assembled whole, in order, {against}"
    if profile.resume:
        return verdict(problems, ok, clients_verified=verified, compared_with_baseline=compared)
    restarted = sum(len([c for c in client.connections if c.status == 200]) > 1 for client in judged)
    ok += f"; {_RESTARTS}: {counted(restarted, 'client')} retried the whole request and kept the final attempt's answer"
    evidence = {"clients_verified": verified, "compared_with_baseline": compared, "clients_restarted": restarted}
    return verdict(problems, ok, **evidence)


def _received_anything(client: ClientView, profile: TargetProfile) -> bool:
    return any(
        is_content(profile, event.event, event.data) or ends_stream(profile, event.event, event.data)
        for event in client.events
    )


def _losses(client: ClientView, profile: TargetProfile, baseline: Baseline) -> list[str]:
    events = kept_events(client, profile)
    ended = last_terminal(events, profile)
    documents = [json_of(event.data) for event in content_events(events, profile)]  # each event read once
    answer = "".join(answer_in(profile, document) for document in documents)
    problems = []
    if profile.payload == "protocol":
        problems = _protocol_losses([d if isinstance(d, dict) else {} for d in documents], answer, ended)
        if problems[:1] and problems[0].startswith("content seq"):
            return problems
    reference = baseline.content
    if reference is None:
        return problems
    if not _agrees(answer, reference, _finished(client, ended, profile, baseline)):
        problems.append(_difference(answer, reference, profile))
    if not profile.resume:
        problems += _broken_attempts(client, profile, reference)
    return problems


def _protocol_losses(chunks: list[dict[str, Any]], answer: str, ended: Record | None) -> list[str]:
    """The contract's own proof of a whole answer: seqs from 0, the total and the checksum."""
    seqs = [chunk.get("seq") for chunk in chunks]
    first_bad = next((due for due, seq in enumerate(seqs) if seq != due), None)
    if first_bad is not None:
        return [f"content seq {seqs[first_bad]} where {first_bad} was due"]
    if ended is None:
        return []
    terminal = payload(ended)
    problems = []
    if terminal.get("total_chunks") != len(chunks):
        problems.append(f"got {counted(len(chunks), 'chunk')}, the server says {terminal.get('total_chunks')}")
    if terminal.get("content_sha256") != hashlib.sha256(answer.encode()).hexdigest():
        problems.append("the re-assembled answer does not match content_sha256")
    return problems


def _finished(client: ClientView, ended: Record | None, profile: TargetProfile, baseline: Baseline) -> bool:
    """Whether the answer must be the baseline whole, not only a prefix of it: both streams
    finished (the contract's terminal event says so; another target's stream simply ended)."""
    if profile.payload == "protocol":
        return ended is not None and payload(ended).get("reason") == baseline.reason == "finished"
    return client.outcome == "complete"


def _agrees(answer: str, reference: str, finished: bool) -> bool:
    """Equal when both finished; else one a prefix of the other (a stream cut at the cap may
    have got further than the baseline was)."""
    if finished:
        return answer == reference
    common = min(len(answer), len(reference))
    return answer[:common] == reference[:common]


def _difference(answer: str, reference: str, profile: TargetProfile) -> str:
    repeated = len(answer) - len(reference)
    if not profile.resume and repeated > 0 and answer.endswith(reference) and reference.startswith(answer[:repeated]):
        return f"the answer kept repeats {repeated} characters a broken attempt had delivered before the whole answer"
    return "the answer differs from the fault-free baseline"


def _broken_attempts(client: ClientView, profile: TargetProfile, reference: str) -> list[str]:
    """A broken attempt's part answer is thrown away, but what it showed must have been right so far."""
    answered = [connection for connection in client.connections if connection.status == 200]
    return [
        f"attempt #{connection.number} delivered an answer that is not a prefix of the fault-free baseline"
        for connection in answered[:-1]
        if not reference.startswith(answer_of(connection.events, profile))
    ]


def _no_id_gaps(history: History) -> Verdict:
    """An endless feed: each client's event ids are consecutive numbers, across its reconnections."""
    problems: list[str] = []
    judged = ids = 0
    for client in client_views(history):
        numbered = [event.event_id for event in client.events if event.has_id]
        if not numbered:
            continue
        if not all(_is_number(event_id) for event_id in numbered):
            odd = next(event_id for event_id in numbered if not _is_number(event_id))
            return not_applicable(f"the feed's event ids are not numbers (first: {odd[:40]!r}): a gap cannot be seen")
        judged, ids = judged + 1, ids + len(numbered)
        gap = next(((a, b) for a, b in pairwise(map(int, numbered)) if b != a + 1), None)
        if gap is not None:
            problems.append(f"{client.name}: event id {gap[1]} came after {gap[0]}, where {gap[0] + 1} was due")
    if judged == 0:
        return not_applicable("no client received an event with an id")
    ok = (
        f"{counted(judged, 'client')} received {counted(ids, 'consecutive event id')} across their reconnections"
        " (an endless feed)"
    )
    return verdict(problems, ok, clients_verified=judged, event_ids=ids)


def _is_number(event_id: str) -> bool:
    return event_id.isascii() and event_id.isdigit() and len(event_id) <= 18


def check_trace_propagation(plan: Plan, history: History) -> Verdict:
    """One trace id per client: in every 200 response's trace header and in every event it
    received, dropped duplicates included. A server that restarts: each attempt its own."""
    profile = plan.profile
    header = (profile.trace_header or "").lower()
    if not header and profile.payload != "protocol":
        return not_applicable("the target carries no trace id")
    if not profile.resume:
        return _trace_per_attempt(header, history)
    problems: list[str] = []
    traced = 0
    for client in client_views(history):
        streamed = [c for c in client.connections if c.status == 200]
        if not streamed:
            continue
        ids = {c.headers[header] for c in streamed if header and header in c.headers}
        if header:
            problems += [f"{client.name}#{c.number}: no {header} header" for c in streamed if header not in c.headers]
        if profile.payload == "protocol":
            ids |= {str(payload(r).get("trace_id")) for r in _received(client)}
        if len(ids) > 1:
            problems.append(f"{client.name}: {len(ids)} different trace ids over {counted(len(streamed), 'response')}")
        elif ids:
            traced += 1
        else:
            problems.append(f"{client.name}: no trace id at all")
    if traced == 0 and not problems:
        return not_applicable("no client got a 200 response")
    return verdict(problems, f"{counted(traced, 'client')} kept one trace id throughout", clients=traced)


def _trace_per_attempt(header: str, history: History) -> Verdict:
    """Each attempt (a 200 response) with a trace id has one no other attempt had."""
    if not header:
        return not_applicable(f"the target carries no trace id in a header; {_RESTARTS}")
    given = Counter(
        connection.headers[header]
        for client in client_views(history)
        for connection in client.connections
        if connection.status == 200 and header in connection.headers
    )
    if not given:
        return not_applicable(f"the server assigned no trace id (no {header} header in a 200 response)")
    problems = [f"trace id {trace[:64]!r} on {n} attempts" for trace, n in given.items() if n > 1]
    attempts = sum(given.values())
    return verdict(problems, f"each of {attempts} attempts had its own trace id: {_RESTARTS}", attempts=attempts)


def _received(client: ClientView) -> list[Record]:
    return client.events + client.duplicates
