"""pytest glue of the baseline gate: collection, judging, Ctrl-C and the summary.

Its options and marker are in baseline_settings.py. Registered from plugin.py through
`pytest_plugins`, it sees measurements through pytest-triton's own hooks (hookspecs.py): each
start (resume from a checkpoint), each step (saved on Ctrl-C) and each test's records after
their SLO was judged (update mode must know), to which it adds its verdicts.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_triton import __version__
from pytest_triton.errors import BaselineError, ConfigError

from .baseline_settings import (
    BASELINE_OPTIONS,
    MARKER,
    checkpoint_dir,
    gate_settings,
    gpu_selection,
    marker_args,
)
from .fixtures import HANDLE_KEY
from .marker_docs import MARKERS as TRITON_MARKERS
from .options import add_options, get_option
from .state import SESSION_KEY
from .stopping import INTERRUPT_KEY, announce, install_interrupt, uninstall_interrupt

if TYPE_CHECKING:
    # The baseline core loads when a session has triton tests (see _session), so that a suite
    # without any pays nothing for it at start-up.
    from pytest_triton.baseline.build import BaselineBuild
    from pytest_triton.baseline.gate import GateSettings
    from pytest_triton.baseline.session import BaselineSession
    from pytest_triton.record import MeasurementRecord
    from pytest_triton.result import Measurement, StepResult
    from pytest_triton.server.base import Server, ServerIdentity
    from pytest_triton.spec import SLO, LoadSpec, ModelSpec

_TESTS_KEY = pytest.StashKey[dict[str, str]]()  # known test ids -> module path (orphans)
_MARKER_KEY = pytest.StashKey[dict[str, Any]]()
_IDENTITY_KEY = pytest.StashKey["dict[int, ServerIdentity]"]()


def _identity(config: pytest.Config, server: Server) -> ServerIdentity:
    """Asked once per server: a local server hashes its binary to answer."""
    cache = config.stash.setdefault(_IDENTITY_KEY, {})
    if id(server) not in cache:
        cache[id(server)] = server.identity()
    return cache[id(server)]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, BASELINE_OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    if get_option(config, "triton_resume") and checkpoint_dir(config) is None:
        raise pytest.UsageError("--triton-resume needs checkpoints; triton_checkpoint_dir is off")
    config.stash[_TESTS_KEY] = {}


def _session(config: pytest.Config) -> BaselineSession:
    """The session's baseline state, built (and its settings validated) on first need."""
    bsession = config.stash.get(SESSION_KEY, None)
    if bsession is None:
        from pytest_triton.baseline.calibration import CalibrationStore
        from pytest_triton.baseline.session import BaselineSession
        from pytest_triton.baseline.store import BaselineStore

        root = get_option(config, "triton_baseline_dir") or config.rootpath / "triton-baselines"
        calibration_root = (
            get_option(config, "triton_calibration_dir") or config.rootpath / "triton-calibration"
        )
        settings = gate_settings(config)
        calibrating = bool(get_option(config, "triton_calibrate"))
        bsession = BaselineSession(
            settings,
            BaselineStore(Path(root), config.rootpath),
            None,  # opened at collection, only when there are triton tests
            get_option(config, "triton_model_repository"),
            gpu_selection=gpu_selection(config),
            plugin_version=__version__,
            build=_baseline_build(config, settings, calibrating),
            calibration=CalibrationStore(Path(calibration_root)),
            calibrating=calibrating,
            size_from_calibration=bool(get_option(config, "triton_size_measurement")),
        )
        config.stash[SESSION_KEY] = bsession
    return bsession


