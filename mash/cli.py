"""The `mash` command line: replay, publish, worker, schemas, bench.

Every user mistake (a bad file, a wrong URL, an unreachable Redis) ends as one line on stderr
and exit code 2; a failed expectation is exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mash import logs
from mash.errors import MashError
from mash.settings import DEFAULT_LEA, Settings

app = typer.Typer(
    name="mash",
    help="Simulate a Multi-Agency Safeguarding Hub on Redis streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class Format(StrEnum):
    md = "md"
    json = "json"
    html = "html"
    cin_xml = "cin-xml"


RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="MASH_REDIS_URL",
        show_envvar=True,
        help="Redis to use (redis://, rediss://, unix://). Default: a private embedded one.",
    ),
]
Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Hub namespace: stream keys are mash:{NS}:<stream>."),
]
BatchSize = Annotated[int | None, typer.Option("--batch-size", help="Entries read per batch.")]
CensusYear = Annotated[
    int | None,
    typer.Option(
        "--census-year",
        min=1991,
        max=2099,
        help="CIN census year, named by the 31 March it ends on. Default: the report instant's.",
    ),
]
LogLevel = Annotated[str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR.")]
ShardCount = Annotated[
    int | None,
    typer.Option(
        "--shard-count",
        envvar="MASH_SHARDS",
        show_envvar=True,
        min=1,
        max=1024,
        help="Shards per input stream; the namespace keeps the first count it is given.",
    ),
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        min=0,
        max=64,
        help="Worker processes that apply the replay (0: this process). Same report.",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def need_redis(redis_url: str | None, needs: str) -> str:
    """These commands read a running hub or feed one that outlives them: an embedded Redis
    would start empty and vanish with the process."""
    if redis_url is None:
        fail(f"{needs}: give --redis-url or MASH_REDIS_URL")
    return redis_url


def settings_from(
    redis_url: str | None = None,
    namespace: str | None = None,
    batch_size: int | None = None,
    log_level: str | None = None,
    **extra: Any,
) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if redis_url is not None:
        overrides["redis_url"] = SecretStr(redis_url)
    if namespace is not None:
        overrides["namespace"] = namespace
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    if log_level is not None:
        overrides["log_level"] = log_level
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"setting {where} (MASH_{where.upper()} or its flag): {first['msg']}")
    # Every command that reads settings logs through our processors: structlog's default
    # prints debug lines unfiltered, with whatever fields they carry.
    logs.configure(settings.log_level)
    return settings


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; user mistakes become one line, Ctrl-C exits 130 after cleanup.

    Ctrl-C and SIGTERM cancel the main task at its current await, so the hub shuts down
    through its own cleanup; raising KeyboardInterrupt from a signal handler instead lands in
    whatever frame runs (a consumer's handler, a parser) and spills tracebacks.
    """

    async def main() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
        return await coro

    try:
        return asyncio.run(main())
    except MashError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("interrupted")
        raise typer.Exit(130) from None


