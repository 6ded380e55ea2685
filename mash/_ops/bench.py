"""`mash bench`: the edge's throughput against a raw redis-py loop on the same Redis.

Both sides start from the same backlog of contact events already in a stream. The raw loop is
the floor any consumer must pay (XREADGROUP a batch, validate each entry with the same pydantic
union, XACK the batch). The edge adds per-child state, the screening rule, output events and
the atomic Lua commit. We report medians of several rounds and their ratio, measured in one
run, because the machines are shared and absolute numbers drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from mash._config.settings import Settings
from mash._runtime.clients import open_client
from mash._runtime.consumer import Consumer
from mash._runtime.fleet import usable_cores
from mash._runtime.hub import Hub
from mash._time.clock import tick
from mash.consumers import screening
from mash.consumers.screening.thresholds import load_thresholds
from mash.consumers.timescales.rules import children_of
from mash.schemas.codes import Agency, Factor, ReferralSource, Sex
from mash.schemas.events import ChildDetails, ContactReceived, Envelope, Event, parse_event

CONCERN_CYCLE: tuple[list[Factor], ...] = (
    [Factor.NEGLECT],
    [Factor.DOMESTIC_ABUSE_PARENT, Factor.ALCOHOL_PARENT],
    [Factor.MISSING],
    [Factor.SEXUAL_ABUSE],
    [Factor.MENTAL_HEALTH_PARENT],
    [],
    [Factor.SELF_HARM],
)


class _Nothing(BaseModel):
    pass


def _noop_rule(
    states: Mapping[str, _Nothing], event: Event
) -> tuple[dict[str, _Nothing], list[Envelope]]:
    return {}, []


def noop_consumer() -> Consumer[_Nothing]:
    """The edge with nothing to do: parse, dedupe, commit and ack only."""
    return Consumer(
        name="bench-noop",
        inputs=("contacts",),
        handles=frozenset({"contact.received"}),
        state_type=_Nothing,
        keys=lambda event: [],
        rule=_noop_rule,
    )


def contacts(n: int, children: int) -> list[str]:
    start = datetime(2014, 4, 1, 9, tzinfo=UTC)
    out = []
    for i in range(n):
        child = f"B{i % children:06d}"
        at = start + timedelta(minutes=i)
        out.append(
            ContactReceived(
                event_id=f"bench.{i}",
                occurred_at=at,
                recorded_at=at,
                child_id=child,
                agency=Agency.SCHOOL,
                correlation_id=f"bench.{i}",
                referral_source=ReferralSource.SCHOOLS,
                children=[
                    ChildDetails(child_id=child, dob=datetime(2008, 1, 1).date(), sex=Sex.FEMALE)
                ],
                concerns=CONCERN_CYCLE[i % len(CONCERN_CYCLE)],
            ).model_dump_json()
        )
    return out


async def _fill(client: aioredis.Redis, key: str, payloads: list[str]) -> None:
    pipe = client.pipeline(transaction=False)
    for index, payload in enumerate(payloads, start=1):
        pipe.xadd(key, {"event": payload})
        if index % 2000 == 0:
            await pipe.execute()
    await pipe.execute()


async def raw_loop(client: aioredis.Redis, key: str, payloads: list[str], batch: int) -> float:
    """Events per second of XREADGROUP + validate + XACK, from a filled stream."""
    await _fill(client, key, payloads)
    await client.xgroup_create(key, "raw", id="0")
    done = 0
    started = time.perf_counter()
    while done < len(payloads):
        reply: Any = await client.xreadgroup("raw", "raw-1", {key: ">"}, count=batch)
        for _, entries in reply:
            for _, fields in entries:
                parse_event(fields[b"event"])
            await client.xack(key, "raw", *[entry_id for entry_id, _ in entries])
            done += len(entries)
    return len(payloads) / (time.perf_counter() - started)


def with_watermarks(payloads: list[str], every: int = 2000) -> tuple[list[str], datetime]:
    """The contacts with a watermark after every `every` of them, as a replay publishes them;
    and the last watermark's instant."""
    out: list[str] = []
    last = datetime(2014, 4, 1, tzinfo=UTC)
    for index, payload in enumerate(payloads, start=1):
        out.append(payload)
        if index % every == 0 or index == len(payloads):
            last = parse_event(payload).occurred_at
            out.append(tick(last).model_dump_json())
    return out, last


