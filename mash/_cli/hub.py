"""Commands against a hub that outlives them: worker, publish, status, report, clocks, missing,
tail."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mash._cli.common import (
    BatchSize,
    BenchmarksFile,
    CensusYear,
    ClockMode,
    Format,
    HubRedisUrl,
    LogLevel,
    Namespace,
    ShardCount,
    TeamFile,
    app,
    benchmarks_from,
    fail,
    need_redis,
    new_table,
    out,
    run,
    settings_from,
    stop_signal,
    team_path,
)
from mash._config.settings import DEFAULT_LEA
from mash._runtime import logs

# Seconds a stopping worker has to release its shards and close; then it exits regardless.
SHUTDOWN_GRACE = 10.0


@app.command(rich_help_panel="Work with a running hub")
def publish(
    source: Annotated[
        str, typer.Argument(help="A JSONL file of events, a scenario YAML, or - for stdin.")
    ],
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    speed: Annotated[
        float,
        typer.Option("--speed", help="Event-time speed-up (60 = a minute a second); 0 = flat out."),
    ] = 0.0,
) -> None:
    """Publish events into a hub's streams, for other teams' integration tests."""
    from mash._replay.publishing import publish_source  # noqa: PLC0415

    redis_url = need_redis(redis_url, "publish needs a Redis")
    if speed < 0:
        fail("--speed must be 0 (no pacing) or more")
    settings = settings_from(redis_url, namespace)
    count = run(publish_source(source, settings, speed))
    out.print(f"published {count} events to namespace {settings.namespace!r}")


@app.command(rich_help_panel="Work with a running hub")
def worker(
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    thresholds: Annotated[
        Path | None, typer.Option("--thresholds", help="Thresholds file.")
    ] = None,
    batch_size: BatchSize = None,
    log_level: LogLevel = None,
    clock: Annotated[
        ClockMode | None,
        typer.Option(
            "--clock",
            help="wall: this worker ticks event time from the wall clock (a live hub); event: "
            "watermarks come on the clock stream (a replay, `mash publish`). Default: the "
            "namespace's, else wall.",
        ),
    ] = None,
    tick: Annotated[
        float, typer.Option("--tick", help="Seconds between wall-clock ticks (--clock wall).")
    ] = 1.0,
    shards: Annotated[
        str | None,
        typer.Option(
            "--shards",
            help="Shards to apply: 0-3, 0,2,5, or i/K (worker i of K). Default: all.",
        ),
    ] = None,
    shard_count: ShardCount = None,
    team: TeamFile = None,
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
    from mash._ops.workers import run_worker  # noqa: PLC0415
    from mash._runtime.shards import ShardSpec, ShardSpecError  # noqa: PLC0415

    redis_url = need_redis(redis_url, "worker needs a Redis")
    level = log_level or ("INFO" if "MASH_LOG_LEVEL" not in os.environ else None)
    settings = settings_from(
        redis_url,
        namespace,
        batch_size,
        level,
        thresholds=thresholds,
        shards=shard_count,
        clock=clock.value if clock else None,
        team=team_path(team),
    )
    logs.configure(settings.log_level, json=True)
    if tick <= 0:
        fail("--tick must be more than 0 seconds")
    try:
        spec = ShardSpec.parse(shards) if shards is not None else None
    except ShardSpecError as exc:
        fail(str(exc))
    run(
        run_worker(
            settings,
            stop_signal(),
            tick,
            shards=spec,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            shutdown_grace=SHUTDOWN_GRACE,
        )
    )


@app.command(rich_help_panel="Work with a running hub")
def status(
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Lag per consumer group and shard, dead letters by reason and rate, shard leases."""
    from mash._runtime.hub import Hub  # noqa: PLC0415
    from mash._runtime.progress import snapshot  # noqa: PLC0415

    redis_url = need_redis(redis_url, "status needs the hub's Redis")
    settings = settings_from(redis_url, namespace)

    async def read() -> dict[str, Any]:
        async with Hub(settings, [], run_consumers=False) as hub:
            return (await snapshot(hub.redis, hub.keys)).as_dict()

    data = run(read())
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = new_table(title=f"mash status: {settings.namespace!r}, {data['shards']} shard(s)")
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