def _baseline_build(
    config: pytest.Config, settings: GateSettings, calibrating: bool
) -> BaselineBuild | None:
    from pytest_triton.baseline.build import BaselineBuild
    from pytest_triton.baseline.gate import Mode

    path = get_option(config, "triton_baseline_build")
    current = get_option(config, "triton_model_repository")
    if calibrating:
        if path is not None or settings.mode is not Mode.COMPARE:
            raise pytest.UsageError(
                "--triton-calibrate measures identical copies of the current models; it has "
                "no use with --triton-baseline-build or --triton-baseline=update (drop one)"
            )
        if current is None or not Path(current).is_dir():
            raise pytest.UsageError(
                "--triton-calibrate loads identical copies of each model from its files: "
                "give the model repository with --triton-model-repository"
            )
        return BaselineBuild(Path(current), Path(current))  # the current build against itself
    if path is None:
        return None
    if settings.mode is not Mode.COMPARE:
        raise pytest.UsageError(
            f"--triton-baseline-build compares with another build; it has no use with "
            f"--triton-baseline={settings.mode.value} (drop one of them)"
        )
    try:
        return BaselineBuild(Path(path), Path(current) if current is not None else None)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _is_triton_test(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) for m in TRITON_MARKERS) or "triton" in getattr(
        item, "fixturenames", ()
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Validate @triton_baseline and give every triton test its own file before measuring."""
    known = config.stash[_TESTS_KEY]
    problems: list[str] = []
    triton_items: list[pytest.Item] = []
    for item in items:
        known[item.nodeid] = item.nodeid.partition("::")[0]
        if _is_triton_test(item):
            triton_items.append(item)
        elif item.get_closest_marker("triton_baseline"):
            problems.append(f"{item.nodeid}: @triton_baseline on a test that measures nothing")
    if problems or not triton_items:
        _raise_problems(problems)
        return
    from pytest_triton.baseline.gate import Mode

    bsession = _session(config)
    for item in triton_items:
        try:
            args = marker_args(item)
            item.stash[_MARKER_KEY] = args
            if bsession.settings.mode is not Mode.OFF:
                bsession.store.claim(item.nodeid, args.get("name"))
        except (ConfigError, BaselineError) as exc:
            problems.append(f"{item.nodeid}: {exc}")
    _raise_problems(problems)
    _open(config, bsession)


def _raise_problems(problems: list[str]) -> None:
    if problems:
        raise pytest.UsageError("pytest-triton baselines:\n  " + "\n  ".join(problems))


def _open(config: pytest.Config, bsession: BaselineSession) -> None:
    """Checkpoints and the update-mode write check happen before any measurement, so a
    read-only directory or a corrupt checkpoint costs seconds, not a whole run."""
    from pytest_triton.baseline.checkpoint import Checkpoints
    from pytest_triton.baseline.gate import Mode

    try:
        if bsession.settings.mode is Mode.UPDATE:
            bsession.store.check_writable()
        directory = checkpoint_dir(config)
        if directory is not None and bsession.checkpoints is None:
            bsession.checkpoints = Checkpoints(
                directory,
                resume=bool(get_option(config, "triton_resume")),
                keep=int(get_option(config, "triton_keep_checkpoints")),
            )
    except BaselineError as exc:
        raise pytest.UsageError(str(exc)) from None
    install_interrupt(config)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Deselected tests (-k, -m) still exist: their baselines are not orphans."""
    for item in items:
        known = item.config.stash.get(_TESTS_KEY, None)
        if known is not None:
            known[item.nodeid] = item.nodeid.partition("::")[0]


def pytest_triton_measure_start(
    item: pytest.Item,
    key: str,
    model: ModelSpec,
    load: LoadSpec,
    slo: SLO | None,
    effective_config: Mapping[str, Any],
    reusable: bool,
) -> Measurement | None:
    """Resume: a checkpointed measurement to reuse; otherwise note it in flight, so that a
    Ctrl-C can save its steps."""
    bsession = item.config.stash.get(SESSION_KEY, None)
    if bsession is None:
        return None
    server = item.stash[HANDLE_KEY].server
    return bsession.before_measure(
        item.nodeid,
        key,
        _identity(item.config, server),
        model,
        load,
        slo,
        effective_config,
        reusable=reusable,
    )


def pytest_triton_load_spec(
    item: pytest.Item, key: str, model: ModelSpec, load: LoadSpec, paired: bool
) -> LoadSpec | None:
    """--triton-size-measurement: as many windows or block pairs as the calibration says the
    test's tolerances need."""
    bsession = item.config.stash.get(SESSION_KEY, None)
    if bsession is None or bsession.calibrating:
        return None
    args = item.stash.get(_MARKER_KEY, {})
    return bsession.size(
        item.nodeid,
        key,
        _identity(item.config, item.stash[HANDLE_KEY].server),
        load,
        paired,
        tolerance_overrides=args.get("tolerance"),
        name=args.get("name"),
    )


def pytest_triton_measured(item: pytest.Item, record: MeasurementRecord) -> None:
    bsession = item.config.stash.get(SESSION_KEY, None)
    if bsession is not None and not bsession.calibrating:
        bsession.measured(_identity(item.config, item.stash[HANDLE_KEY].server), record)


def pytest_triton_step(item: pytest.Item, step: StepResult) -> None:
    bsession = item.config.stash.get(SESSION_KEY, None)
    if bsession is not None:
        bsession.on_step(step)  # saved before a Ctrl-C stops at the step


def pytest_triton_judge(item: pytest.Item, records: list[MeasurementRecord]) -> None:
    """Checkpoint the test's measurements and gate them against their baselines."""
    from pytest_triton.baseline.gate import Status
    from pytest_triton.judge.table import pct

    bsession = item.config.stash.get(SESSION_KEY, None)
    if bsession is None:
        return
    args = item.stash.get(_MARKER_KEY, {})
    if bsession.calibrating:
        server = _identity(item.config, item.stash[HANDLE_KEY].server)
        results = bsession.calibrate(item.nodeid, server, records, args.get("name"))
        for record, (message, failed) in zip(records, results, strict=True):
            if failed:
                record.fail("calibration error", message)
            else:
                record.notes.append(message)
        return
    gate = bsession.judge(
        item.nodeid,
        _identity(item.config, item.stash[HANDLE_KEY].server),
        records,
        tolerance_overrides=args.get("tolerance"),
        name=args.get("name"),
        required=args.get("required"),
    )
    for record, judgement in zip(records, gate.judgements, strict=True):
        sized = bsession.sizing_notes.pop(record.id, None)
        if sized is not None:
            record.notes.append(sized)
        if record.reused:
            record.notes.append("measurement reused from the checkpoint (--triton-resume)")
        if judgement.failed:
            regressed = judgement.status is Status.REGRESSED
            kind = "baseline regression" if regressed else f"baseline: {judgement.status.value}"
            record.fail(kind, judgement.message)
        elif judgement.verdict is not None:
            record.notes.append(f"baseline: {judgement.verdict.summary()}")
        if judgement.verdict is not None:
            record.baseline_rows = judgement.verdict.rows
            # the change of every gated row, beside the step figures in JUnit XML
            for row in judgement.verdict.rows:
                item.user_properties.append(
                    (f"triton {record.key} {row.name} change", f"{pct(row)} {row.outcome.value}")
                )
        elif judgement.message:
            record.notes.append(judgement.message)
    # A verdict table is worth a section of the test's report (-rP); a lone "no baseline" note
    # is in the session summary already.
    if gate.notes() and any(j.verdict is not None for j in gate.judgements):
        item.add_report_section("call", "triton baseline", "\n\n".join(gate.notes()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A Ctrl-C in a test saves the measurement it cut short, and stops the session there."""
    bsession = item.config.stash.get(SESSION_KEY, None)
    if bsession is None or HANDLE_KEY not in item.stash:
        return (yield)
    try:
        return (yield)
    except KeyboardInterrupt:
        path = bsession.save_interrupted()
        if path is not None:
            announce(
                item.config,
                f"pytest-triton: interrupted measurement saved to {bsession.store.show(path)}",
            )
        raise
    finally:
        interrupt = item.config.stash.get(INTERRUPT_KEY, None)
        if interrupt is not None and interrupt.requested:
            where = bsession.checkpoints.path if bsession.checkpoints else "nowhere (off)"
            item.session.shouldstop = f"pytest-triton: stopped by Ctrl-C; checkpoint: {where}"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Before fixtures are torn down: save a measurement a Ctrl-C cut short anywhere."""
    bsession = session.config.stash.get(SESSION_KEY, None)
    if bsession is not None and bsession.in_flight is not None:
        bsession.save_interrupted()
    uninstall_interrupt(session.config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every gated test, its verdict, orphaned baselines, and where the checkpoint is."""
    config = terminalreporter.config
    bsession = config.stash.get(SESSION_KEY, None)
    if bsession is None or (not bsession.gates and bsession.checkpoints is None):
        return
    from pytest_triton.baseline.gate import Mode

    mode = bsession.settings.mode
    lines: list[tuple[str, dict[str, bool]]] = []  # (line, its colour)
    for gate in bsession.gates:
        for line in gate.summary_lines():
            failed = line.startswith("FAIL")
            warned = line.lstrip().startswith("warning:")
            lines.append(
                (line, {"red": failed, "yellow": warned,
                        "green": not (failed or warned) and "compared" in line})
            )  # fmt: skip
    if mode is not Mode.OFF:
        known = config.stash.get(_TESTS_KEY, {})
        for orphan in bsession.store.orphans(known, set(known.values())):
            lines.append(
                (
                    f"orphaned baseline {bsession.store.show(orphan.path)} (test "
                    f"{orphan.test_id!r} no longer exists; kept: rename its 'test' field or "
                    "delete the file)",
                    {"yellow": True},
                )
            )
        for stored in bsession.store.scan():
            if stored.test_id is None:
                lines.append((f"unreadable baseline: {stored.error}", {"red": True}))
    checkpoints = bsession.checkpoints
    if checkpoints is not None and bsession.reused and checkpoints.loaded_from is not None:
        lines.append(
            (
                f"resumed from {bsession.store.show(checkpoints.loaded_from)}: "
                f"{len(bsession.reused)} measurement(s) reused",
                {},
            )
        )
    if checkpoints is not None and checkpoints.path.exists():
        lines.append((f"checkpoint: {bsession.store.show(checkpoints.path)}", {}))
    if not lines:
        return  # nothing to say: no empty section
    root = bsession.store.show(bsession.store.root)
    shown = "calibrate" if bsession.calibrating else mode.value
    terminalreporter.write_sep("=", f"triton baselines ({shown}, {root})")
    for line, colour in lines:
        terminalreporter.write_line(line, **colour)