async def _fill_hub(hub: Hub, payloads: list[str]) -> datetime:
    """Contacts on their stream, watermarks on the clock, in publishing order."""
    marked, last = with_watermarks(payloads)
    pipe = hub.redis.pipeline(transaction=False)
    for index, payload in enumerate(marked, start=1):
        stream = "clock" if '"clock.tick"' in payload else "contacts"
        pipe.xadd(hub.keys.stream(stream), {"event": payload})
        if index % 2000 == 0:
            await pipe.execute()
    await pipe.execute()
    return last


async def edge_run(settings: Settings, consumer: Consumer[Any], payloads: list[str]) -> float:
    """Events per second through the hub's real subscribers, from a filled stream."""
    hub = Hub(settings.model_copy(update={"clock": "event"}), [consumer], run_consumers=False)
    await hub.start()
    try:
        last = await _fill_hub(hub, payloads)
        started = time.perf_counter()
        await hub.start_applying()
        # Wait on the edge's commits (in-process), and time the run to the last of them.
        await hub.drain(last, timeout=600)
        finished = max(edge.last_commit for edge in hub.edges.values())
        return len(payloads) / (finished - started)
    finally:
        await hub.stop()


@dataclass
class BenchResult:
    events: int
    rounds: int
    batch_size: int
    redis_version: str
    raw: list[float]
    edge_noop: list[float]
    screening: list[float]

    def as_dict(self) -> dict[str, Any]:
        raw = statistics.median(self.raw)
        noop = statistics.median(self.edge_noop)
        screen = statistics.median(self.screening)
        return {
            "events": self.events,
            "rounds": self.rounds,
            "batch_size": self.batch_size,
            "redis_version": self.redis_version,
            "raw_redis_py_events_per_s": round(raw),
            "edge_noop_events_per_s": round(noop),
            "screening_events_per_s": round(screen),
            "edge_noop_ratio": round(noop / raw, 3),
            "screening_ratio": round(screen / raw, 3),
            "samples": {"raw": self.raw, "edge_noop": self.edge_noop, "screening": self.screening},
        }


async def run_bench(settings: Settings, events: int, rounds: int, children: int) -> BenchResult:
    """Rounds interleave raw, no-op edge and screening so drift hits all three alike."""
    payloads = contacts(events, children)
    thresholds = load_thresholds(settings.thresholds)
    result = BenchResult(events, rounds, settings.batch_size, "", [], [], [])
    async with Hub(settings, [], run_consumers=False) as base:
        info = await base.redis.info("server")
        result.redis_version = str(info.get("redis_version", "?"))
        for round_no in range(rounds):
            ns = f"{settings.namespace}-bench-{round_no}"
            key = f"mash:{{{ns}}}:raw"
            result.raw.append(await raw_loop(base.redis, key, payloads, settings.batch_size))
            url = base.url
            for label, consumer in (
                ("noop", noop_consumer()),
                ("screening", screening.build(thresholds)),
            ):
                run_settings = settings.model_copy(
                    update={"namespace": f"{ns}-{label}", "redis_url": _secret(url)}
                )
                rate = await edge_run(run_settings, consumer, payloads)
                (result.edge_noop if label == "noop" else result.screening).append(rate)
            await _delete_namespace(base.redis, ns)
    return result


async def _delete_namespace(client: aioredis.Redis, namespace: str) -> None:
    """Remove only the keys this benchmark made: never FLUSHDB someone's Redis."""
    async for key in client.scan_iter(match=f"mash:{{{namespace}*", count=1000):
        await client.delete(key)


