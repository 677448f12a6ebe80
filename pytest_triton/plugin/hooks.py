"""pytest hooks: validate markers at collection, judge measurements after each test, summarise."""

from __future__ import annotations

import warnings
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from pytest_triton.errors import ConfigError, TritonTestError

from .fixtures import HANDLE_KEY
from .marker_docs import MARKERS, register_markers
from .options import get_option, validate_all
from .outcomes import TRITON_TEST_PROPERTY, OutcomeRecorder, reported
from .state import SESSION_KEY, SPECS_KEY, STATE_KEY, SessionState
from .xdist_channel import ControllerReceiver, is_worker, send_to_controller

XDIST_RECEIVER = "triton-xdist-receiver"

if TYPE_CHECKING:
    from pytest_triton.record import MeasurementRecord


class TritonUnstableWarning(UserWarning):
    """A measured step did not stabilise; its figures are reported but less certain."""


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    validate_all(config)
    state = config.stash[STATE_KEY] = SessionState()
    config.pluginmanager.register(OutcomeRecorder(state), "triton-outcomes")
    if not is_worker(config):
        config.pluginmanager.register(ControllerReceiver(config), XDIST_RECEIVER)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Validate every test's triton markers before anything starts; report all problems at once."""
    marked = [i for i in items if any(i.get_closest_marker(name) for name in MARKERS)]
    _validate_markers(config, marked)
    for item in items:
        if "triton" in getattr(item, "fixturenames", ()):
            # travels with every report of the test, so the outcome recorder knows it, in a
            # pytest-xdist controller (which collects nothing) too
            item.user_properties.append((TRITON_TEST_PROPERTY, True))


