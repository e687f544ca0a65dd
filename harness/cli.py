"""`sse-chaos`: run the catalogue, list and validate scenarios, prove the checks (selftest),
serve the reference server.

Exit status: 0 every check passed or was not applicable; 1 a check failed; 2 a usage,
configuration or environment error (one line on stderr).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from harness.compare import Change, Thresholds, load_summary
from harness.compare import compare as compare_runs
from harness.deploy.commands import load_deployment_file
from harness.deploy.spec import MAX_INSTANCES
from harness.embedded import TIMING_PROFILES
from harness.errors import HarnessError
from harness.profile import is_profile_file, load_profile
from harness.report import load_runs, write_history, write_report
from harness.report.files import write_atomic
from harness.results import ScenarioRun, summary_of
from harness.results_table import results_table
from harness.scenario import GROUPS, Scenario, find_scenarios, load_scenario
from harness.schedule import ScenarioRunner, run_scenarios
from harness.share import Share
from harness.target import parse_headers
from harness.toxiproxy.binary import TOXIPROXY_VERSION, cache_folder, locate
from harness.toxiproxy.install import RELEASES_URL, install
from harness.workers import MAX_WORKERS
from reference_server.collector import quiet_collector

if TYPE_CHECKING:
    from harness.probe import Probe as ProbeResult
    from harness.selftest import RowResult

T = TypeVar("T")

app = typer.Typer(
    help="Chaos and conformance harness for Server-Sent Events streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

DEFAULT_REPORT_DIR = Path("reports/latest")
SELFTEST_REPORT_DIR = Path("reports/selftest")
_VERBOSE_HELP = "each failed check's whole detail, or the passed checks' names; the latency figures"


def _fail(message: str) -> typer.Exit:
    console.print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
    return typer.Exit(2)


@app.command()
def run(
    target: Annotated[str | None, typer.Option(help="SSE endpoint URL, http(s); default: the reference server")] = None,
    profile: Annotated[str | None, typer.Option(help="target profile name or TOML file")] = None,
    profile_field: Annotated[
        list[str] | None,
        typer.Option(
            "--profile-field",
            "-P",
            help="KEY=VALUE over the profile (repeatable): -P silence_threshold=2, -P request.body.model=gpt-x",
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", help="'Name: value' on every request (repeatable; credentials are never logged)"
        ),
    ] = None,
    scenario: Annotated[list[str] | None, typer.Option(help="scenario name or file (repeatable); default: all")] = None,
    group: Annotated[
        str, typer.Option(help="the scenarios run by default: catalogue, or deployment (instances behind a proxy)")
    ] = "catalogue",
    deployment: Annotated[
        Path | None,
        typer.Option(help="with --target: a deployment file, the shell commands process faults run (README)"),
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="where to write the report")] = DEFAULT_REPORT_DIR,
    timing: Annotated[str, typer.Option(help="embedded server timings: fast or seed")] = "fast",
    json_output: Annotated[bool, typer.Option("--json", help="print summary.json to stdout")] = False,
    parallel: Annotated[
        int, typer.Option(min=1, max=8, help="scenarios run side by side (one with many clients runs alone)")
    ] = 2,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_WORKERS, help="worker processes a scenario's HTTP clients are split over (1: this one)"
        ),
    ] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
    shard: Annotated[
        str | None,
        typer.Option(help="I/N: run shard I of N (from 0), its share of each scenario's clients; with --start-at"),
    ] = None,
    start_at: Annotated[
        str | None,
        typer.Option(help="with --shard: the shards' common start T, ISO 8601 with a zone or Unix seconds"),
    ] = None,
    clock_url: Annotated[
        str | None,
        typer.Option(help="with --shard: the HTTP server whose Date header every shard's clock is measured against"),
    ] = None,
) -> None:
    """Run scenarios through Toxiproxy and check the stream's promises.

    Examples:

      sse-chaos run                                   # whole catalogue, embedded server

      sse-chaos run --scenario network-interruption --scenario stall

      sse-chaos run --group deployment                # 3 instances behind HAProxy, process faults

      sse-chaos run --target http://127.0.0.1:8000/stream/search --timing seed

      sse-chaos run --target https://api.example/stream -H "Authorization: Bearer $TOKEN"

      sse-chaos run --target http://127.0.0.1:8000/v1/chat/completions --profile openai-chat -P deterministic=true

      sse-chaos run --target https://api.example/stream --shard 0/4 --start-at 2026-12-03T09:00:00Z  # then: merge
    """
    if timing not in TIMING_PROFILES:
        raise _fail(f"--timing must be one of {', '.join(TIMING_PROFILES)}, not {timing!r}")
    if group not in GROUPS:
        raise _fail(f"--group must be one of {', '.join(GROUPS)}, not {group!r}")
    if deployment is not None and target is None:
        raise _fail("--deployment describes the deployment behind your --target: give both")
    if (shard is None) != (start_at is None) or (clock_url is not None and shard is None):
        raise _fail("--shard and --start-at go together (and --clock-url with them)")
    if clock_url is not None and not clock_url.startswith(("https://", "http://")):
        raise _fail(f"--clock-url must be an http(s) URL, not {clock_url[:200]!r}")
    # Here, not at the top: `report`, `list` and `compare` need neither the browser nor the runner.
    import uvloop

    from harness.session import SessionSettings, session

    try:
        target_profile = load_profile(profile, profile_field or [])
        headers = parse_headers(header or [], target_profile)
        scenarios = [load_scenario(path) for path in find_scenarios(scenario or [], GROUPS[group])]
        commands = load_deployment_file(deployment) if deployment is not None else None
        report_dir.mkdir(parents=True, exist_ok=True)
        quiet_collector()
        settings = SessionSettings(
            target, target_profile, headers, timing, report_dir, report_dir, deployment_file=commands, workers=workers
        )
        opened: AbstractAsyncContextManager[ScenarioRunner] = session(settings)
        if shard is not None and start_at is not None:
            from harness.shards.run import shard_session
            from harness.shards.slots import SlotKeeper, parse_start_at

            keeper = SlotKeeper(Share.parse(shard), parse_start_at(start_at))
            settings = dataclasses.replace(settings, share=keeper.share, start_gate=keeper)
            opened, parallel = shard_session(settings, keeper, scenarios, clock_url, report_dir), 1
        runs = uvloop.run(_run_all(opened, scenarios, parallel, report_dir))
        _publish(report_dir, runs, verbose)
    except HarnessError as error:
        raise _fail(str(error)) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise _fail(f"interrupted; {report_dir / 'histories'} holds the scenarios that finished") from None
    if json_output:
        out.print_json(json.dumps(summary_of(runs)))
    if any(run.error for run in runs):
        raise typer.Exit(2)
    raise typer.Exit(0 if all(run.passed for run in runs) else 1)


async def _run_all(
    opened: AbstractAsyncContextManager[ScenarioRunner], scenarios: list[Scenario], parallel: int, report_dir: Path
) -> list[ScenarioRun]:
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    bars: dict[str, TaskID] = {}

    def on_start(scenario: Scenario) -> Callable[[str], None]:
        bar = bars[scenario.name] = progress.add_task(scenario.name, total=scenario.client_count)
        return lambda _name: progress.advance(bar)

    def on_done(result: ScenarioRun) -> None:
        progress.update(bars[result.name], description=f"{result.name} {'✓' if result.passed else '✗'}")
        write_history(report_dir, result)

    _cancel_on_sigterm()
    async with opened as runner:
        with progress:
            return await run_scenarios(runner, scenarios, parallel, on_start, on_done)


def _cancel_on_sigterm() -> None:
    """SIGTERM (a cancelled CI job) cancels the run, so the servers and Toxiproxy it started are stopped."""
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)


def _publish(report_dir: Path, runs: list[ScenarioRun], verbose: bool) -> None:
    """Write the report files, show the result table and where report.html is."""
    _frames_on_the_system_allocator()
    html = write_report(report_dir, runs)
    # A log (CI) is wide enough for a failure's first problem; a terminal keeps its own width.
    (console if console.is_terminal else Console(stderr=True, width=max(console.width, 200))).print(
        results_table(runs, verbose)
    )
    console.print(f"report: {html.resolve()}", highlight=False, soft_wrap=True)


def _frames_on_the_system_allocator() -> None:
    """pandas keeps a frame's text in pyarrow, whose default pool (mimalloc) holds on to what it
    freed: the report of three clients capped at their records peaked 40 MB higher than on the
    system allocator. Set here, in the command's own process: the pool is the whole process's."""
    try:
        import pyarrow
    except ImportError:
        return
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


@app.command()
def probe(
    url: Annotated[str, typer.Argument(help="the SSE endpoint's URL, http(s)")],
    profile: Annotated[
        str | None, typer.Option(help="the request to make (a POST API's body): a profile's name or file")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="'Name: value' on every request (repeatable; never shown or written)"),
    ] = None,
    write: Annotated[Path | None, typer.Option(help="write the draft profile (TOML) here")] = None,
    seconds: Annotated[float, typer.Option(min=0.5, max=120, help="how long each request listens at most")] = 10.0,
) -> None:
    """Make a few short requests to a target and say what it speaks; draft a profile for it.

    Examples:

      sse-chaos probe http://127.0.0.1:8000/events --write my.toml

      sse-chaos run --target http://127.0.0.1:8000/events --profile my.toml

      sse-chaos probe http://127.0.0.1:8000/v1/chat/completions --profile openai-chat -H "Authorization: Bearer $KEY"
    """
    from harness.probe import probe as probe_target
    from harness.probe import summary_lines
    from harness.target import Target
    from harness.transport import new_http_client

    async def probed() -> ProbeResult:
        async with new_http_client() as http:
            return await probe_target(http, url, profile, headers, seconds)

    try:
        headers = parse_headers(header or [], load_profile(profile))
        Target(url, load_profile(profile))
        result = asyncio.run(probed())
        if write is not None:
            write_atomic(write, result.draft)
    except HarnessError as error:
        raise _fail(str(error)) from None
    for line in summary_lines(result, list(headers.values())):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    if write is not None:
        said = f"draft profile: {write} (then: sse-chaos run --target URL --profile {write})"
        out.print(said, highlight=False, markup=False, soft_wrap=True)


@app.command("list")
def list_scenarios() -> None:
    """List the scenario catalogue with what each scenario proves."""
    table = Table(show_lines=True)
    table.add_column("scenario")
    table.add_column("group")
    table.add_column("clients", justify="right")
    table.add_column("what it proves", overflow="fold")
    try:
        for group, directory in GROUPS.items():
            for path in find_scenarios([], directory):
                scenario = load_scenario(path)
                clients = f"{scenario.client_count}" + (" browser" if scenario.clients.kind == "browser" else "")
                table.add_row(scenario.name, group, clients, scenario.description)
    except HarnessError as error:
        raise _fail(str(error)) from None
    out.print(table)


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="scenario or profile TOML files")]) -> None:
    """Validate scenario or target profile files (a file in a `profiles` folder, or one with a
    field only profiles have, such as `extends`); one line per file."""
    for path in files:
        try:
            if "profiles" in path.parts or is_profile_file(path):
                load_profile(str(path))
            else:
                load_scenario(path)
        except HarnessError as error:
            raise _fail(str(error)) from None
        out.print(f"{path}: ok", highlight=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    out.print_json(json.dumps(Scenario.model_json_schema(by_alias=True)))


@app.command()
def report(
    report_dir: Annotated[Path, typer.Argument(help="a report directory written by `run`")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
) -> None:
    """Re-check a saved run offline and re-render its report."""
    if not report_dir.is_dir():
        raise _fail(f"{report_dir}: no such report directory")
    try:
        runs = load_runs(report_dir)
    except HarnessError as error:
        raise _fail(str(error)) from None
    if not runs:
        raise _fail(f"{report_dir}: no saved histories in it")
    _publish(report_dir, runs, verbose)
    raise typer.Exit(0 if all(run.passed for run in runs) else 1)


@app.command()
def merge(
    shard_dirs: Annotated[list[Path], typer.Argument(help="every shard's report directory (`run --shard`)")],
    report_dir: Annotated[Path, typer.Option(help="where to write the merged report")] = DEFAULT_REPORT_DIR,
    json_output: Annotated[bool, typer.Option("--json", help="print summary.json to stdout")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
) -> None:
    """Merge the shards of one run into one: their records on one timeline (each shard's clock
    offset applied), judged by the same checks; exits as `run` does.

    Example:

      sse-chaos merge shard-0 shard-1 shard-2 --report-dir reports/merged
    """
    from harness.shards.merge import merge_shards, read_shards

    try:
        shards = read_shards(shard_dirs)
        runs = merge_shards(shards, report_dir)
        for merged in runs:
            write_history(report_dir, merged)
        _publish(report_dir, runs, verbose)
    except HarnessError as error:
        raise _fail(str(error)) from None
    if json_output:
        out.print_json(json.dumps(summary_of(runs)))
    if any(merged.error for merged in runs):
        raise typer.Exit(2)
    raise typer.Exit(0 if all(merged.passed for merged in runs) else 1)


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="report directory of the reference run")],
    new: Annotated[Path, typer.Argument(help="report directory of the run to judge")],
    p99_ms: Annotated[float, typer.Option(help="allowed growth of heartbeat error p99, ms")] = 20.0,
    reconnects: Annotated[int, typer.Option(help="allowed growth of the most reconnections")] = 2,
    duration_ratio: Annotated[float, typer.Option(help="allowed growth of wall time and longest stream")] = 0.25,
    latency_ms: Annotated[
        float, typer.Option(help="allowed growth of time to first content and of the p99 gap between chunks, ms")
    ] = 100.0,
    json_output: Annotated[bool, typer.Option("--json", help="print the changes as JSON")] = False,
) -> None:
    """Show what changed between two runs, per scenario and check; exit 1 on a regression.

    Example:

      sse-chaos compare reports/main reports/latest
    """
    try:
        thresholds = Thresholds(p99_ms, reconnects, duration_ratio, latency_ms=latency_ms)
        changes = compare_runs(load_summary(base), load_summary(new), thresholds)
    except HarnessError as error:
        raise _fail(str(error)) from None
    regressions = [change for change in changes if change.regression]
    if json_output:
        out.print_json(json.dumps({"regressions": len(regressions), "changes": [c.to_json() for c in changes]}))
    else:
        _print_changes(changes)
    console.print(f"{len(regressions)} regression(s)", style="bold red" if regressions else "green")
    raise typer.Exit(1 if regressions else 0)


def _print_changes(changes: list[Change]) -> None:
    table = Table(title="sse-chaos compare")
    for column in ("scenario", "what", "base", "new", ""):
        table.add_column(column)
    for change in changes:
        flag = "[bold red]regression[/]" if change.regression else ("changed" if change.base != change.new else "")
        table.add_row(change.scenario, change.item, change.base, change.new, flag)
    out.print(table)


@app.command()
def selftest(
    defect: Annotated[
        list[str] | None, typer.Option(help="a seeded defect to prove caught (repeatable); default: all")
    ] = None,
    skip: Annotated[list[str] | None, typer.Option(help="a seeded defect to leave out (repeatable)")] = None,
    parallel: Annotated[int, typer.Option(min=1, max=8, help="servers tested side by side")] = 2,
    report_dir: Annotated[Path, typer.Option(help="where to write selftest.json and each server's report")] = (
        SELFTEST_REPORT_DIR
    ),
    list_defects: Annotated[bool, typer.Option("--list", help="list the seeded defects and exit")] = False,
) -> None:
    """Prove the checks catch what they claim, on this machine: the correct reference server must
    pass every check, and each seeded defect must fail the check expected to catch it.

    Exit status: 0 all as expected; 1 the correct server failed a check or a defect went uncaught;
    2 a usage or environment error.

    Examples:

      sse-chaos selftest

      sse-chaos selftest --defect resume-duplicates --defect seq-gap
    """
    # Here, not at the top: the other commands need neither the runner nor the browser.
    import uvloop

    from harness import selftest as proof

    if list_defects:
        out.print(proof.defects_table())
        raise typer.Exit(0)
    started = time.monotonic()
    try:
        rows = proof.plan_rows(defect or [], skip or [])
        for row in rows:
            (report_dir / row.name).mkdir(parents=True, exist_ok=True)
        quiet_collector()
        console.print(f"selftest: the correct server and {len(rows) - 1} seeded defects, {parallel} at a time")
        results = uvloop.run(_cancellable(proof.run_rows(rows, parallel, report_dir, _print_row)))
        for result in results:
            if result.runs:
                write_report(report_dir / result.row.name, result.runs)
    except HarnessError as error:
        raise _fail(str(error)) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise _fail(f"interrupted; {report_dir} holds the servers that finished") from None
    summary = proof.summary(results, time.monotonic() - started)
    write_atomic(report_dir / "selftest.json", json.dumps(summary, indent=2))
    _show_selftest(proof.matrix(results), results, f"{summary['wall_seconds']} s, {report_dir / 'selftest.json'}")
    raise typer.Exit(proof.exit_status(results))


async def _cancellable(work: Awaitable[T]) -> T:
    _cancel_on_sigterm()
    return await work


def _show_selftest(matrix: Table, results: list[RowResult], footer: str) -> None:
    """The matrix on stdout; what went other than expected, and the outcome, on stderr."""
    # A log (CI) is as wide as the matrix; a terminal keeps its own width.
    (out if out.is_terminal else Console(width=max(out.width, 140))).print(matrix)
    for line in (line for result in results for line in result.findings()):
        console.print(line, style="red", highlight=False, soft_wrap=True)
    correct, defects = results[0], results[1:]
    caught = sum(result.as_expected for result in defects)
    console.print(
        f"correct server: {correct.verdict.value}; defects caught by their expected check: {caught} of"
        f" {len(defects)}; {footer}",
        style="green" if correct.as_expected and caught == len(defects) else "bold red",
        highlight=False,
        soft_wrap=True,
    )


def _print_row(result: RowResult) -> None:
    style = "green" if result.as_expected else "bold red"
    verdict = Text.assemble(f"{result.row.name:<24}", (f"{result.verdict.value:<8}", style))
    console.print(verdict, f"{result.wall_seconds:5.1f} s", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="0 picks a free port")] = 8000,
    log_level: Annotated[str, typer.Option()] = "info",
    instances: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_INSTANCES, help="run N instances sharing Redis behind HAProxy, listening on --host:--port"
        ),
    ] = None,
) -> None:
    """Run the reference server (configured by the environment, see README); with --instances, N of
    them sharing their replay log on Redis behind a real load balancer, all stopped on exit (Ctrl-C,
    SIGTERM, an error)."""
    if instances is None:
        from reference_server.serve import run as run_server

        raise typer.Exit(run_server(host, port, log_level))
    import uvloop

    from reference_server.config import ConfigError, ServerConfig

    try:
        cap = ServerConfig.from_env(os.environ).stream_max_seconds
        uvloop.run(_serve_deployment(instances, cap, (host, port)))
    except ConfigError as error:
        raise _fail(str(error)) from None
    except HarnessError as error:
        raise _fail(str(error)) from None
    except KeyboardInterrupt:  # before the signal handlers were in: everything started is stopped
        raise typer.Exit(0) from None


async def _serve_deployment(instances: int, cap: float, listen: tuple[str, int]) -> None:
    from harness.deploy.embedded import embedded_deployment
    from harness.deploy.spec import DeploymentSpec

    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(number, stop.set)
    work_dir = Path(tempfile.mkdtemp(prefix="sse-chaos-serve-"))
    spec = DeploymentSpec(instances=instances, balancer="haproxy", store="redis")
    async with embedded_deployment(spec, {"stream_max_seconds": cap}, work_dir, listen=listen) as deployment:
        print(f"listening on {deployment.base_url}", flush=True)
        console.print(
            f"{instances} reference-server instances behind HAProxy, sharing their replay log on Redis (a stream"
            f" survives the loss of the instance serving it); logs in {work_dir}",
            highlight=False,
            soft_wrap=True,
        )
        await stop.wait()


@app.command()
def doctor(
    target: Annotated[str | None, typer.Option(help="also check that this SSE endpoint answers")] = None,
    profile: Annotated[str | None, typer.Option(help="target profile name or TOML file, for --target")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value' on the request to --target (repeatable)")
    ] = None,
) -> None:
    """Check what a run needs on this machine, one line per item: ok, warning or missing, with how to fix it.

    Exit status: 0 the default run has everything it needs; 1 something it needs is missing;
    2 a usage error.
    """
    from harness import doctor as checkup
    from harness.target import Target

    try:
        checked = None
        if target is not None:
            target_profile = load_profile(profile)
            checked = Target(target, target_profile, parse_headers(header or [], target_profile))
        findings = checkup.examine(checked)
    except HarnessError as error:
        raise _fail(str(error)) from None
    styles = {checkup.Status.OK: "green", checkup.Status.WARNING: "yellow", checkup.Status.MISSING: "bold red"}
    for finding in findings:
        out.print(Text(finding.line(), style=styles[finding.status]), soft_wrap=True)
    raise typer.Exit(checkup.exit_status(findings))


@app.command("install-toxiproxy")
def install_toxiproxy(
    from_source: Annotated[bool, typer.Option("--from-source", help="build it with Go instead of downloading")] = False,
    dest: Annotated[Path | None, typer.Option(help="the folder to put it in; default: the user cache")] = None,
    releases_url: Annotated[
        str, typer.Option(help="where the releases are (a mirror of GitHub's release downloads)")
    ] = RELEASES_URL,
) -> None:
    """Put the pinned toxiproxy-server where sse-chaos finds it: unpacked from the release's archive,
    checked against its pinned SHA-256 (Linux and macOS, amd64 and arm64), or built from source with
    Go (--from-source, any platform). Does nothing when it is there.

    Examples:

      sse-chaos install-toxiproxy

      sse-chaos install-toxiproxy --dest ~/bin

      sse-chaos install-toxiproxy --from-source    # elsewhere, or without the download
    """
    if not releases_url.startswith(("https://", "http://")):
        raise _fail(f"--releases-url must be an http(s) URL, not {releases_url[:200]!r}")
    folder = dest or cache_folder()
    try:
        binary, installed = install(folder, from_source, releases_url)
    except HarnessError as error:
        raise _fail(str(error)) from None
    said = f"toxiproxy-server {TOXIPROXY_VERSION} {'installed' if installed else 'is already'} at {binary}"
    out.print(said, highlight=False, soft_wrap=True)
    if not _found_first(binary):
        note = f"note: sse-chaos looks elsewhere first; set TOXIPROXY_SERVER={binary} to use this one"
        console.print(note, highlight=False, soft_wrap=True)


def _found_first(binary: Path) -> bool:
    try:
        return locate().path.resolve() == binary.resolve()
    except HarnessError:
        return False


def _show_version(wanted: bool) -> None:
    if wanted:
        out.print(f"sse-chaos {version('sse-chaos')}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def main(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    pass


if __name__ == "__main__":
    sys.exit(app())
