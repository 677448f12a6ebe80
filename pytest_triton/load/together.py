"""Several models measured at once, to catch how they slow each other down on one server.

Each model has its own load (and SLO); step i of every model runs at the same time, one thread
per model around its own driver. A step measures exactly `measured_windows` windows after its
warm-up instead of waiting for stability (it is reported unstable if its last three disagree),
so the models' steps start and end together: give them the same window_s and warmup_s and
every window of one model ran against the others' load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, replace

from pytest_triton.errors import ConfigError
from pytest_triton.observe.observer import Observer
from pytest_triton.result import Measurement, StepResult
from pytest_triton.server.base import Endpoints
from pytest_triton.spec import SLO, LoadSpec

from . import server_reads
from .driver import Driver, make_driver
from .points import validate_load_spec
from .step import LoadPoint, StepSettings
from .step_lock import StepLock


@dataclass(frozen=True)
class Member:
    """One model of a measurement together."""

    model: str
    version: str | None
    load: LoadSpec
    slo: SLO | None = None


# Called in the caller's thread after each step of each member: (member index, its step).
TogetherProgress = Callable[[int, StepResult], None]


def load_points(member: Member) -> list[LoadPoint]:
    load = member.load
    if load.auto:
        raise ConfigError(
            f"measuring {member.model!r} together with other models needs fixed load points: "
            "concurrency='auto' ramps each model on its own"
        )
    if load.request_rate:
        return [LoadPoint(rate=r) for r in load.request_rate]
    return [LoadPoint(concurrency=c) for c in load.concurrency]


def measure_together(
    endpoints: Endpoints,
    members: Sequence[Member],
    *,
    is_alive: Callable[[], bool] | None = None,
    progress: TogetherProgress | None = None,
    step_lock: StepLock | None = None,
    gpus: str = "all",
) -> list[Measurement]:
    """Each member's measurement, in the members' order (module docstring)."""
    if len(members) < 2:
        raise ConfigError("measure_together needs at least two models")
    if len({m.model for m in members}) != len(members):
        raise ConfigError("measure_together: each model once (one load each)")
    points = [load_points(m) for m in members]
    if len({len(p) for p in points}) != 1:
        shown = ", ".join(f"{m.model}: {len(p)}" for m, p in zip(members, points, strict=True))
        raise ConfigError(
            f"measure_together runs step i of every model at once, so each needs as many load "
            f"points ({shown})"
        )
    for member in members:
        validate_load_spec(member.load)
    alive = is_alive if is_alive is not None else (lambda: server_reads.server_live(endpoints.http))
    names = frozenset(m.model for m in members)
    observers = [
        Observer(endpoints, m.model, m.version, others_measured=names, gpus=gpus) for m in members
    ]
    drivers: list[Driver] = []
    started = time.monotonic()
    steps: list[list[StepResult]] = [[] for _ in members]
    # The threads live as long as the drivers: a load process dies with the thread that
    # started it (PR_SET_PDEATHSIG), so one per step would kill the next step's processes.
    with ThreadPoolExecutor(max_workers=len(members)) as threads:
        try:
            for member, observer in zip(members, observers, strict=True):
                drivers.append(
                    make_driver(
                        endpoints, member.model, member.version, member.load, observer, alive
                    )
                )
            settings = [
                replace(StepSettings.from_load(m.load, m.slo), until_stable=False) for m in members
            ]
            for i in range(len(points[0])):
                with step_lock.held() if step_lock is not None else nullcontext():
                    done = _run_at_once(threads, drivers, [p[i] for p in points], settings)
                for j, step in enumerate(done):
                    steps[j].append(step)
                    if progress is not None:
                        progress(j, step)
        finally:
            for driver in drivers:
                driver.close()
            for observer in observers:
                observer.close()
    elapsed = time.monotonic() - started
    others = ", ".join(sorted(names))
    return [
        Measurement(
            model=member.model,
            version=member.version,
            steps=tuple(member_steps),
            duration_s=elapsed,
            notes=tuple(dict.fromkeys(driver.notes)),
            extra={"driver": driver.name, "measured_together": others},
        )
        for member, member_steps, driver in zip(members, steps, drivers, strict=True)
    ]


def _run_at_once(
    threads: ThreadPoolExecutor,
    drivers: Sequence[Driver],
    points: Sequence[LoadPoint],
    settings: Sequence[StepSettings],
) -> list[StepResult]:
    """One step of every driver at the same time; the first failure is raised once all have
    ended (a failed model's neighbours finish their step rather than be cut off)."""
    futures = [
        threads.submit(driver.run_step, point, step_settings)
        for driver, point, step_settings in zip(drivers, points, settings, strict=True)
    ]
    wait(futures)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]
