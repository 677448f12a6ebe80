"""The `triton` fixture's value: what a test uses to load models and measure them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from pytest_triton.errors import ConfigError, MeasurementError, ServerDiedError
from pytest_triton.interrupt import measuring, stop_point
from pytest_triton.record import MeasurementRecord, Paired, measurement_key
from pytest_triton.result import Measurement, StepResult
from pytest_triton.server.base import Endpoints, Server
from pytest_triton.server.models import effective_config
from pytest_triton.spec import SLO, LoadSettings, LoadSpec, ModelSpec

from .loadspec import build_load_spec

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from pytest_triton.baseline.build import BaselineBuild, BuildPair
    from pytest_triton.load.step_lock import StepLock
    from pytest_triton.search.result import SearchResult
    from pytest_triton.search.settings import SearchSettings
    from pytest_triton.search.strategy import Trial
    from pytest_triton.server.models import ModelController

    from .models_cache import ModelCache


class Triton:
    """Per-test access to the session's server.

    `measure()` loads the model of @triton_model (or the one named), applies the layered load
    settings and records the Measurement; the plugin judges it against @triton_slo (and the
    stored baseline) when the test body returns. Other plugins see each measurement start and
    each step through the hooks of hookspecs.py.
    """

    def __init__(
        self,
        item: pytest.Item,
        server: Server,
        models: ModelCache,
        model: ModelSpec | None,
        slo: SLO | None,
        load_layers: tuple[Mapping[str, Any], ...],
        progress: Callable[[StepResult], None] | None = None,
        build: BaselineBuild | None = None,
        search: Mapping[str, Any] | None = None,
        say: Callable[[str], None] | None = None,
        step_lock: StepLock | None = None,
        gpus: str = "all",
    ) -> None:
        self._item = item
        self.server = server
        self._models = models
        self._model = model
        self.slo = slo
        self._load_layers = load_layers
        self._progress = progress
        self.records: list[MeasurementRecord] = []
        # --triton-baseline-build: a model both builds have is measured as their two copies.
        self._build = build
        self._search = search  # @triton_search's arguments
        self._say = say  # a live line in the terminal
        self._from_checkpoint: set[int] = set()  # search points reused by --triton-resume
        self._step_lock = step_lock  # pytest-xdist workers take turns to measure a step
        self._gpus = gpus  # the server's GPUs: what NVML readings are of

    @property
    def endpoints(self) -> Endpoints:
        return self.server.endpoints

    @property
    def controller(self) -> ModelController:
        """Loads and unloads models on the session's server."""
        return self._models.controller

    @property
    def model(self) -> ModelSpec | None:
        return self._model

    def prepare(self) -> None:
        """Load the @triton_model model before the test body, so that a load failure is a
        setup error and load time is never measured; when paired, both builds' copies instead."""
        if self._model is not None and self._build_pair(self._model) is None:
            self._models.ensure(self._model)

    def load_model(self, name: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Load (or reuse) a model with an optional config override; returns its config."""
        return self._models.ensure(ModelSpec(name=name, config=dict(config or {})))

    def measure(self, model: str | None = None, **load: Unpack[LoadSettings]) -> Measurement:
        """Measure a model at the configured load points; `load` overrides any LoadSpec field."""
        spec = self._model_spec(model)
        load_spec = build_load_spec(*self._load_layers, load)
        pair = self._build_pair(spec)
        key = self._next_key(spec.name)
        sized: LoadSpec | None = self._item.ihook.pytest_triton_load_spec(
            item=self._item, key=key, model=spec, load=load_spec, paired=pair is not None
        )
        if sized is not None:
            from pytest_triton.load.points import validate_load_spec

            validate_load_spec(sized)
            load_spec = sized
        # The current build's copy is the model measured when paired; the repository's
        # `<model>` is not loaded beside it: a third copy of a large model may not fit.
        effective = pair.current.config if pair is not None else self._models.ensure(spec)
        reused: Measurement | None = self._item.ihook.pytest_triton_measure_start(
            item=self._item,
            key=key,
            model=spec,
            load=load_spec,
            slo=self.slo,
            effective_config=effective,
            reusable=pair is None,
        )
        paired = None
        if reused is not None:
            measurement = reused
        elif pair is not None:
            measurement, paired = self._measure_paired(spec, load_spec, pair)
        else:
            measurement = self._measure_model(spec, load_spec)
        record = MeasurementRecord(
            self._item.nodeid,
            key,
            measurement,
            spec,
            load_spec,
            self.slo,
            effective,
            paired=paired,
            reused=reused is not None,
        )
        self.records.append(record)
        return record.measurement

    def measure_together(self, models: Mapping[str, Mapping[str, Any]]) -> dict[str, Measurement]:
        """Measure several models at once (load/together.py): `models` maps each model's name
        to its load settings, and optionally its own "slo" (the SLO marker's arguments;
        default: the test's @triton_slo). Each model's measurement is recorded, judged and
        baselined as if measured alone; step i of every model runs at the same time."""
        from pytest_triton.load.together import Member, measure_together

        from .markers import slo_from

        members: list[Member] = []
        specs: list[tuple[ModelSpec, str, dict[str, Any]]] = []
        for name, settings in models.items():
            spec = self._model_spec(name)
            if self._build_pair(spec) is not None:
                raise ConfigError(
                    "measure_together is not paired with --triton-baseline-build: measure the "
                    "models on their own to compare builds"
                )
            load = {k: v for k, v in settings.items() if k != "slo"}
            slo = (
                slo_from(settings["slo"], f"measure_together {name!r} slo")
                if "slo" in settings
                else self.slo
            )
            members.append(
                Member(spec.name, spec.version, build_load_spec(*self._load_layers, load), slo)
            )
            specs.append((spec, self._next_key(spec.name), self._models.ensure(spec)))
        with self._server_death(), measuring():
            measured = measure_together(
                self.server.endpoints,
                members,
                is_alive=self.server.is_alive,
                progress=lambda _, step: self._on_step(step),
                step_lock=self._step_lock,
                gpus=self._gpus,
            )
        out: dict[str, Measurement] = {}
        for member, (spec, key, effective), measurement in zip(
            members, specs, measured, strict=True
        ):
            self.records.append(
                MeasurementRecord(
                    self._item.nodeid, key, measurement, spec, member.load, member.slo, effective
                )
            )
            out[spec.name] = measurement
        return out

    def search(self, model: str | None = None, **arguments: Any) -> SearchResult:
        """Search configs of a model (search/): @triton_search's arguments, overridden by
        `arguments` (the same names). Each config is loaded through the load request's config
        override and measured like measure() does; the result ranks them, and the winner's
        measurement is the test's record (judged against the SLO, stored as its baseline)."""
        from pytest_triton.search.run import search
        from pytest_triton.search.settings import search_settings

        settings = search_settings({**(self._search or {}), **arguments}, "triton.search()")
        spec = self._model_spec(model)
        base = self._models.ensure(spec)
        load_spec = self._search_load(settings)

        def measure_point(
            index: int,
            override: Mapping[str, Any],
            batch_size: int | None,
            look: bool,
            probes: Sequence[StepResult],
        ) -> Measurement:
            return self._measure_config(spec, index, override, batch_size, load_spec, look, probes)

        def progress(trial: Trial, total: int) -> None:
            if self._say is not None:
                reused = " (from the checkpoint)" if trial.index in self._from_checkpoint else ""
                self._say(_trial_line(trial, total) + reused)

        can_look = load_spec.auto and not load_spec.request_rate
        result = search(settings, spec.name, base, self.slo, measure_point, progress, can_look)
        chosen = result.closest
        if chosen is None or chosen.trial.measurement is None:
            from pytest_triton.search.table import render

            raise MeasurementError(
                f"no config of the search of {spec.name!r} could be measured:\n"
                + "\n".join(render(result))
            )
        point = chosen.trial.point
        config = {**spec.config, **point["config"]}
        record = MeasurementRecord(
            self._item.nodeid,
            self._next_key(spec.name),
            chosen.trial.measurement,
            replace(spec, config=config),
            _with_batch(load_spec, point["batch_size"]),
            self.slo,
            effective_config(base, point["config"], spec.name),
            search=result,
        )
        self.records.append(record)
        return result

    def _next_key(self, model: str) -> str:
        """The key of the test's next record of `model` (record.measurement_key)."""
        return measurement_key(model, 1 + sum(r.model.name == model for r in self.records))

    def _search_load(self, settings: SearchSettings) -> LoadSpec:
        """The load each config is measured at: the search's parameters, else the test's own
        load, else (no load point given anywhere) the auto ramp, as Model Analyzer sweeps
        concurrency by default."""
        given = any(
            layer.get(k) is not None
            for layer in self._load_layers
            for k in ("concurrency", "request_rate")
        )
        extra: dict[str, Any] = {}
        if settings.load.concurrency:
            extra["concurrency"] = list(settings.load.concurrency)
        elif settings.load.request_rate:
            extra["request_rate"] = list(settings.load.request_rate)
        elif not given:
            extra["concurrency"] = "auto"
        return build_load_spec(*self._load_layers, extra)

    def _measure_config(
        self,
        spec: ModelSpec,
        index: int,
        override: Mapping[str, Any],
        batch_size: int | None,
        load_spec: LoadSpec,
        look: bool = False,
        probes: Sequence[StepResult] = (),
    ) -> Measurement:
        """One config of a search: loaded through the config override, then measured (from
        `probes`, a look's, when given) or only looked at (its probe ramp), and checkpointed at
        once (pytest_triton_measured): a killed search resumes after it."""
        from pytest_triton.errors import ModelLoadError
        from pytest_triton.search.run import ConfigSkipped

        candidate = replace(spec, config={**spec.config, **override})
        load = _with_batch(load_spec, batch_size)
        try:
            effective = self._models.ensure(candidate)
        except ModelLoadError as exc:
            # Triton's own words, without the server log the error carries for a test failure
            raise ConfigSkipped(f"load failed: {str(exc).splitlines()[0]}") from None
        key = f"{spec.name} {'look' if look else 'search'} {index + 1}"
        reused: Measurement | None = self._item.ihook.pytest_triton_measure_start(
            item=self._item,
            key=key,
            model=candidate,
            load=load,
            slo=self.slo,
            effective_config=effective,
            reusable=True,
        )
        if reused is not None:
            self._from_checkpoint.add(index)
            return reused
        try:
            measured = self._measure_model(spec, load, probes_only=look, probes=probes)
        except MeasurementError as exc:
            raise ConfigSkipped(f"not measured: {exc}") from None
        record = MeasurementRecord(
            self._item.nodeid, key, measured, candidate, load, self.slo, effective
        )
        self._item.ihook.pytest_triton_measured(item=self._item, record=record)
        return measured

    def _measure_model(
        self,
        spec: ModelSpec,
        load: LoadSpec,
        probes_only: bool = False,
        probes: Sequence[StepResult] = (),
    ) -> Measurement:
        """The model as loaded now, measured by the engine, its steps reported live."""
        from pytest_triton.load.engine import measure

        with self._server_death(), measuring():
            return measure(
                self.server.endpoints,
                spec.name,
                spec.version,
                load,
                self.slo,
                is_alive=self.server.is_alive,
                progress=self._on_step,
                probes_only=probes_only,
                probes=probes,
                step_lock=self._step_lock,
                gpus=self._gpus,
            )

    def _measure_paired(
        self, spec: ModelSpec, load_spec: LoadSpec, pair: BuildPair
    ) -> tuple[Measurement, Paired]:
        """Current and baseline build in turn (load/paired.py), each from its files."""
        from pytest_triton.load.engine import measure_paired

        with self._server_death(), measuring():
            measured = measure_paired(
                self.server.endpoints,
                pair.current.name,
                pair.baseline.name,
                spec.version,
                load_spec,
                self.slo,
                is_alive=self.server.is_alive,
                progress=self._on_step,
                step_lock=self._step_lock,
                gpus=self._gpus,
            )
        # The test measured its model: reports and baselines name it, not the served copy.
        current = replace(measured.current, model=spec.name)
        return current, Paired(measured.baseline, pair.baseline, measured.pairs)

    @contextmanager
    def _server_death(self) -> Iterator[None]:
        """The engine notices a dead server within a poll; say how it ended, with its log."""
        try:
            yield
        except ServerDiedError as exc:
            if exc.log_tail:
                raise
            raise ServerDiedError(
                f"{exc} (it {self.server.exit_reason()})", self.server.log_tail()
            ) from None

    def _build_pair(self, spec: ModelSpec) -> BuildPair | None:
        """Both builds' copies of `spec`, loaded (once per override), or None when unpaired."""
        if self._build is None or not self._build.has(spec.name):
            return None
        return self._build.load(self.controller, spec)

    def _on_step(self, step: StepResult) -> None:
        if self._progress is not None:
            self._progress(step)
        self._item.ihook.pytest_triton_step(item=self._item, step=step)
        stop_point()  # a Ctrl-C during the step: it is measured and saved, stop now

    def _model_spec(self, name: str | None) -> ModelSpec:
        if name is None:
            if self._model is None:
                raise ConfigError(
                    "triton.measure() needs a model: pass its name or mark the test with "
                    "@pytest.mark.triton_model('name')"
                )
            return self._model
        if self._model is not None and self._model.name == name:
            return self._model
        return ModelSpec(name=name)


def _with_batch(load: LoadSpec, batch_size: int | None) -> LoadSpec:
    return load if batch_size is None else replace(load, batch_size=batch_size)


def _trial_line(trial: Trial, total: int) -> str:
    """A live line per config of a search."""
    from pytest_triton.search.fragment import describe_point

    head = f"  [triton] search {trial.index + 1}/{total}: {describe_point(trial.point)}"
    measured = trial.measurement or trial.look
    if measured is None:
        return f"{head}: skipped ({trial.skipped})"
    best = measured.best
    seen = "looked at (probes): " if trial.measurement is None else ""
    return (
        f"{head}: {seen}{best.throughput:.1f} infer/s at {best.load_point}, "
        f"p99 {best.p99_ms:.2f} ms"
    )