@app.command()
def replay(
    scenario: Annotated[
        Path,
        typer.Argument(
            help="Scenario YAML file (see scenarios/), or a generated year (.jsonl, .jsonl.gz)."
        ),
    ],
    report: Annotated[Path | None, typer.Option("--report", help="Write the report here.")] = None,
    fmt: Annotated[
        Format,
        typer.Option("--format", "-f", help="md, json, html, or cin-xml (the DfE CIN census)."),
    ] = Format.md,
    census_year: CensusYear = None,
    thresholds: Annotated[
        Path | None, typer.Option("--thresholds", help="Thresholds file overriding the scenario's.")
    ] = None,
    scoring: Annotated[
        Path | None, typer.Option("--scoring", help="CSE scoring file overriding the scenario's.")
    ] = None,
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    batch_size: BatchSize = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only failures.")] = False,
    log_level: LogLevel = None,
    workers: Workers = 0,
    external_workers: Annotated[
        bool,
        typer.Option(
            "--external-workers",
            help="Leave applying to the `mash worker`s running on the namespace (docker compose).",
        ),
    ] = False,
    shard_count: ShardCount = None,
) -> None:
    """Replay a scenario through real Redis streams and check its expectations.

    Exit 0 when every expectation holds, 1 when one fails, 2 for bad input.
    """
    from mash.generated import is_generated  # noqa: PLC0415 - keep --help fast
    from mash.replay import replay as run_replay  # noqa: PLC0415
    from mash.replay import replay_generated  # noqa: PLC0415
    from mash.report import render  # noqa: PLC0415
    from mash.scenario import load_scenario  # noqa: PLC0415

    settings = settings_from(redis_url, namespace, batch_size, log_level, shards=shard_count)
    with ProgressSteps(quiet or not sys.stderr.isatty()) as on_step:
        if is_generated(scenario):
            result = run(
                replay_generated(
                    scenario,
                    settings,
                    thresholds_override=thresholds,
                    scoring_override=scoring,
                    on_step=on_step,
                    census_year=census_year,
                    workers=workers,
                    external_workers=external_workers,
                )
            )
        else:
            try:
                loaded = load_scenario(scenario)
            except MashError as exc:
                fail(str(exc))
            result = run(
                run_replay(
                    loaded,
                    settings,
                    thresholds_override=thresholds,
                    scoring_override=scoring,
                    on_step=on_step,
                    census_year=census_year,
                    workers=workers,
                    external_workers=external_workers,
                )
            )
    if report is not None:
        text = result.census.xml if fmt is Format.cin_xml else render(result.report, fmt.value)
        try:
            report.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write report {report}: {exc.strerror}")
    failed = [c for c in result.checks if not c.passed]
    if not quiet:
        _summary(result.report)
    for check in failed:
        err.print(f"[red]FAILED[/] {check.expectation}: {check.detail}", highlight=False)
    if failed:
        raise typer.Exit(1)


def _summary(report: dict[str, Any]) -> None:
    table = Table(title=f"mash replay: {report['scenario']}", show_header=False)
    table.add_row("thresholds", report["thresholds"])
    table.add_row("events published", str(sum(report["events_published"].values())))
    decisions = report["decisions"]
    by_outcome = ", ".join(f"{k} {v}" for k, v in decisions["by_outcome"].items()) or "none"
    table.add_row("decisions", f"{decisions['total']} ({by_outcome})")
    table.add_row("dead letters", str(report["dead_letters"]["total"]))
    expectations = report["expectations"]
    table.add_row("expectations", f"{expectations['passed']}/{expectations['total']} hold")
    out.print(table)