def _validate_markers(config: pytest.Config, marked: list[pytest.Item]) -> None:
    if not marked:
        return
    from .loadspec import build_load_spec, option_defaults
    from .markers import specs_for

    problems: list[str] = []
    load_timeout = get_option(config, "triton_load_timeout")
    defaults = option_defaults(config)
    for item in marked:
        try:
            specs = specs_for(item, load_timeout)
            # Nonsense load settings (stop < start, rate and concurrency...) fail here, not
            # minutes later when the test measures.
            try:
                build_load_spec(defaults, specs.load_overrides)
            except ConfigError as exc:
                raise ConfigError(f"{item.nodeid}: {exc}") from None
            item.stash[SPECS_KEY] = specs
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        # A marked test measures through the `triton` fixture even if it does not name it.
        fixturenames = getattr(item, "fixturenames", None)
        if fixturenames is not None and "triton" not in fixturenames:
            fixturenames.append("triton")
    if problems:
        raise pytest.UsageError("invalid pytest-triton markers:\n  " + "\n  ".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After the test body returns, judge what it measured: whether the model served, its
    SLO, then every pytest_triton_judge implementation (the baseline gate); a test fails once,
    with every reason, and a breach fails this test only."""
    result = yield
    handle = item.stash.get(HANDLE_KEY, None)
    specs = item.stash.get(SPECS_KEY, None)
    if handle is None:
        return result
    if specs is not None and specs.slo is not None and not handle.records:
        pytest.fail(
            "test declares @pytest.mark.triton_slo but never called triton.measure(), "
            "so nothing was checked",
            pytrace=False,
        )
    if specs is not None and specs.search is not None and not any(r.search for r in handle.records):
        pytest.fail(
            "test declares @pytest.mark.triton_search but never called triton.search(), "
            "so nothing was searched",
            pytrace=False,
        )
    for record in handle.records:
        _judge_serving(record)
        if record.search is not None:
            _judge_search(record)
    if handle.records:
        item.ihook.pytest_triton_judge(item=item, records=handle.records)
    item.user_properties.extend(junit_properties(handle.records))
    item.config.stash[STATE_KEY].results.extend(handle.records)
    failures = [f for r in handle.records for f in r.failures]
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
    return result


def junit_properties(records: list[MeasurementRecord]) -> list[tuple[str, str]]:
    """Each measured step's key figures, for JUnit XML's <properties> (CI test views show
    them): 'triton tiny c4 p50_ms' -> '1.234'."""
    out: list[tuple[str, str]] = []
    for record in records:
        for step in record.measurement.steps:
            if step.probe:
                continue
            head = f"triton {record.key} {step.load_point}"
            out.append((f"{head} throughput", f"{step.throughput:.4g}"))
            out.append((f"{head} p50_ms", f"{step.p50_ms:.4g}"))
            out.append((f"{head} p99_ms", f"{step.p99_ms:.4g}"))
            if step.stream is not None:
                out.append((f"{head} ttft_p50_ms", f"{step.stream.ttft_p50_ms:.4g}"))
                out.append((f"{head} itl_p50_ms", f"{step.stream.itl_p50_ms:.4g}"))
                out.append(
                    (f"{head} output_tokens_per_s", f"{step.stream.output_tokens_per_s:.4g}")
                )
    return out


def _judge_serving(record: MeasurementRecord) -> None:
    """Whether the model served at every step, and met its SLO."""
    from pytest_triton.judge import served
    from pytest_triton.judge.slo import check_slo

    if record.slo is not None and not record.slo.is_empty():
        record.slo_check = check_slo(record.measurement, record.slo, ramp=record.load.auto)
    unserved = served.unserved(record.measurement, record.slo)
    if unserved:
        record.fail("model did not serve", served.render(record.model.name, unserved))
    if record.slo_check is not None and not record.slo_check.passed:
        record.fail("SLO not met", record.slo_check.render())
    unstable = [s for s in record.measurement.steps if not s.stable]
    if unstable:
        from pytest_triton.judge.unstable import likely_cause

        # Never used silently: the note reaches the summary and reports, the warning the
        # warnings summary. Not a failure by itself: on a busy CI box that would cry wolf.
        causes = "; ".join(dict.fromkeys(c for s in unstable if (c := likely_cause(s))))
        advice = (
            f"likely: {causes}" if causes else "raise --triton-window or the stability percentage"
        )
        note = (
            f"step(s) {', '.join(s.load_point for s in unstable)} of {record.model.name!r} did "
            f"not stabilise within the trial limit; its numbers are less certain ({advice})"
        )
        record.notes.append(note)
        warnings.warn(TritonUnstableWarning(note), stacklevel=1)


def _judge_search(record: MeasurementRecord) -> None:
    """The search's own gates: some config met the SLO, and the committed config is within
    max_gap_to_best of the best (the reports show the ranked table either way)."""
    from pytest_triton.search import gates

    result = record.search
    assert result is not None
    none = gates.no_winner(result)
    if none is not None:
        record.fail("search: no config met the SLO", none)
    better = gates.gap(result, record.slo)
    if better is not None:
        record.fail("search: a better config exists", better)
    record.notes.append(gates.summary(result, record.slo))


def pytest_exception_interact(
    node: pytest.Item | pytest.Collector, call: pytest.CallInfo[object], report: pytest.TestReport
) -> None:
    """Our own errors are user-facing messages: drop the traceback into our internals."""
    if call.excinfo is not None and isinstance(call.excinfo.value, TritonTestError):
        report.longrepr = f"{call.excinfo.typename}: {call.excinfo.value}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the requested report files (also when tests failed: that is when they matter)."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    if is_worker(session.config):
        # a pytest-xdist worker: the controller writes the reports, once, from what it sends
        bsession = session.config.stash.get(SESSION_KEY, None)
        lines = [line for g in bsession.gates for line in g.summary_lines()] if bsession else []
        send_to_controller(session.config, lines)
        return
    from pytest_triton.report.files import report_targets, write_reports

    targets = report_targets(lambda name: get_option(session.config, name))
    state.reports_written, state.report_errors = write_reports(
        reported(state), state.server, targets
    )
    if state.report_errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE_KEY, None)
    if not state or not (state.entries or state.reports_written or state.report_errors):
        return
    from pytest_triton.report.terminal import summary_lines

    receiver = terminalreporter.config.pluginmanager.get_plugin(XDIST_RECEIVER)
    if receiver is not None and receiver.baseline_lines:
        terminalreporter.write_sep("=", "triton baselines (from the pytest-xdist workers)")
        for line in receiver.baseline_lines:
            terminalreporter.write_line(line, red=line.startswith("FAIL"))
    terminalreporter.write_sep("=", "triton performance")
    for line in summary_lines(reported(state)):
        terminalreporter.write_line(line)
    for path in state.reports_written:
        terminalreporter.write_line(f"report written: {path}")
    for error in state.report_errors:
        terminalreporter.write_line(f"ERROR report not written: {error}", red=True)
