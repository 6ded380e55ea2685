"""Commands that run something through a hub of their own: replay, generate, exercise."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mash._cli.common import (
    BatchSize,
    BenchmarksFile,
    CensusYear,
    Format,
    LogLevel,
    Namespace,
    ProgressSteps,
    RedisUrl,
    ShardCount,
    TeamFile,
    Workers,
    app,
    benchmarks_from,
    default_workers,
    err,
    fail,
    new_table,
    out,
    run,
    settings_from,
    team_path,
)
from mash.errors import MashError

# The thresholds file a trainee's decisions are judged against (exercise and room alike).
ReferenceThresholds = Annotated[
    Path | None, typer.Option("--thresholds", help="Thresholds file for the reference.")
]


@app.command(rich_help_panel="Run a simulation")
def replay(
    scenario: Annotated[
        Path,
        typer.Argument(
            help="Scenario YAML file, a library scenario's name (gemma, clocks/assessment: see "
            "`mash scenarios`), or a generated year (.jsonl, .jsonl.gz)."
        ),
    ],
    report: Annotated[Path | None, typer.Option("--report", help="Write the report here.")] = None,
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="md, json, html (with a chronology page per child it lists, in a folder "
            "beside it), or cin-xml (the DfE CIN census).",
        ),
    ] = Format.md,
    census_year: CensusYear = None,
    benchmarks: BenchmarksFile = None,
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
    workers: Workers = None,
    external_workers: Annotated[
        bool,
        typer.Option(
            "--external-workers",
            help="Leave applying to the `mash worker`s running on the namespace (docker compose).",
        ),
    ] = False,
    shard_count: ShardCount = None,
    team: TeamFile = None,
) -> None:
    """Replay a scenario through real Redis streams and check its expectations.

    Exit 0 when every expectation holds, 1 when one fails, 2 for bad input.
    """
    from mash._replay.driver import replay as run_replay  # noqa: PLC0415
    from mash._replay.driver import replay_generated  # noqa: PLC0415
    from mash._report.report import render  # noqa: PLC0415
    from mash._scenarios.generated import is_generated  # noqa: PLC0415 - keep --help fast
    from mash._scenarios.library import resolve  # noqa: PLC0415
    from mash._scenarios.scenario import load_scenario  # noqa: PLC0415

    if fmt is Format.annex_a:
        fail(
            "--format annex-a: Ofsted's lists are read from a hub; replay with --redis-url "
            "and --namespace, then `mash report --format annex-a --out DIR`"
        )
    chosen = benchmarks_from(benchmarks)
    team_file = team_path(team)
    settings = settings_from(redis_url, namespace, batch_size, log_level, shards=shard_count)
    if not is_generated(scenario):
        try:
            scenario = resolve(scenario)
        except MashError as exc:
            fail(str(exc))
    generated = is_generated(scenario)
    if workers is None:
        workers = 0 if external_workers else default_workers(generated, settings.shards)
    with ProgressSteps(quiet or not sys.stderr.isatty()) as on_step:
        if generated:
            result = run(
                replay_generated(
                    scenario,
                    settings,
                    thresholds_override=thresholds,
                    scoring_override=scoring,
                    team_override=team_file,
                    on_step=on_step,
                    census_year=census_year,
                    workers=workers,
                    external_workers=external_workers,
                    with_census=report is not None and fmt is Format.cin_xml,
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
                    team_override=team_file,
                    on_step=on_step,
                    census_year=census_year,
                    workers=workers,
                    external_workers=external_workers,
                )
            )
    if report is not None:
        pages: str | None = None
        if fmt is Format.cin_xml:
            assert result.census is not None  # asked for with the format
            text = result.census.xml
        else:
            pages = _child_pages(report) if fmt is Format.html and result.chronologies else None
            text = render(result.report, fmt.value, chosen, pages)
        try:
            report.write_text(text, encoding="utf-8")
            if pages is not None:
                _write_pages(report, pages, result.chronologies)
        except OSError as exc:
            fail(f"cannot write report {report}: {exc.strerror}")
    failed = [c for c in result.checks if not c.passed]
    if not quiet:
        _summary(result.report)
    for check in failed:
        err.print(f"[red]FAILED[/] {check.expectation}: {check.detail}", highlight=False)
    if failed:
        raise typer.Exit(1)


def _child_pages(report: Path) -> str:
    """The folder of chronology pages, beside the report and named after it."""
    return f"{report.stem}-children"


def _write_pages(report: Path, folder: str, chronologies: dict[str, Any]) -> None:
    """A page per child the report lists (a scenario's: a handful). A generated year's report
    lists no children, so it writes none: thousands of files nobody asked for; one child's is
    `mash child ID --out FILE` on the hub's Redis."""
    from mash._report.chronology import pages  # noqa: PLC0415

    where = report.parent / folder
    where.mkdir(exist_ok=True)
    for name, html in pages(chronologies, back=f"../{report.name}").items():
        (where / name).write_text(html, encoding="utf-8")


def _summary(report: dict[str, Any]) -> None:
    table = new_table(title=f"mash replay: {report['scenario']}", show_header=False)
    table.add_row("thresholds", report["thresholds"])
    table.add_row("events published", str(sum(report["events_published"].values())))
    decisions = report["decisions"]
    by_outcome = ", ".join(f"{k} {v}" for k, v in decisions["by_outcome"].items()) or "none"
    table.add_row("decisions", f"{decisions['total']} ({by_outcome})")
    queue = report.get("queue")
    if queue:
        wait = queue["mean_wait_hours"]
        table.add_row(
            "queue",
            f"{report.get('team', 'a team')}: mean wait {wait:g} h, at most "
            f"{queue['most_waiting']} waiting",
        )
    table.add_row("dead letters", str(report["dead_letters"]["total"]))
    expectations = report["expectations"]
    table.add_row("expectations", f"{expectations['passed']}/{expectations['total']} hold")
    out.print(table)


@app.command(rich_help_panel="Run a simulation")
def scenarios(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the scenario library that comes with mash: `mash replay NAME` runs one."""
    from mash._scenarios.library import library  # noqa: PLC0415

    found = library()
    if as_json:
        rows = [
            {"name": s.name, "path": str(s.path), "description": s.description}
            for s in found.values()
        ]
        out.print_json(json.dumps(rows))
        return
    table = new_table(title=f"mash scenarios: {len(found)}, replay one with `mash replay NAME`")
    table.add_column("name", no_wrap=True)
    table.add_column("what it shows")
    for s in found.values():
        table.add_row(s.name, s.summary)
    out.print(table)


@app.command(rich_help_panel="Run a simulation")
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
    team: Annotated[
        str | None,
        typer.Option(
            "--team",
            help="Team file (or a packaged team's name: default) whose social workers carry "
            "the year's assessments: each waits for a worker with room on their caseload, "
            "so NI 59 and NI 60 come from the workload. Default: the preset's drawn lengths.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            help="Processes to tell the year's stories in. Default: one a core (up to 8) from "
            "about --scale 3 (smaller years are quicker in one). A year with --team is told in "
            "one. The file is the same whatever the number.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print each target, its value at this scale and its source (seed section, "
            "England 2013-14, or ours with the reason).",
        ),
    ] = False,
) -> None:
    """Write a synthetic year of events calibrated to a preset's published figures.

    `mash replay FILE` replays it and checks the calibration figures it carries.
    """
    from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415

    from mash._generator.generate import MAX_JOBS, PRESETS, Generator  # noqa: PLC0415
    from mash._scenarios.generated import SUFFIXES  # noqa: PLC0415

    if preset not in PRESETS:
        fail(f"unknown preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    if not 0 < scale <= 1000:
        fail(f"--scale must be above 0 and at most 1000, got {scale:g}")
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        fail(f"--jobs must be from 1 to {MAX_JOBS}, got {jobs}")
    if not out_path.name.endswith(SUFFIXES):
        fail(f"--out {out_path}: name it .jsonl or .jsonl.gz, so that replay knows it")
    if not out_path.parent.is_dir():
        fail(f"--out {out_path}: no directory {out_path.parent}")
    social_workers, team_name = None, None
    team_file = team_path(team)
    if team_file is not None:
        from mash.consumers.team.config import load_team  # noqa: PLC0415

        try:
            loaded = load_team(team_file)
        except MashError as exc:
            fail(str(exc))
        if loaded.social_workers is None:
            fail(f"--team {team}: {team_file} has no social_workers (who carry the assessments)")
        social_workers, team_name = loaded.social_workers, loaded.name
    generator = Generator(
        PRESETS[preset], seed=seed, scale=scale, social_workers=social_workers, team=team_name
    )
    quiet = as_json or not sys.stderr.isatty()
    try:
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

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
            result = generator.write(out_path, on_units=lambda n: bar.advance(task, n), jobs=jobs)
    except BrokenProcessPool:
        told = f"--jobs {jobs}" if jobs else "the default jobs"
        fail(f"{told}: a process telling the year died (out of memory?); try --jobs 1")
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
    if generator.caseloads is not None and social_workers is not None:
        summary["team"] = {
            "name": team_name,
            "places": social_workers.places(scale),
            "waited": generator.caseloads.waited,
        }
    if explain:
        summary["targets"] = generator.explain()
    if as_json:
        out.print_json(json.dumps(summary))
        return
    if explain:
        table = new_table(
            "target", "value at this scale", "source", title="What the year is drawn to"
        )
        for row in generator.explain():
            table.add_row(row["target"], row["value"], row["source"])
        out.print(table)
    out.print(
        f"wrote {result.events:,} events for {result.children:,} children to {out_path} "
        f"in {result.seconds:.1f} s ({summary['events_per_second']:,} events/s)",
        highlight=False,
        soft_wrap=True,
    )


@app.command(rich_help_panel="Run a simulation")
def exercise(
    scenario: Annotated[
        Path,
        typer.Argument(help="Scenario YAML file, or a library scenario's name, to run."),
    ],
    trainee: Annotated[str, typer.Option("--trainee", help="Who is deciding.")] = "trainee",
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            min=0,
            help="Seconds of event time per real second (default 60: a red contact's 4 hours "
            "are 4 minutes of yours; 0: no waiting). Waits between events are capped at 10 s.",
        ),
    ] = None,
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="YAML file of answers: run the exercise unattended."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the debrief (md and html).")
    ] = Path(),
    thresholds: ReferenceThresholds = None,
    team: Annotated[
        str | None,
        typer.Option(
            "--team",
            help="Team file (or a packaged team's name: default): you are one of its "
            "practitioners, contacts queue for the team, and each is put before you when the "
            "queue hands it to you; colleagues decide the rest as the thresholds do. Default: "
            "the scenario's team, else none (every contact is yours, as it arrives).",
        ),
    ] = None,
    practitioner: Annotated[
        str | None,
        typer.Option(
            "--practitioner",
            help="Which of the team's practitioners you are (day-2, duty-1). Default: the first.",
        ),
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

    from mash._bootstrap import configure, team_file  # noqa: PLC0415
    from mash._scenarios.library import resolve  # noqa: PLC0415
    from mash._scenarios.scenario import load_scenario  # noqa: PLC0415
    from mash._training.debrief import to_html, to_markdown  # noqa: PLC0415
    from mash._training.exercise import load_answers, no_wait, run_exercise  # noqa: PLC0415
    from mash._training.front_door import run_team_exercise  # noqa: PLC0415
    from mash._training.terminal import terminal_ask, terminal_wait  # noqa: PLC0415

    settings = settings_from(redis_url, namespace, None, log_level or "WARNING")
    try:
        loaded = load_scenario(resolve(scenario))
        words_from = configure(loaded, settings, thresholds)[0]
        ask = (
            load_answers(answers, loaded) if answers is not None else terminal_ask(out, words_from)
        )
        # The flag, else the scenario's team; not MASH_TEAM, which is the workers' setting.
        _, the_team = team_file(loaded, settings.model_copy(update={"team": None}), team_path(team))
        if the_team is None and practitioner is not None:
            fail(f"--practitioner {practitioner}: the exercise has no team (--team)")
    except MashError as exc:
        fail(str(exc))
    pace = speed if speed is not None else (0.0 if answers is not None else 60.0)
    if not out_dir.is_dir():
        fail(f"--out {out_dir}: not a folder")
    # Unattended runs never wait; their speed only turns each answer's seconds into event
    # time.
    waits = terminal_wait(out) if answers is None else no_wait
    debrief = run(
        run_exercise(
            loaded,
            settings,
            trainee=trainee,
            ask=ask,
            speed=pace,
            wait=waits,
            thresholds_override=thresholds,
        )
        if the_team is None
        else run_team_exercise(
            loaded,
            settings,
            the_team,
            trainee=trainee,
            ask=ask,
            practitioner=practitioner,
            speed=pace,
            wait=waits,
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


@app.command(rich_help_panel="Run a simulation")
def room(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario to open the room with (a file or a library name); without one the "
            "facilitator picks it in the browser."
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; 0.0.0.0 lets other machines join."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free).")
    ] = 8000,
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            min=0.001,
            help="Seconds of event time per real second (default 60: red's 4 hours are 4 "
            "minutes); the facilitator may change it when opening a room.",
        ),
    ] = 60.0,
    max_wait: Annotated[
        float,
        typer.Option(
            "--max-wait",
            min=1,
            help="Longest real wait, in seconds, before the next contact arrives.",
        ),
    ] = 120.0,
    thresholds: ReferenceThresholds = None,
    redis_url: RedisUrl = None,
    namespace: Namespace = None,
    log_level: LogLevel = None,
) -> None:
    """A training room in the browser: a facilitator, a room of trainees, one scenario.

    Prints the facilitator's link (keep it to yourself) and the page trainees join at with
    the room code. Each trainee screens on a hub of their own on the same Redis, so the
    clocks and CSE flags run on their decisions; the debriefs, per trainee and for the room,
    come at the end. Ctrl-C stops the room.
    """
    from mash._room.app import Venue  # noqa: PLC0415
    from mash._room.room import RoomError  # noqa: PLC0415
    from mash._room.server import serve_room  # noqa: PLC0415
    from mash._scenarios.library import resolve  # noqa: PLC0415
    from mash._scenarios.scenario import load_scenario  # noqa: PLC0415

    settings = settings_from(redis_url, namespace or "room", None, log_level or "WARNING")
    loaded = None
    if scenario is not None:
        try:
            loaded = load_scenario(resolve(scenario))
        except MashError as exc:
            fail(str(exc))
    if thresholds is not None and not thresholds.is_file():
        fail(f"--thresholds {thresholds}: no such file")
    venue = Venue(
        settings,
        redis_url=redis_url,
        thresholds=thresholds,
        scenario=loaded,
        speed=speed,
        max_wait=max_wait,
    )

    async def main() -> None:
        def announce(base: str) -> None:
            out.print(f"training room: {base}/ (trainees join here with the room code)")
            out.print(f"facilitator:   {base}/f/{venue.key}", soft_wrap=True)
            out.print("Ctrl-C stops the room", style="dim")

        async def opener() -> None:
            # Opened once the server is listening, so the code is printed after the links.
            while venue.redis_url is None or not announced:
                await asyncio.sleep(0.05)
            try:
                opened = await venue.open({})
            except RoomError as exc:
                err.print(f"error: {exc.message}", highlight=False)
                return
            out.print(f"room code:     {opened.code} ({opened.scenario.name})", highlight=False)

        announced = False

        def said(base: str) -> None:
            nonlocal announced
            announce(base)
            announced = True

        task = asyncio.create_task(opener()) if loaded is not None else None
        try:
            await serve_room(venue, host, port, said)
        finally:
            if task is not None:
                task.cancel()

    import asyncio  # noqa: PLC0415

    run(main())
    out.print("room closed")


@app.command(rich_help_panel="Run a simulation")
def compare(
    first: Annotated[
        Path, typer.Argument(help="A report: `mash replay ... -f json --report A.json`.")
    ],
    second: Annotated[Path, typer.Argument(help="The report to set beside it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Two runs' figures side by side: the same year with two team files, say.

    `mash replay year.jsonl.gz --team small.yaml -f json --report A.json`, the same with
    `--team bigger.yaml` to B.json, then `mash compare A.json B.json`.
    """
    import json  # noqa: PLC0415

    from mash._report.compare import compare as rows_of  # noqa: PLC0415
    from mash._report.compare import to_json  # noqa: PLC0415

    reports = []
    for path in (first, second):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            fail(f"{path}: cannot read it ({exc.strerror})")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            fail(f"{path}: not a JSON report ({exc}); write one with `mash replay ... -f json`")
        if not isinstance(data, dict) or "decisions" not in data or "clocks" not in data:
            fail(f"{path}: not a mash report (no decisions or clocks); `mash replay ... -f json`")
        reports.append(data)
    rows = rows_of(reports[0], reports[1])
    if as_json:
        out.print_json(data=to_json(rows))
        return
    table = new_table(title=f"{first.name} → {second.name}")
    for column in ("", "figure", first.name, second.name, "change"):
        table.add_column(
            column, justify="right" if column in (first.name, second.name, "change") else "left"
        )
    section = ""
    for row in rows:
        shown = row.section if row.section != section else ""
        section = row.section
        change = row.change
        table.add_row(
            shown,
            row.figure,
            "—" if row.a is None else str(row.a),
            "—" if row.b is None else str(row.b),
            "" if change is None or change == 0 else f"{change:+g}",
        )
    out.print(table)