class ProgressSteps:
    """A progress bar over replay steps, or nothing when output is not a terminal."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if self.disabled:
            return None
        self.bar = Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.bar.start()

        def step(done: int, total: int) -> None:
            assert self.bar is not None
            if self.task is None:
                self.task = self.bar.add_task("replay", total=total)
            self.bar.update(self.task, completed=done)

        return step

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command()
def generate(
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="File to write: .jsonl, or .jsonl.gz to compress.")
    ],
    preset: Annotated[
        str, typer.Option("--preset", help="Calibrated preset (borough-2013-14).")
    ] = "borough-2013-14",
    seed: Annotated[
        int, typer.Option("--seed", help="Same preset, seed and scale: same file.")
    ] = 0,
    scale: Annotated[
        float, typer.Option("--scale", help="Size against the preset: 0.1, 1, 10, 150 (England).")
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write a synthetic year of events calibrated to a preset's published figures.

    `mash replay FILE` replays it and checks the calibration figures it carries.
    """
    from mash.generate import PRESETS, Generator  # noqa: PLC0415
    from mash.generated import SUFFIXES  # noqa: PLC0415

    if preset not in PRESETS:
        fail(f"unknown preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    if not 0 < scale <= 1000:
        fail(f"--scale must be above 0 and at most 1000, got {scale:g}")
    if not out_path.name.endswith(SUFFIXES):
        fail(f"--out {out_path}: name it .jsonl or .jsonl.gz, so that replay knows it")
    if not out_path.parent.is_dir():
        fail(f"--out {out_path}: no directory {out_path.parent}")
    generator = Generator(PRESETS[preset], seed=seed, scale=scale)
    quiet = as_json or not sys.stderr.isatty()
    try:
        with Progress(
            TextColumn("generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=quiet,
        ) as bar:
            task = bar.add_task("units", total=generator.unit_count())
            result = generator.write(out_path, on_unit=lambda: bar.advance(task))
    except OSError as exc:
        fail(f"cannot write {out_path}: {exc.strerror or exc}")
    summary = {
        "path": str(out_path),
        "preset": preset,
        "seed": seed,
        "scale": scale,
        "events": result.events,
        "children": result.children,
        "seconds": round(result.seconds, 2),
        "events_per_second": round(result.events / result.seconds) if result.seconds else None,
        "bytes": out_path.stat().st_size,
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"wrote {result.events:,} events for {result.children:,} children to {out_path} "
        f"in {result.seconds:.1f} s ({summary['events_per_second']:,} events/s)",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def publish(
    source: Annotated[
        str, typer.Argument(help="A JSONL file of events, a scenario YAML, or - for stdin.")
    ],
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    speed: Annotated[
        float,
        typer.Option("--speed", help="Event-time speed-up (60 = a minute a second); 0 = flat out."),
    ] = 0.0,
) -> None:
    """Publish events into a hub's streams, for other teams' integration tests."""
    from mash.publishing import publish_source  # noqa: PLC0415

    redis_url = need_redis(redis_url, "publish needs a Redis")
    if speed < 0:
        fail("--speed must be 0 (no pacing) or more")
    settings = settings_from(redis_url, namespace)
    count = run(publish_source(source, settings, speed))
    out.print(f"published {count} events to namespace {settings.namespace!r}")


@app.command()
def worker(
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    thresholds: Annotated[
        Path | None, typer.Option("--thresholds", help="Thresholds file.")
    ] = None,
    batch_size: BatchSize = None,
    log_level: LogLevel = None,
    tick: Annotated[
        float, typer.Option("--tick", help="Seconds between wall-clock ticks (0: no ticks).")
    ] = 1.0,
    shards: Annotated[
        str | None,
        typer.Option(
            "--shards",
            help="Shards to apply: 0-3, 0,2,5, or i/K (worker i of K). Default: all.",
        ),
    ] = None,
    shard_count: ShardCount = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port."
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            envvar="MASH_METRICS_HOST",
            help="Address the metrics listen on (0.0.0.0 in a container).",
        ),
    ] = "127.0.0.1",
) -> None:
    """Run the consumers against a Redis until stopped (SIGINT/SIGTERM); JSON logs."""
    from mash.shards import ShardSpec, ShardSpecError  # noqa: PLC0415
    from mash.workers import run_worker  # noqa: PLC0415

    redis_url = need_redis(redis_url, "worker needs a Redis")
    level = log_level or ("INFO" if "MASH_LOG_LEVEL" not in os.environ else None)
    settings = settings_from(
        redis_url, namespace, batch_size, level, thresholds=thresholds, shards=shard_count
    )
    logs.configure(settings.log_level, json=True)
    if tick < 0:
        fail("--tick must be 0 (no ticks) or more seconds")
    try:
        spec = ShardSpec.parse(shards) if shards is not None else None
    except ShardSpecError as exc:
        fail(str(exc))
    run(
        run_worker(
            settings,
            _stop_signal(),
            tick,
            shards=spec,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
        )
    )


@app.command()
def status(
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Lag per consumer group and shard, dead letters by reason and rate, shard leases."""
    from mash.hub import Hub  # noqa: PLC0415
    from mash.progress import snapshot  # noqa: PLC0415

    redis_url = need_redis(redis_url, "status needs the hub's Redis")
    settings = settings_from(redis_url, namespace)

    async def read() -> dict[str, Any]:
        async with Hub(settings, [], run_consumers=False) as hub:
            return (await snapshot(hub.redis, hub.keys)).as_dict()

    data = run(read())
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table(title=f"mash status: {settings.namespace!r}, {data['shards']} shard(s)")
    for column in ("group", "stream", "shard", "entries", "acked", "pending", "lag", "dead"):
        table.add_column(column, justify="left" if column in ("group", "stream") else "right")
    for g in data["groups"]:
        dead = sum(n for k, n in g["outcomes"].items() if k.startswith("dead."))
        table.add_row(
            g["consumer"],
            g["stream"],
            str(g["shard"]),
            f"{g['length']:,}",
            f"{g['acked']:,}",
            f"{g['pending']:,}",
            f"{g['lag']:,}",
            f"{dead:,}",
        )
    out.print(table)
    letters = data["dead_letters"]
    reasons = ", ".join(f"{k} {v}" for k, v in letters["by_reason"].items()) or "none"
    out.print(
        f"dead letters: {letters['total']:,} ({letters['last_minute']:,} in the last minute); "
        f"by reason: {reasons}",
        highlight=False,
        soft_wrap=True,
    )
    leases = ", ".join(f"{s}: {h}" for s, h in data["leases"].items()) or "none held"
    out.print(f"shard leases: {leases}", highlight=False, soft_wrap=True)


def _stop_signal() -> Callable[[], asyncio.Event]:
    def make() -> asyncio.Event:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return stop

    return make


@app.command()
def clocks(
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    breached_only: Annotated[
        bool, typer.Option("--breached", help="Only clocks already out of timescale.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the statutory clocks open now in a running hub, soonest deadline first."""
    from mash.status import list_open_clocks  # noqa: PLC0415

    redis_url = need_redis(redis_url, "clocks needs the hub's Redis")
    settings = settings_from(redis_url, namespace)
    rows = run(list_open_clocks(settings))
    if breached_only:
        rows = [r for r in rows if r["out_of_timescale"]]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"open clocks in {settings.namespace!r}: {len(rows)}")
    for column in ("clock", "instance", "started", "deadline", "out of timescale"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["clock"],
            row["instance"],
            row["started_at"],
            row["deadline"] or "-",
            "yes" if row["out_of_timescale"] else "",
        )
    out.print(table)


@app.command()
def exercise(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file to run as an exercise.")],
    trainee: Annotated[str, typer.Option("--trainee", help="Who is deciding.")] = "trainee",
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            min=0,
            help="Seconds of event time per real second (default 3600; 0: no waiting). "
            "Waits between events are capped at 10 s.",
        ),
    ] = None,
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="YAML file of answers: run the exercise unattended."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the debrief (md and html).")
    ] = Path(),
    thresholds: Annotated[
        Path | None, typer.Option("--thresholds", help="Thresholds file for the reference.")
    ] = None,
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    log_level: LogLevel = None,
) -> None:
    """A training exercise: decide each contact of a scenario as it arrives, then a debrief.

    The hub runs the scenario in event time and stops at each contact to show what a MASH
    practitioner would see; your decision is published as the hub's (marked as the trainee's),
    so clocks and CSE flags run on it. The debrief puts each decision beside the thresholds
    file's, safety-critical disagreements first. Type 'pause' at any prompt to stop the clock.
    """
    import re  # noqa: PLC0415

    from mash.debrief import to_html, to_markdown  # noqa: PLC0415
    from mash.exercise import load_answers, no_wait, run_exercise  # noqa: PLC0415
    from mash.exercise_terminal import terminal_ask, terminal_wait  # noqa: PLC0415
    from mash.scenario import load_scenario  # noqa: PLC0415

    settings = settings_from(redis_url, namespace, None, log_level or "WARNING")
    try:
        loaded = load_scenario(scenario)
        ask = load_answers(answers, loaded) if answers is not None else terminal_ask(out)
    except MashError as exc:
        fail(str(exc))
    pace = speed if speed is not None else (0.0 if answers is not None else 3600.0)
    if not out_dir.is_dir():
        fail(f"--out {out_dir}: not a folder")
    debrief = run(
        run_exercise(
            loaded,
            settings,
            trainee=trainee,
            ask=ask,
            speed=pace,
            # Unattended runs never wait; their speed only turns each answer's seconds into
            # event time.
            wait=terminal_wait(out) if answers is None else no_wait,
            thresholds_override=thresholds,
        )
    )
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{loaded.name}-{trainee}-debrief")
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.html"]
    text = to_markdown(debrief)
    try:
        paths[0].write_text(text, encoding="utf-8")
        paths[1].write_text(to_html(debrief), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write the debrief in {out_dir}: {exc.strerror}")
    from rich.markdown import Markdown  # noqa: PLC0415

    out.print(Markdown(text))
    out.print(f"debrief saved: {paths[0]} and {paths[1]}", highlight=False)


@app.command()
def report(
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    fmt: Annotated[
        Format,
        typer.Option("--format", "-f", help="md, json, html, or cin-xml (the DfE CIN census)."),
    ] = Format.md,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Instant to report at (ISO 8601). Default: the last tick."),
    ] = None,
    population: Annotated[
        int | None,
        typer.Option("--population", min=1, help="Children in the area, for rates per 10,000."),
    ] = None,
    census_year: CensusYear = None,
    lea: Annotated[
        str, typer.Option("--lea", help="DfE local authority number for the CIN return.")
    ] = DEFAULT_LEA,
) -> None:
    """The board's figures of a running (or finished) hub, read live from its Redis.

    Costs one read of the reporter's tallies whatever the size of the run, so it can be asked
    for at any moment of a replay or a worker's life; cin-xml reads every child's record.
    """
    from datetime import datetime  # noqa: PLC0415

    from mash.board import render_live  # noqa: PLC0415

    redis_url = need_redis(redis_url, "report needs the hub's Redis")
    if not (len(lea) == 3 and lea.isdigit()):
        fail(f"--lea {lea!r}: a DfE local authority number is three digits, e.g. 372")
    instant = None
    if at is not None:
        try:
            instant = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r}: not an ISO 8601 instant (e.g. 2014-03-31T23:59:59+01:00)")
        if instant.tzinfo is None:
            fail(f"--at {at!r}: give a UTC offset (e.g. +00:00); event time is unambiguous")
    settings = settings_from(redis_url, namespace)
    text = run(
        render_live(
            settings,
            fmt.value,
            at=instant,
            population=population,
            census_year=census_year,
            lea=lea,
        )
    )
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")


