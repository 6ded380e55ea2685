"""Commands for developers of mash itself: the exported contract and the benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mash._cli.common import (
    BatchSize,
    RedisUrl,
    app,
    default_workers,
    err,
    fail,
    new_table,
    out,
    run,
    settings_from,
)


@app.command(rich_help_panel="Develop mash")
def schemas(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the schema files.")] = Path(
        "schemas"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if files differ; write nothing.")
    ] = False,
) -> None:
    """Write one JSON Schema per event type and the AsyncAPI document of the hub."""
    from mash._ops.contracts import generate  # noqa: PLC0415

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


@app.command(rich_help_panel="Develop mash")
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
            "shards as workers). With --pipeline: the worker processes that apply the year "
            "(0: this process; default: as `mash replay` would, two where there are two cores).",
        ),
    ] = None,
    pipeline: Annotated[
        bool,
        typer.Option(
            "--pipeline",
            help="Instead: a generated year (--scale, --seed) through every consumer, against "
            "the raw loop over the same events.",
        ),
    ] = False,
    scale: Annotated[
        float,
        typer.Option("--scale", min=0.001, max=1000, help="With --pipeline: the year's scale."),
    ] = 1.0,
    reports: Annotated[
        bool,
        typer.Option(
            "--reports",
            help="With --pipeline: one more round, not counted in the rates, in which another "
            "process runs `mash report` over and over while the year is applied; gives each "
            "command's wall seconds, start-up included (report_command_s).",
        ),
    ] = False,
) -> None:
    """Measure the edge against a raw redis-py XREADGROUP + validate + XACK loop."""
    from mash._ops.bench import (  # noqa: PLC0415
        run_bench,
        run_pipeline_bench,
        run_report_bench,
        run_scale_bench,
    )

    if events < 1 or rounds < 1 or children < 1:
        fail("--events, --rounds and --children must be at least 1")
    if reports and not pipeline:
        fail("--reports times `mash report` while a year is applied: it goes with --pipeline")
    settings = settings_from(redis_url, None, batch_size)
    if pipeline:
        try:
            applying = (
                int(workers) if workers is not None else default_workers(True, settings.shards)
            )
        except ValueError:
            fail(f"--workers {workers}: with --pipeline, one count of worker processes (0: none)")
        if not 0 <= applying <= 64:
            fail(f"--workers {workers}: from 0 to 64")
        figures = run(
            run_pipeline_bench(settings, scale, seed, rounds, applying, reports)
        ).as_dict()
        if as_json:
            out.print_json(json.dumps(figures))
            return
        summary = new_table(title=f"mash bench --pipeline --scale {scale:g}", show_header=False)
        nested = ("samples", "cpu_us_per_event", "report_command_s")
        rows = {n: v for n, v in figures.items() if n not in nested}
        rows.update({f"cpu us per event, {n}": v for n, v in figures["cpu_us_per_event"].items()})
        rows.update(
            {f"mash report s, {n}": v for n, v in figures.get("report_command_s", {}).items()}
        )
        for name, value in rows.items():
            shown = "n/a" if value is None else f"{value:,}" if isinstance(value, int) else value
            summary.add_row(name.replace("_", " "), str(shown))
        out.print(summary)
        return
    if workers is not None:
        try:
            counts = sorted({int(n) for n in workers.split(",")})
        except ValueError:
            fail(f"--workers {workers}: give worker counts separated by commas, e.g. 1,2,4")
        if not counts or counts[0] < 1 or counts[-1] > 64:
            fail(f"--workers {workers}: each count must be from 1 to 64")
        scaled = run(run_scale_bench(settings, events, rounds, children, counts)).as_dict()
        if as_json:
            out.print_json(json.dumps(scaled))
            return
        table = new_table(
            title=f"mash bench --workers {workers}: {events:,} contacts x {rounds} rounds, "
            f"{scaled['cpus']} CPUs"
        )
        table.add_column("applied by")
        table.add_column("events/s (median)", justify="right")
        table.add_column("ratio to raw", justify="right")
        table.add_row("raw redis-py loop", f"{scaled['raw_redis_py_events_per_s']:,}", "1.000")
        for n, row in scaled["workers"].items():
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
        summary = new_table(title=f"mash bench --report-scale {report_scale:g}", show_header=False)
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
    table = new_table(
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
