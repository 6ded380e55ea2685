"""What every command shares: the typer app, the options, settings, and one line per mistake.

Every user mistake (a bad file, a wrong URL, an unreachable Redis) ends as one line on stderr
and exit code 2; a failed expectation is exit code 1.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
import typer.core
from pydantic import SecretStr, ValidationError
from rich.console import Console

from mash._config.settings import DEFAULT_TEAM, Settings
from mash._runtime import logs
from mash._runtime.cancellation import raise_if_cancelled
from mash._runtime.fleet import usable_cores
from mash.errors import MashError

if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.table import Table


def _no_flag_types(params: list[Any]) -> list[Any]:
    """An empty metavar on every flag: typer 0.29's rich help prints each option's type in a
    column, flags included (`--quiet <bool>`, `--help <bool>`), though a flag takes no value
    (its plain help formatter skips flags; older typers skipped a BOOLEAN metavar). A metavar
    that is set is printed as it is, so an empty one prints nothing."""
    for param in params:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = param.metavar or ""
    return params


class MashGroup(typer.core.TyperGroup):
    """The `mash` group: its commands' help without a type after flags (`_no_flag_types`)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _no_flag_types(command.get_params(ctx))  # their --help too: made and kept there
        return command

    def get_params(self, ctx: Any) -> Any:
        return _no_flag_types(super().get_params(ctx))


app = typer.Typer(
    cls=MashGroup,
    name="mash",
    help="Simulate a Multi-Agency Safeguarding Hub on Redis streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class ClockMode(StrEnum):
    wall = "wall"
    event = "event"


class Format(StrEnum):
    md = "md"
    json = "json"
    html = "html"
    cin_xml = "cin-xml"
    annex_a = "annex-a"


BenchmarksFile = Annotated[
    Path | None,
    typer.Option(
        "--benchmarks",
        help="Benchmarks file for the performance table (statistical neighbours, national, "
        "targets, last year). Default: Rotherham LSCB 2013-14, from the seeds.",
    ),
]


def benchmarks_from(path: Path | None) -> Any:
    """The benchmarks file, read before anything runs: a mistake in it is one line."""
    from mash._report.performance import load_benchmarks  # noqa: PLC0415

    try:
        return load_benchmarks(path)
    except MashError as exc:
        fail(str(exc))


RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="MASH_REDIS_URL",
        show_envvar=True,
        help="Redis to use (redis://, rediss://, unix://). Default: a private embedded one.",
    ),
]
# Commands that read a running hub, or feed one that outlives them, cannot use an embedded
# Redis (it would start empty and vanish with them), so their help must not offer one.
HubRedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="MASH_REDIS_URL",
        show_envvar=True,
        help="The hub's Redis (redis://, rediss://, unix://): required, here or in the "
        "environment.",
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
TeamFile = Annotated[
    str | None,
    typer.Option(
        "--team",
        help="Team file (or a packaged team's name: default): contacts wait for its "
        "practitioners and are decided when one has worked them. Default: none, every "
        "contact decided the instant it arrives.",
    ),
]


def team_path(value: str | None) -> Path | None:
    """A `--team` value: a file, else a packaged team of that name; else one line."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return path
    packaged = DEFAULT_TEAM.parent / f"{value.removesuffix('.yaml')}.yaml"
    if "/" not in value and packaged.is_file():
        return packaged
    names = ", ".join(sorted(p.stem for p in DEFAULT_TEAM.parent.glob("*.yaml")))
    return fail(f"--team {value}: no such file, and no packaged team of that name ({names})")


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
    int | None,
    typer.Option(
        "--workers",
        min=0,
        max=64,
        help="Worker processes that apply the replay (0: this process). Default: a generated "
        "year gets one per core, up to 2; a scenario, this process. Same report either way.",
        show_default=False,
    ),
]


def default_workers(generated: bool, shards: int | None) -> int:
    """Two worker processes for a generated year where there are two cores (about 1.6 times
    the events a second of one process: the replay publishes while both apply), else this
    process; never more than a shard count the user fixed."""
    if not generated:
        return 0
    workers = min(2, usable_cores(), shards or 2)
    return workers if workers >= 2 else 0


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
        result = await coro
        # A cancel a library lost after the command's last checkpoint: the user still asked
        # to stop, so the run ends as a stopped one (130), not as a finished one.
        raise_if_cancelled()
        return result

    try:
        return asyncio.run(main())
    except MashError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("interrupted")
        raise typer.Exit(130) from None


def new_table(*columns: str, **options: Any) -> Table:
    """A rich table, imported when a command prints one: a command that prints none (`mash
    report` asked from another shell, every second of a dashboard) does not pay for it."""
    from rich.table import Table  # noqa: PLC0415

    return Table(*columns, **options)


class ProgressSteps:
    """A progress bar over replay steps, or nothing when output is not a terminal."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if self.disabled:
            return None
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

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


def stop_signal() -> Callable[[], asyncio.Event]:
    def make() -> asyncio.Event:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return stop

    return make