@app.command()
def missing(
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the children missing now in a running hub: episodes started and not ended."""
    from mash.status import list_open_episodes  # noqa: PLC0415

    redis_url = need_redis(redis_url, "missing needs the hub's Redis")
    settings = settings_from(redis_url, namespace)
    rows = run(list_open_episodes(settings))
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"missing now in {settings.namespace!r}: {len(rows)}")
    for column in ("child", "episode", "missing since"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["child"], row["missing_id"], row["started_at"])
    out.print(table)


@app.command()
def tail(
    stream: Annotated[
        str,
        typer.Argument(
            help="contacts, missing, casework, clock, decisions, cse, timescales or dlq."
        ),
    ],
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Print the backlog first.")
    ] = False,
    count: Annotated[
        int | None, typer.Option("--count", help="Stop after this many events.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One event JSON per line.")] = False,
) -> None:
    """Follow a stream of a hub and print its events as they arrive (Ctrl-C to stop)."""
    from mash.status import follow  # noqa: PLC0415
    from schemas.events import STREAMS  # noqa: PLC0415

    redis_url = need_redis(redis_url, "tail needs the hub's Redis")
    if stream not in STREAMS:
        fail(f"unknown stream {stream!r}: one of {', '.join(STREAMS)}")
    settings = settings_from(redis_url, namespace)

    def show(raw: bytes) -> None:
        if as_json:
            out.print(raw.decode(), markup=False, highlight=False, soft_wrap=True)
            return
        data = json.loads(raw)
        out.print(
            f"{data.get('occurred_at', '?')}  {data.get('type', '?'):<26} "
            f"{data.get('event_id', '?')}",
            markup=False,
            highlight=False,
        )

    run(follow(settings, stream, show, from_start=from_start, count=count))


@app.command()
def schemas(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the schema files.")] = Path(
        "schemas"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if files differ; write nothing.")
    ] = False,
) -> None:
    """Write one JSON Schema per event type and the AsyncAPI document of the hub."""
    from mash.contracts import generate  # noqa: PLC0415

    files = generate()
    stale = []
    for relative, text in files.items():
        path = out_dir / relative
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(relative)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if check and stale:
        err.print(f"out of date: {', '.join(sorted(stale))}; run: mash schemas --out {out_dir}")
        raise typer.Exit(1)
    out.print(f"{len(files)} schema files {'checked' if check else 'written'} in {out_dir}")


@app.command()
def bench(
    events: Annotated[int, typer.Option("--events", help="Events per round.")] = 20_000,
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds; medians are reported.")] = 3,
    children: Annotated[int, typer.Option("--children", help="Distinct children.")] = 4_000,
    redis_url: RedisUrl = None,
    batch_size: BatchSize = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    report_scale: Annotated[
        float | None,
        typer.Option(
            "--report-scale",
            min=0.001,
            max=1000,
            help="Instead: publish a generated year (borough-2013-14 at this scale) into every "
            "consumer and time the board's report while it is consumed.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated year.")] = 1,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            help="Instead: worker processes to compare, e.g. 1,2,4 (every consumer, as many "
            "shards as workers).",
        ),
    ] = None,
) -> None:
    """Measure the edge against a raw redis-py XREADGROUP + validate + XACK loop."""
    from mash.bench import run_bench, run_report_bench, run_scale_bench  # noqa: PLC0415

    if events < 1 or rounds < 1 or children < 1:
        fail("--events, --rounds and --children must be at least 1")
    settings = settings_from(redis_url, None, batch_size)
    if workers is not None:
        try:
            counts = sorted({int(n) for n in workers.split(",")})
        except ValueError:
            fail(f"--workers {workers}: give worker counts separated by commas, e.g. 1,2,4")
        if not counts or counts[0] < 1 or counts[-1] > 64:
            fail(f"--workers {workers}: each count must be from 1 to 64")
        scale = run(run_scale_bench(settings, events, rounds, children, counts)).as_dict()
        if as_json:
            out.print_json(json.dumps(scale))
            return
        table = Table(
            title=f"mash bench --workers {workers}: {events:,} contacts x {rounds} rounds, "
            f"{scale['cpus']} CPUs"
        )
        table.add_column("applied by")
        table.add_column("events/s (median)", justify="right")
        table.add_column("ratio to raw", justify="right")
        table.add_row("raw redis-py loop", f"{scale['raw_redis_py_events_per_s']:,}", "1.000")
        for n, row in scale["workers"].items():
            table.add_row(
                f"{n} worker(s)", f"{row['events_per_s']:,}", f"{row['ratio_to_raw']:.3f}"
            )
        out.print(table)
        return
    if report_scale is not None:
        figures = run(run_report_bench(settings, report_scale, seed)).as_dict()
        if as_json:
            out.print_json(json.dumps(figures))
            return
        summary = Table(title=f"mash bench --report-scale {report_scale:g}", show_header=False)
        for name, value in figures.items():
            summary.add_row(
                name.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value)
            )
        out.print(summary)
        return
    result = run(run_bench(settings, events, rounds, children)).as_dict()
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(
        title=(
            f"mash bench: {events} events x {rounds} rounds, "
            f"batch {result['batch_size']}, Redis {result['redis_version']}"
        )
    )
    table.add_column("path")
    table.add_column("events/s (median)", justify="right")
    table.add_column("ratio to raw", justify="right")
    table.add_row("raw redis-py loop", f"{result['raw_redis_py_events_per_s']:,}", "1.000")
    table.add_row(
        "edge, no-op rule",
        f"{result['edge_noop_events_per_s']:,}",
        f"{result['edge_noop_ratio']:.3f}",
    )
    table.add_row(
        "edge + screening",
        f"{result['screening_events_per_s']:,}",
        f"{result['screening_ratio']:.3f}",
    )
    out.print(table)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Own the signals whatever the parent left us (a background job inherits SIGINT ignored):
    # Ctrl-C and SIGTERM both unwind through the hub's cleanup, stopping the embedded Redis.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    app()