def _secret(url: str) -> Any:
    from pydantic import SecretStr  # noqa: PLC0415

    return SecretStr(url)


# ---- the board's report during a live year ---------------------------------------------------
def year_with_ticks(scale: float, seed: int) -> tuple[list[Envelope], int]:
    """A generated year of the 2013-14 preset with a watermark at the end of each day, so
    clocks fall due as in live running; and its population."""
    import tempfile  # noqa: PLC0415

    from mash._generator.generate import BOROUGH_2013_14, Generator  # noqa: PLC0415
    from mash._scenarios.generated import open_generated  # noqa: PLC0415

    out: list[Envelope] = []
    day = None
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "year.jsonl"
        generator = Generator(BOROUGH_2013_14, seed=seed, scale=scale)
        generator.write(path)
        with open_generated(path) as (_header, events):
            parsed = list(events)
    for event in parsed:
        if day is not None and event.occurred_at.date() != day:
            out.append(tick(datetime.combine(day, datetime.max.time(), tzinfo=UTC)))
        day = event.occurred_at.date()
        out.append(event)
    return out, generator.quotas.population


@dataclass
class ReportBench:
    children: int
    events: int
    seconds: float
    raw_hgetall_ms: list[float]
    report_ms: list[float]
    census_ms: float
    census_children: int
    tallies: int
    raw_events_per_s: float

    def as_dict(self) -> dict[str, Any]:
        report = sorted(self.report_ms)
        raw = statistics.median(self.raw_hgetall_ms)
        return {
            "children": self.children,
            "events": self.events,
            "drain_seconds": round(self.seconds, 1),
            "events_per_s_all_consumers": round(self.events / self.seconds),
            "raw_redis_py_events_per_s": round(self.raw_events_per_s),
            "hub_to_raw_ratio": round(self.events / self.seconds / self.raw_events_per_s, 3),
            "reports_taken": len(report),
            "report_ms_median": round(statistics.median(report), 2),
            "report_ms_p95": round(report[int(0.95 * (len(report) - 1))], 2),
            "report_ms_max": round(report[-1], 2),
            "raw_hgetall_ms_median": round(raw, 2),
            "report_to_raw_hgetall": round(statistics.median(report) / raw, 1),
            "tally_fields": self.tallies,
            "census_ms": round(self.census_ms),
            "census_children": self.census_children,
        }


def _report_reader(
    url: str, namespace: str, at: str, stop: Any, results: Any
) -> None:  # pragma: no cover - runs in a child process
    """A board member's client in its own process: report, HGETALL, wait, until told."""

    async def loop() -> None:
        from mash._report.board import board_figures  # noqa: PLC0415
        from mash._runtime.keys import Keys  # noqa: PLC0415

        client, _ = await open_client(url)
        keys = Keys(namespace)
        instant = datetime.fromisoformat(at)
        raw: list[float] = []
        report: list[float] = []
        while not stop.is_set():
            began = time.perf_counter()
            await client.hgetall(keys.tallies("reporter"))
            raw.append(1000 * (time.perf_counter() - began))
            began = time.perf_counter()
            await board_figures(client, keys, instant)
            report.append(1000 * (time.perf_counter() - began))
            await asyncio.sleep(0.25)
        await client.aclose()
        results.put((raw, report))

    asyncio.run(loop())