@app.command(rich_help_panel="Work with a running hub")
def clocks(
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    breached_only: Annotated[
        bool, typer.Option("--breached", help="Only clocks already out of timescale.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the statutory clocks open now in a running hub, soonest deadline first."""
    from mash._ops.status import list_open_clocks  # noqa: PLC0415

    redis_url = need_redis(redis_url, "clocks needs the hub's Redis")
    settings = settings_from(redis_url, namespace)
    rows = run(list_open_clocks(settings))
    if breached_only:
        rows = [r for r in rows if r["out_of_timescale"]]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = new_table(title=f"open clocks in {settings.namespace!r}: {len(rows)}")
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


@app.command(rich_help_panel="Work with a running hub")
def report(
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="md, json, html, cin-xml (the DfE CIN census), or annex-a (Ofsted's lists: "
            "CSV files and a workbook, into the --out folder).",
        ),
    ] = Format.md,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write here instead of standard output (annex-a: a folder)."
        ),
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
    benchmarks: BenchmarksFile = None,
) -> None:
    """The board's figures of a running (or finished) hub, read live from its Redis.

    Costs one read of the reporter's tallies whatever the size of the run, so it can be asked
    for at any moment of a replay or a worker's life; cin-xml reads every child's record.
    """
    from datetime import datetime  # noqa: PLC0415

    from mash._report.board import render_live  # noqa: PLC0415

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
    chosen = benchmarks_from(benchmarks)
    settings = settings_from(redis_url, namespace)
    if fmt is Format.annex_a:
        from mash._report.annex_a import summary  # noqa: PLC0415
        from mash._report.board import live_annex_a  # noqa: PLC0415

        if output is None:
            fail("--format annex-a writes a folder of files: give it with --out DIR")
        if output.exists() and not output.is_dir():
            fail(f"--out {output}: exists and is not a folder (annex-a writes a folder)")
        lists = run(live_annex_a(settings, output, at=instant))
        rows = ", ".join(f"{sheet}: {n}" for sheet, n in summary(lists).items())
        out.print(f"wrote Annex A lists to {output} ({rows})", highlight=False)
        return
    text = run(
        render_live(
            settings,
            fmt.value,
            at=instant,
            population=population,
            census_year=census_year,
            lea=lea,
            benchmarks=chosen,
        )
    )
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")


@app.command(rich_help_panel="Work with a running hub")
def missing(
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the children missing now in a running hub: episodes started and not ended."""
    from mash._ops.status import list_open_episodes  # noqa: PLC0415

    redis_url = need_redis(redis_url, "missing needs the hub's Redis")
    settings = settings_from(redis_url, namespace)
    rows = run(list_open_episodes(settings))
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = new_table(title=f"missing now in {settings.namespace!r}: {len(rows)}")
    for column in ("child", "episode", "missing since"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["child"], row["missing_id"], row["started_at"])
    out.print(table)


@app.command(rich_help_panel="Work with a running hub")
def tail(
    stream: Annotated[
        str,
        typer.Argument(
            help="contacts, missing, casework, clock, decisions, cse, timescales or dlq."
        ),
    ],
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Print the backlog first.")
    ] = False,
    count: Annotated[
        int | None, typer.Option("--count", help="Stop after this many events.")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='One event JSON per line; an entry that is not JSON comes as {"not_json": ...}.',
        ),
    ] = False,
) -> None:
    """Follow a stream of a hub and print its events as they arrive (Ctrl-C to stop)."""
    from mash._ops.status import follow  # noqa: PLC0415
    from mash.schemas.events import STREAMS  # noqa: PLC0415

    redis_url = need_redis(redis_url, "tail needs the hub's Redis")
    if stream not in STREAMS:
        fail(f"unknown stream {stream!r}: one of {', '.join(STREAMS)}")
    settings = settings_from(redis_url, namespace)

    def show(raw: bytes) -> None:
        # Anyone can XADD anything: an entry that is not an event's JSON is shown for what it
        # is, never a traceback that stops the tail.
        try:
            data = json.loads(raw)
        except ValueError:  # not JSON, or not UTF-8
            data = None
        if as_json:
            if data is None:
                line = json.dumps({"not_json": raw.decode("utf-8", "backslashreplace")})
            else:
                line = raw.decode()
            out.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        if not isinstance(data, dict):
            out.print(f"<not JSON: {raw[:80]!r}>", markup=False, highlight=False, soft_wrap=True)
            return
        out.print(
            f"{data.get('occurred_at', '?')}  {data.get('type', '?'):<26} "
            f"{data.get('event_id', '?')}",
            markup=False,
            highlight=False,
        )

    run(follow(settings, stream, show, from_start=from_start, count=count))


@app.command(rich_help_panel="Work with a running hub")
def child(
    child_id: Annotated[str, typer.Argument(metavar="ID", help="The child's id (LAchildID).")],
    redis_url: HubRedisUrl = None,
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, for machines.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the chronology as an HTML page here."),
    ] = None,
) -> None:
    """A child's chronology: every event, decision with its reasons, CSE flag with its
    indicators, and clock with its deadline and outcome, in event time (London time)."""
    from mash._report import chronology  # noqa: PLC0415
    from mash._report.board import live_chronology  # noqa: PLC0415

    redis_url = need_redis(redis_url, "child needs the hub's Redis")
    settings = settings_from(redis_url, namespace)
    entries = run(live_chronology(settings, child_id))
    if output is not None:
        try:
            output.write_text(chronology.to_html(child_id, entries), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror}")
        out.print(f"wrote the chronology of {len(entries)} entries to {output}", highlight=False)
        return
    if as_json:
        sys.stdout.write(
            json.dumps(chronology.to_dict(child_id, entries), indent=2, ensure_ascii=False) + "\n"
        )
        return
    sys.stdout.write(chronology.to_text(child_id, entries))
