"""Checks 4 and 5 and trace propagation: the answer arrives once, whole, under one trace id."""

from __future__ import annotations

import hashlib
from collections import Counter

from harness.checks.results import Verdict, not_applicable, verdict
from harness.checks.views import (
    ClientView,
    baseline_missing,
    client_views,
    content_payloads,
    joined_content,
    payload,
    terminal_event,
)
from harness.history import Baseline, History, Record
from harness.plan import Plan
from harness.profile import TargetProfile
from harness.wording import counted


def check_no_duplicates(plan: Plan, history: History) -> Verdict:
    """Fails when the server sent any event id or content seq twice, even if the client dropped it."""
    profile = plan.profile
    problems: list[str] = []
    ids_seen = seqs_seen = 0
    for client in client_views(history):
        received = client.events + client.duplicates
        sent = [r for r in received if r.has_id]
        ids_seen += len(sent)
        repeated = [event_id for event_id, n in Counter(r.event_id for r in sent).items() if n > 1]
        if repeated:
            problems.append(
                f"{client.name}: {counted(len(repeated), 'event id')} sent twice, first {repeated[0][:80]!r}"
            )
        if profile.payload == "protocol":
            seqs = [payload(r).get("seq") for r in received if r.event == profile.content_event]
            seqs_seen += len(seqs)
            twice = sorted(seq for seq, n in Counter(s for s in seqs if isinstance(s, int)).items() if n > 1)
            if twice:
                problems.append(
                    f"{client.name}: content seq {twice[0]} sent twice ({counted(len(twice), 'seq')} repeated)"
                )
    if ids_seen == seqs_seen == 0:
        return not_applicable("no event id or content seq arrived to compare")
    ok = f"{ids_seen} event ids and {seqs_seen} content seqs, none repeated"
    return verdict(problems, ok, event_ids=ids_seen, content_seqs=seqs_seen)


def check_no_loss(plan: Plan, history: History) -> Verdict:
    profile = plan.profile
    if profile.payload != "protocol":
        return not_applicable("the target's payload has no seq or checksum to verify")
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
    return verdict(problems, ok, clients_verified=verified, compared_with_baseline=compared)


def _received_anything(client: ClientView, profile: TargetProfile) -> bool:
    wanted = {profile.content_event, *profile.terminal_events}
    return any(event.event in wanted for event in client.events)


def _losses(client: ClientView, profile: TargetProfile, baseline: Baseline) -> list[str]:
    chunks = content_payloads(client.events, profile.content_event)
    seqs = [chunk.get("seq") for chunk in chunks]
    first_bad = next((due for due, seq in enumerate(seqs) if seq != due), None)
    if first_bad is not None:
        return [f"content seq {seqs[first_bad]} where {first_bad} was due"]
    answer = joined_content(chunks)
    problems = []
    ended = terminal_event(client, profile.terminal_events)
    terminal = payload(ended) if ended is not None else None
    if terminal is not None:
        if terminal.get("total_chunks") != len(chunks):
            problems.append(f"got {counted(len(chunks), 'chunk')}, the server says {terminal.get('total_chunks')}")
        if terminal.get("content_sha256") != hashlib.sha256(answer.encode()).hexdigest():
            problems.append("the re-assembled answer does not match content_sha256")
    reference = baseline.content
    if reference is not None:
        common = min(len(answer), len(reference))
        both_finished = terminal is not None and terminal.get("reason") == baseline.reason == "finished"
        if answer[:common] != reference[:common] or (both_finished and answer != reference):
            problems.append("the answer differs from the fault-free baseline")
    return problems


def check_trace_propagation(plan: Plan, history: History) -> Verdict:
    """One trace id per client: in every 200 response's trace header and in every event it
    received, dropped duplicates included."""
    profile = plan.profile
    header = (profile.trace_header or "").lower()
    if not header and profile.payload != "protocol":
        return not_applicable("the target carries no trace id")
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


def _received(client: ClientView) -> list[Record]:
    return client.events + client.duplicates