async def run_report_bench(settings: Settings, scale: float, seed: int) -> ReportBench:
    """Publish a generated year into a hub running every consumer, and have a separate
    process ask for the board's report over and over while it is consumed; time each against
    a bare HGETALL of the same tallies (the floor any reader pays)."""
    import multiprocessing  # noqa: PLC0415

    from mash._bootstrap import build_consumers  # noqa: PLC0415
    from mash._report.board import census, read_tallies, write_meta  # noqa: PLC0415

    events, population = year_with_ticks(scale, seed)
    children = len({c for e in events for c in children_of(e)})
    namespace = f"{settings.namespace}-report-bench-{os.getpid()}"
    run_settings = settings.model_copy(update={"namespace": namespace, "clock": "event"})
    hub = Hub(run_settings, build_consumers(load_thresholds(settings.thresholds)))
    await hub.start()
    try:
        await write_meta(hub.redis, hub.keys, {"population": population})
        at = events[-1].occurred_at
        # The floor, in the same run on the same Redis: XREADGROUP + validate + XACK of the
        # same events, with no consumer at all.
        raw_key = f"mash:{{{namespace}}}:raw-floor"
        payloads = [e.model_dump_json() for e in events]
        raw_rate = await raw_loop(hub.redis, raw_key, payloads, settings.batch_size)
        await hub.redis.delete(raw_key)
        spawn = multiprocessing.get_context("spawn")
        stop, results = spawn.Event(), spawn.Queue()
        reader = spawn.Process(
            target=_report_reader, args=(hub.url, namespace, at.isoformat(), stop, results)
        )
        reader.start()
        started = time.perf_counter()
        await hub.publish([*events, tick(at)])
        await hub.drain(at, timeout=900)
        seconds = time.perf_counter() - started
        stop.set()
        raw_ms, report_ms = await asyncio.to_thread(results.get, True, 60)
        reader.join(10)
        began = time.perf_counter()
        cin = await census(hub.redis, hub.keys, at)
        census_ms = 1000 * (time.perf_counter() - began)
        tallies = len(await read_tallies(hub.redis, hub.keys))
    finally:
        await hub.stop()
        if settings.redis_url is not None:  # someone's Redis: leave it as we found it
            client, _ = await open_client(settings.redis_url.get_secret_value())
            await _delete_namespace(client, namespace)
            await client.aclose()
    return ReportBench(
        children,
        len(events),
        seconds,
        raw_ms,
        report_ms,
        census_ms,
        cin.children,
        tallies,
        raw_rate,
    )


# ---- scale-out: the same backlog applied by 1, 2, 4... worker processes ---------------------
@dataclass
class ScaleBench:
    events: int
    rounds: int
    raw: list[float]
    by_workers: dict[int, list[float]]

    def as_dict(self) -> dict[str, Any]:
        raw = statistics.median(self.raw)
        rows = {}
        for workers, rates in sorted(self.by_workers.items()):
            median = statistics.median(rates)
            rows[str(workers)] = {
                "events_per_s": round(median),
                "ratio_to_raw": round(median / raw, 3),
                "samples": [round(r) for r in rates],
            }
        return {
            "events": self.events,
            "rounds": self.rounds,
            "cpus": os.cpu_count(),
            "raw_redis_py_events_per_s": round(raw),
            "workers": rows,
        }


async def fleet_run(settings: Settings, workers: int, payloads: list[str]) -> float:
    """Events per second of `workers` worker processes (every consumer) on as many shards:
    from publishing the backlog into ready workers to the last entry applied."""
    from mash._bootstrap import build_consumers  # noqa: PLC0415
    from mash._runtime.fleet import Fleet  # noqa: PLC0415

    run_settings = settings.model_copy(update={"shards": workers, "clock": "event"})
    consumers = build_consumers(load_thresholds(settings.thresholds))
    async with Hub(run_settings, consumers, run_consumers=False) as hub:
        fleet = Fleet(
            url=hub.url,
            namespace=run_settings.namespace,
            workers=workers,
            shards=workers,
            thresholds=settings.thresholds.resolve(),
            timescales=settings.timescales.resolve(),
            scoring=settings.scoring.resolve(),
            env={"MASH_BATCH_SIZE": str(settings.batch_size)},
            nice=settings.worker_nice,
        )
        await fleet.start()
        try:
            while len(await hub.redis.keys(hub.keys.lease(0)[:-1] + "*")) < workers:
                fleet.check()
                await asyncio.sleep(0.05)
            events = [parse_event(p) for p in payloads]
            last = events[-1].occurred_at
            started = time.perf_counter()
            await hub.publish([*events, tick(last)])
            await hub.drain(last, timeout=900, poll=0.02, watch=fleet.check)
            return len(payloads) / (time.perf_counter() - started)
        finally:
            await fleet.stop()


async def run_scale_bench(
    settings: Settings, events: int, rounds: int, children: int, workers: list[int]
) -> ScaleBench:
    """Rounds interleave the raw loop and each worker count, on one Redis, so that drift on a
    shared machine hits them alike."""
    payloads = contacts(events, children)
    result = ScaleBench(events, rounds, [], {n: [] for n in workers})
    async with Hub(settings, [], run_consumers=False) as base:
        for round_no in range(rounds):
            ns = f"{settings.namespace}-scale-{os.getpid()}-{round_no}"
            key = f"mash:{{{ns}}}:raw"
            result.raw.append(await raw_loop(base.redis, key, payloads, settings.batch_size))
            for n in workers:
                run_settings = settings.model_copy(
                    update={"namespace": f"{ns}-w{n}", "redis_url": _secret(base.url)}
                )
                result.by_workers[n].append(await fleet_run(run_settings, n, payloads))
            await _delete_namespace(base.redis, ns)
    return result


# ---- the whole pipeline: a generated year through every consumer ------------------------------
CPU_ROLES = ("bench_process", "workers", "redis")


@dataclass
class PipelineBench:
    scale: float
    seed: int
    events: int
    children: int
    workers: int
    raw: list[float]
    pipeline: list[float]
    redis_used_memory_bytes: int
    peak_rss_bytes: int
    # Each round's CPU seconds by role over the timed window (None: not measurable here).
    cpu: list[dict[str, float | None]] = field(default_factory=list)
    # With `reports`: the `mash report` commands another process ran during one more round
    # (not counted in the rates); None when not asked for.
    report_commands: ReportCommands | None = None

    def cpu_figures(self) -> dict[str, Any]:
        """CPU per event by role (medians of the rounds, microseconds; the total is their
        sum), and the share of the machine's cores the run kept busy: a wall figure on a
        shared machine moves with the neighbours, CPU per event much less, and a share near
        1 says the run was CPU-bound."""
        per_event: dict[str, float | None] = {}
        for role in CPU_ROLES:
            seconds = [v for r in self.cpu if (v := r.get(role)) is not None]
            per_event[role] = (
                round(statistics.median(seconds) * 1e6 / self.events, 1)
                if seconds and len(seconds) == len(self.cpu)
                else None
            )
        parts = list(per_event.values())
        total = per_event["total"] = (
            None if None in parts else round(sum(p or 0.0 for p in parts), 1)
        )
        rate = statistics.median(self.pipeline) if self.pipeline else 0.0
        busy = round(total * 1e-6 * rate / usable_cores(), 3) if total is not None else None
        return {"cpu_us_per_event": per_event, "cpu_share_used": busy}

    def _report_figures(self) -> dict[str, Any]:
        seen = self.report_commands
        if seen is None:
            return {}
        times = seen.seconds
        return {
            "report_command_s": {
                "taken": len(times),
                "median": round(statistics.median(times), 3) if times else None,
                "max": round(max(times), 3) if times else None,
                "failed": seen.failed,  # the first find nothing applied yet: a few is normal
                "last_error": seen.last_error,
            }
        }

    def as_dict(self) -> dict[str, Any]:
        raw = statistics.median(self.raw)
        rate = statistics.median(self.pipeline)
        return {
            "scale": self.scale,
            "seed": self.seed,
            "events": self.events,
            "children": self.children,
            "workers": self.workers,
            "cpus": os.cpu_count(),
            "pipeline_events_per_s": round(rate),
            "raw_redis_py_events_per_s": round(raw),
            "pipeline_ratio": round(rate / raw, 3),
            "redis_used_memory_bytes": self.redis_used_memory_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            **self.cpu_figures(),
            **self._report_figures(),
            "samples": {
                "pipeline": [round(r) for r in self.pipeline],
                "raw": [round(r) for r in self.raw],
            },
        }


def process_cpu_seconds(pid: int) -> float | None:
    """User and system CPU a process has used, from Linux's /proc (None elsewhere, or once it
    has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_snapshot(redis: aioredis.Redis, workers: Sequence[int]) -> dict[str, float | None]:
    """CPU seconds so far of this process, of the worker processes, and of the Redis server
    (its own INFO, so a Redis elsewhere counts too)."""
    info: Any = await redis.info("cpu")
    server = info.get("used_cpu_user"), info.get("used_cpu_sys")
    worker_times = [process_cpu_seconds(pid) for pid in workers]
    return {
        "bench_process": time.process_time(),
        "workers": None if None in worker_times else sum(t or 0.0 for t in worker_times),
        "redis": float(server[0]) + float(server[1]) if None not in server else None,
    }


def cpu_spent(
    before: Mapping[str, float | None], after: Mapping[str, float | None]
) -> dict[str, float | None]:
    spent: dict[str, float | None] = {}
    for role in CPU_ROLES:
        a, b = before.get(role), after.get(role)
        spent[role] = b - a if a is not None and b is not None else None
    return spent


def _peak_rss_bytes(workers: int) -> int:
    """The peak resident memory of this process, or of the largest process it waited for
    (its workers, and with `--reports` the report commands, which are smaller; Linux
    reports kilobytes)."""
    import resource  # noqa: PLC0415

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if workers:
        own = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return int(own) * 1024


REPORT_COMMAND_TIMEOUT = 120.0  # seconds: a report that takes longer is a failure to say


@dataclass
class ReportCommands:
    """What `time_report_commands` saw: each printed report's wall seconds, and the
    commands that printed none (none applied yet, or a fault) with the last one's words."""

    seconds: list[float] = field(default_factory=list)
    failed: int = 0
    last_error: str | None = None


async def time_report_commands(
    url: str, namespace: str, seen: ReportCommands, stop: asyncio.Event
) -> None:
    """`mash report` in a process of its own, over and over until `stop`, as a board member
    asks from another shell while a run goes: the whole command's wall seconds, start-up
    included, of each that printed a report (the first may find nothing applied yet). A run
    over before one was printed gets one more, so there is always a figure."""
    env = {**os.environ, "MASH_REDIS_URL": url}  # the URL's password kept out of argv
    failed_after = 0
    while not stop.is_set() or (not seen.seconds and failed_after < 3):
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mash", "report", "--namespace", namespace,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )  # fmt: skip
        try:
            _, error = await asyncio.wait_for(proc.communicate(), REPORT_COMMAND_TIMEOUT)
        except (asyncio.CancelledError, TimeoutError) as exc:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()  # no orphan
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = f"no report within {REPORT_COMMAND_TIMEOUT:.0f} s".encode()
        if proc.returncode == 0:
            seen.seconds.append(time.perf_counter() - began)
        else:
            seen.failed += 1
            lines = error.decode(errors="replace").strip().splitlines()
            seen.last_error = lines[-1] if lines else f"exit {proc.returncode}"
            failed_after += stop.is_set()
        await asyncio.sleep(0.1)


async def pipeline_run(
    settings: Settings,
    events: Sequence[Envelope],
    end: datetime,
    workers: int,
    report_commands: ReportCommands | None = None,
) -> tuple[float, int, dict[str, float | None]]:
    """Events per second of a year through every consumer (in this process, or `workers`
    worker processes), from the first publish to the last watermark applied; the memory
    Redis uses at the end; and the CPU each role spent meanwhile. With `report_commands`,
    another process times `mash report` commands into it meanwhile."""
    from mash._bootstrap import build_consumers  # noqa: PLC0415
    from mash._replay.driver import applied_by, publish_steps, with_workers  # noqa: PLC0415
    from mash._replay.steps import watermarked  # noqa: PLC0415

    run_settings = with_workers(settings, workers)
    paths = (settings.thresholds, settings.timescales, settings.scoring)
    consumers = build_consumers(load_thresholds(settings.thresholds))
    async with (
        Hub(run_settings, consumers, run_consumers=workers <= 0) as hub,
        applied_by(hub, workers, paths, decide=True) as fleet,
    ):
        if fleet is not None:
            while len(await hub.redis.keys(hub.keys.lease(0)[:-1] + "*")) < workers:
                fleet.check()
                await asyncio.sleep(0.05)
        pids = fleet.pids if fleet is not None else []
        asking, stop = None, asyncio.Event()
        if report_commands is not None:
            asking = asyncio.create_task(
                time_report_commands(hub.url, run_settings.namespace, report_commands, stop)
            )
        try:
            cpu_before = await cpu_snapshot(hub.redis, pids)
            started = time.perf_counter()
            await publish_steps(hub, watermarked(events, end), 900, fleet)
            rate = len(events) / (time.perf_counter() - started)
            cpu = cpu_spent(cpu_before, await cpu_snapshot(hub.redis, pids))
        except BaseException:
            if asking is not None:
                asking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asking
            raise
        if asking is not None:
            stop.set()
            await asking  # the one under way finishes; one more if none printed yet
        info: Any = await hub.redis.info("memory")
        return rate, int(info.get("used_memory", 0)), cpu


async def run_pipeline_bench(
    settings: Settings, scale: float, seed: int, rounds: int, workers: int, reports: bool = False
) -> PipelineBench:
    """A generated year of the 2013-14 preset through the whole pipeline, against the raw
    redis-py loop over the same events, rounds interleaved so drift hits both alike; with
    `reports`, one more round in which `mash report` commands are timed meanwhile."""
    import tempfile  # noqa: PLC0415

    from mash._generator.generate import BOROUGH_2013_14, Generator  # noqa: PLC0415
    from mash._scenarios.generated import open_generated  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "year.jsonl"
        Generator(BOROUGH_2013_14, seed=seed, scale=scale).write(path)
        with open_generated(path) as (header, stream):
            events = list(stream)
    payloads = [e.model_dump_json() for e in events]
    children = len({c for e in events for c in children_of(e)})
    result = PipelineBench(scale, seed, len(events), children, workers, [], [], 0, 0)
    async with Hub(settings, [], run_consumers=False) as base:
        for round_no in range(rounds):
            ns = f"{settings.namespace}-pipeline-{os.getpid()}-{round_no}"
            key = f"mash:{{{ns}}}:raw"
            result.raw.append(await raw_loop(base.redis, key, payloads, settings.batch_size))
            await base.redis.delete(key)
            run_settings = settings.model_copy(
                update={"namespace": f"{ns}-hub", "redis_url": _secret(base.url)}
            )
            rate, memory, cpu = await pipeline_run(run_settings, events, header.end, workers)
            result.pipeline.append(rate)
            result.cpu.append(cpu)
            result.redis_used_memory_bytes = memory
            await _delete_namespace(base.redis, ns)
        if reports:
            ns = f"{settings.namespace}-pipeline-{os.getpid()}-reports"
            run_settings = settings.model_copy(
                update={"namespace": f"{ns}-hub", "redis_url": _secret(base.url)}
            )
            result.report_commands = ReportCommands()
            await pipeline_run(run_settings, events, header.end, workers, result.report_commands)
            await _delete_namespace(base.redis, ns)
    result.peak_rss_bytes = _peak_rss_bytes(workers)
    return result
