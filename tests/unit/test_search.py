"""Config search without a server: legality, the automatic space, objectives, brute and quick."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from baseline_factories import measurement_from_latencies

from pytest_triton.result import Measurement, StepResult
from pytest_triton.search import gates
from pytest_triton.search.automatic import AutoBounds, automatic_space
from pytest_triton.search.fragment import describe, pbtxt
from pytest_triton.search.legality import skip_reason
from pytest_triton.search.objectives import parse_objectives, score_all
from pytest_triton.search.run import ConfigSkipped, search
from pytest_triton.search.settings import search_settings
from pytest_triton.search.space import SearchSpaceError, expand_config
from pytest_triton.search.strategy import FINALISTS, Grid, Trial, run
from pytest_triton.search.table import render, rows
from pytest_triton.spec import SLO


def _step(concurrency: int, throughput: float, p99_ms: float, **metrics: float) -> StepResult:
    return StepResult(
        concurrency, None, (), True, throughput, p99_ms / 2, p99_ms / 2, p99_ms * 0.8,
        p99_ms * 0.9, p99_ms, int(throughput * 5), 0, metrics=dict(metrics),
    )  # fmt: skip


def _measured(*steps: StepResult) -> Measurement:
    return Measurement("m", None, steps, 10.0)


BATCHING = {"max_batch_size": 8, "instance_group": [{"kind": "KIND_CPU", "count": 1}]}


def test_combinations_triton_refuses_are_skipped_with_the_reason() -> None:
    no_batch = {"max_batch_size": 0}
    assert "cannot batch" in (skip_reason({"max_batch_size": 8}, no_batch) or "")
    assert "dynamic_batching needs max_batch_size > 0" in (
        skip_reason({"dynamic_batching": {}}, no_batch) or ""
    )
    both = {**BATCHING, "dynamic_batching": {}, "sequence_batching": {}}
    assert "exclude each other" in (skip_reason(both, BATCHING) or "")
    assert (
        skip_reason(BATCHING, BATCHING, batch_size=16) == "batch size 16 is above max_batch_size 8"
    )
    preferred = {**BATCHING, "dynamic_batching": {"preferred_batch_size": [4, 16]}}
    assert skip_reason(preferred, BATCHING) == "preferred_batch_size 16 is above max_batch_size 8"
    assert skip_reason({**BATCHING, "dynamic_batching": {}}, BATCHING, batch_size=8) is None


def test_the_automatic_space_batches_only_a_model_that_can() -> None:
    space = automatic_space(BATCHING, AutoBounds(max_instances=3, min_batch=2, max_batch=8))
    assert len(space) == 3 * 3  # counts 1..3 x max_batch_size 2, 4, 8
    assert {c["max_batch_size"] for c in space} == {2, 4, 8}
    assert all(c["dynamic_batching"] == {} for c in space)
    unbatched = automatic_space({"max_batch_size": 0}, AutoBounds(max_instances=2))
    assert unbatched == [
        {"instance_group": [{"kind": "KIND_CPU", "count": 1}]},
        {"instance_group": [{"kind": "KIND_CPU", "count": 2}]},
    ]
    with pytest.raises(SearchSpaceError, match="max_instance_count 0 is below its minimum 1"):
        AutoBounds(max_instances=0)


def test_online_mode_ranks_by_throughput_within_the_latency_budget() -> None:
    fast_but_late = _measured(_step(1, 100, 5), _step(8, 900, 30))
    steady = _measured(_step(1, 100, 4), _step(8, 600, 9))
    late = _measured(_step(1, 80, 12))
    slo = SLO(p99_ms=10)
    throughput = parse_objectives(["perf_throughput"])
    a, b, c = score_all([fast_but_late, steady, late], slo, throughput)
    # within 10 ms the first reaches 100/s, the second 600/s
    assert b.score == 1.0 and a.score == pytest.approx(100 / 600)
    assert a.eligible and b.eligible and a.step is not None and a.step.concurrency == 1
    assert not c.eligible and c.broken == "p99 12.00 ms > 10 ms at c1"
    # offline (no latency bound): the most throughput wins
    a, b, _ = score_all([fast_but_late, steady, late], None, throughput)
    assert a.score == 1.0 and b.score == pytest.approx(600 / 900)
    # a minimum throughput makes a config ineligible when no step within bounds reaches it
    _, _, low = score_all([fast_but_late, steady, late], SLO(min_throughput=500), throughput)
    assert low.broken == "throughput 80/s < min 500/s within the bounds"


def test_weighted_objectives_and_model_analyzer_names() -> None:
    objectives = parse_objectives({"perf_throughput": 1, "perf_latency_p99": 3})
    assert dict(objectives.weights) == {"throughput": 1.0, "p99": 3.0}
    quick = _measured(_step(1, 500, 2))
    busy = _measured(_step(4, 1000, 8))
    a, b = score_all([quick, busy], None, objectives)
    assert a.score == pytest.approx((1 * 0.5 + 3 * 1.0) / 4)
    assert b.score == pytest.approx((1 * 1.0 + 3 * 0.25) / 4)
    with pytest.raises(SearchSpaceError, match="unknown objective 'latency'"):
        parse_objectives(["latency"])
    with pytest.raises(SearchSpaceError, match="weight of p99 must be a positive number"):
        parse_objectives({"p99": 0})
    assert parse_objectives(["gpu_used_memory"]).needs_gpu()


def _model(config: Mapping[str, Any]) -> float:
    """A made-up model: more instances help up to 3, batching helps with diminishing returns,
    and 5 instances of max_batch_size 8 is too late for the budget."""
    count = config["instance_group"][0]["count"]
    batch = config.get("max_batch_size", 1)
    return 100.0 * min(count, 3) * (1 + math.log2(batch)) - 20.0 * max(0, count - 3)


def _evaluate(log: list[int]):
    def evaluate(index: int, config: Mapping[str, Any]) -> Trial:
        log.append(index)
        if config["instance_group"][0]["count"] == 5 and config.get("max_batch_size") == 8:
            return Trial(index, config, skipped="load failed: out of memory")
        t = _model(config)
        return Trial(index, config, _measured(_step(4, t, 5.0)))

    return evaluate


def test_quick_finds_brutes_winner_measuring_a_fraction_of_the_space() -> None:
    configs = expand_config(
        {
            "max_batch_size": [1, 2, 4, 8],
            "instance_group": [{"kind": "KIND_CPU", "count": [1, 2, 3, 4, 5]}],
        }
    )
    objectives = parse_objectives(["throughput"])
    brute_log: list[int] = []
    brute = run("brute", configs, _evaluate(brute_log), None, objectives)
    assert brute_log == list(range(20))
    quick_log: list[int] = []
    quick = run("quick", configs, _evaluate(quick_log), None, objectives)

    def winner(trials: list[Trial]) -> Mapping[str, Any]:
        scored = score_all([t.measurement for t in trials], None, objectives)
        best = max(range(len(trials)), key=lambda i: (scored[i].eligible, scored[i].score))
        return trials[best].point

    assert (
        winner(quick)
        == winner(brute)
        == {
            "max_batch_size": 8,
            "instance_group": [{"kind": "KIND_CPU", "count": 3}],
        }
    )
    # the path to the corner it found is 5 steps long; it looks one step past each turn
    assert len(quick_log) <= 10 and len(quick_log) == len(set(quick_log))
    # it starts at the smallest config
    assert configs[quick_log[0]] == {
        "max_batch_size": 1,
        "instance_group": [{"kind": "KIND_CPU", "count": 1}],
    }


def _probe(concurrency: int, throughput: float, p99_ms: float) -> StepResult:
    return replace(_step(concurrency, throughput, p99_ms), stable=False, probe=True)


def test_quick_on_the_auto_ramp_climbs_on_looks_and_measures_only_the_best_looks() -> None:
    space = {
        "max_batch_size": [1, 2, 4, 8],
        "instance_group": [{"kind": "KIND_CPU", "count": [1, 2, 3, 4, 5]}],
    }
    configs = expand_config(space)
    looked: list[int] = []
    measured: list[int] = []
    started_from: dict[int, tuple[StepResult, ...]] = {}

    def measure(
        index: int,
        config: Mapping[str, Any],
        batch_size: int | None,
        look: bool,
        probes: Sequence[StepResult] = (),
    ) -> Measurement:
        (looked if look else measured).append(index)
        started_from[index] = tuple(probes)
        t = _model(config)
        if look:  # a look reads 10 % high, as short probes can: it never reaches the ranking
            return _measured(_probe(1, t * 0.3, 2.0), _probe(8, t * 1.1, 6.0))
        return _measured(_step(8, t, 6.0))

    result = search(
        search_settings({"space": space, "mode": "quick"}),
        "m",
        BATCHING,
        SLO(p99_ms=10),
        measure,
        can_look=True,
    )
    # the committed config (count 1, max_batch_size 8) is measured first, as always; the climb
    # looks at configs, and only the two best looks are measured to stability
    committed = configs.index(
        {"max_batch_size": 8, "instance_group": [{"kind": "KIND_CPU", "count": 1}]}
    )
    assert measured[0] == committed and len(measured) == 1 + FINALISTS
    # a finalist's ramp goes on from its look's probes instead of probing again
    finalists = [e.trial for e in result.entries if e.trial.index in measured[1:]]
    assert [started_from[t.index] for t in finalists] == [t.look.steps for t in finalists if t.look]
    assert len(finalists) == FINALISTS and started_from[committed] == ()
    assert 5 <= len(looked) <= 10 and len(set(looked)) == len(looked)
    winner = result.winner
    assert winner is not None and winner.trial.point["config"] == {
        "max_batch_size": 8,
        "instance_group": [{"kind": "KIND_CPU", "count": 3}],
    }
    assert winner.scored.step is not None and winner.scored.step.throughput == pytest.approx(1200)
    # looks rank after every measured config, their figures the probes' and said to be
    table = rows(result)
    assert [r.rank for r in table[:3]] == [1, 2, 3]
    looks = [r for r in table if r.status.startswith("looked at only")]
    assert len(looks) == len(set(looked) - set(measured)) and all(r.rank is None for r in looks)
    assert table.index(looks[0]) == 3 and looks[0].load_point == "c8"
    # without the auto ramp there are no probes to look at: every config it climbs is measured
    plain: list[int] = []

    def measure_all(
        index: int,
        config: Mapping[str, Any],
        batch_size: int | None,
        look: bool,
        probes: Sequence[StepResult] = (),
    ) -> Measurement:
        assert not look
        plain.append(index)
        return _measured(_step(8, _model(config), 6.0))

    search(search_settings({"space": space, "mode": "quick"}), "m", BATCHING, None, measure_all)
    assert len(plain) >= 5


def test_the_grid_orders_numbers_and_keeps_other_values_as_written() -> None:
    configs = expand_config(
        {
            "max_batch_size": [8, 2],
            "dynamic_batching": [{"max_queue_delay_microseconds": 500}, {}],
        }
    )
    grid = Grid(configs)
    # max_batch_size 2 with no queue delay (an absent field comes first) is the smallest
    assert configs[grid.start()] == {"max_batch_size": 2, "dynamic_batching": {}}
    assert sorted(grid.neighbours(grid.start())) == [1, 2]


# As Triton returns a config: every field spelled out, defaults included.
BASE = {
    "name": "m",
    "backend": "python",
    "max_batch_size": 0,
    "instance_group": [
        {"name": "m_0", "kind": "KIND_CPU", "count": 1, "gpus": [], "profile": [], "passive": False}
    ],
}


def _count(config: Mapping[str, Any]) -> int:
    groups = config.get("instance_group") or BASE["instance_group"]
    return int(groups[0]["count"])


def _fake_measure(
    index: int,
    config: Mapping[str, Any],
    batch_size: int | None,
    look: bool = False,
    probes: Sequence[StepResult] = (),
) -> Measurement:
    if _count(config) == 3:
        raise ConfigSkipped("load failed: Triton said 'out of memory'")
    return _measured(_step(4, 100.0 * _count(config), 5.0))


def test_a_search_ranks_the_space_and_states_the_winners_gain_over_the_committed_config() -> None:
    settings = search_settings(
        {
            "space": {
                "max_batch_size": [0, 8],
                "instance_group": [{"kind": "KIND_CPU", "count": [1, 2, 3]}],
                "parameters": {},
            }
        }
    )
    seen: list[tuple[int, str]] = []
    result = search(
        settings,
        "m",
        BASE,
        SLO(p99_ms=10),
        _fake_measure,
        lambda t, n: seen.append((t.index, t.skipped)),
    )
    winner = result.winner
    assert winner is not None and winner.trial.point["config"]["instance_group"][0]["count"] == 2
    # the committed config is the space's first point: measured once, not twice
    committed = result.committed
    assert committed is not None and committed.trial.index == 0
    assert len(seen) == len(result.entries) == 6
    assert result.gain() == pytest.approx(1.0)  # 200/s against 100/s
    skipped = {e.trial.skipped for e in result.entries if e.trial.skipped}
    assert skipped == {
        "load failed: Triton said 'out of memory'",
        "max_batch_size 8 on a model that cannot batch (its own config has max_batch_size 0: "
        "its inputs have no batch dimension)",
    }
    # ranked: the eligible first, then the skipped
    assert [e.measured for e in result.entries] == [True, True, False, False, False, False]


def test_a_committed_config_outside_the_space_is_measured_besides() -> None:
    settings = search_settings({"space": {"instance_group": [{"kind": "KIND_CPU", "count": [2]}]}})
    result = search(settings, "m", BASE, None, _fake_measure)
    committed = result.committed
    assert committed is not None and committed.trial.point == {"config": {}, "batch_size": None}
    assert result.measured == 2 and result.gain() == pytest.approx(1.0)


def test_when_no_config_meets_the_slo_there_is_no_winner_but_the_closest_is_named() -> None:
    settings = search_settings(
        {"space": {"instance_group": [{"kind": "KIND_CPU", "count": [1, 2]}]}}
    )
    result = search(settings, "m", BASE, SLO(p99_ms=1), _fake_measure)
    assert result.winner is None and result.gain() is None
    closest = result.closest
    assert closest is not None and closest.scored.broken == "p99 5.00 ms > 1 ms at c4"


def test_a_config_reads_as_a_line_and_as_a_config_pbtxt_fragment() -> None:
    override = {
        "max_batch_size": 8,
        "dynamic_batching": {},
        "instance_group": [{"kind": "KIND_CPU", "count": 2}],
    }
    assert describe(override) == (
        "max_batch_size 8, dynamic_batching on, instance_group kind KIND_CPU count 2"
    )
    assert describe({}) == "as committed"
    text = pbtxt(override)
    assert "max_batch_size: 8" in text
    assert "dynamic_batching {\n}" in text
    assert "instance_group {\n  count: 2\n  kind: KIND_CPU\n}" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spaces": {}}, r"unknown argument\(s\) spaces; valid: space, parameters"),
        ({"mode": "optuna"}, r"mode 'optuna': use one of brute, quick"),
        ({"max_gap_to_best": "10"}, r"max_gap_to_best: '10' is ambiguous; write '10%'"),
        ({"instance_kind": "KIND_TPU"}, r"instance_kind 'KIND_TPU'"),
        ({"max_instance_count": "3"}, r"max_instance_count must be a whole number"),
        ({"objectives": ["gpu"]}, r"objectives: unknown objective 'gpu'"),
        ({"space": {"max_batch_size": []}}, r"@triton_search space max_batch_size: an empty list"),
    ],
)
def test_bad_search_arguments_say_what_to_write(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message):
        search_settings(kwargs)


def test_search_arguments_become_settings() -> None:
    settings = search_settings(
        {"mode": "quick", "max_gap_to_best": "10%", "parameters": {"concurrency": "1,4"}}
    )
    assert settings.mode == "quick" and settings.max_gap_to_best == pytest.approx(0.10)
    assert settings.configs is None and settings.load.concurrency == (1, 4)


def test_a_better_config_than_the_committed_one_fails_with_the_fragment_to_paste() -> None:
    space = {"instance_group": [{"kind": "KIND_CPU", "count": [1, 2]}]}
    loose = search(
        search_settings({"space": space, "max_gap_to_best": "150%"}), "m", BASE, None, _fake_measure
    )
    assert gates.gap(loose, SLO(p99_ms=10)) is None  # +100 % is within 150 %
    tight = search(
        search_settings({"space": space, "max_gap_to_best": "10%"}),
        "m",
        BASE,
        SLO(p99_ms=10),
        _fake_measure,
    )
    message = gates.gap(tight, SLO(p99_ms=10))
    assert message is not None
    assert message.startswith(
        "a better config exists: instance_group kind KIND_CPU count 2: +100% throughput at "
        "p99 <= 10 ms than the committed config (max_gap_to_best 10%). In config.pbtxt:\n"
        "instance_group {\n  count: 2\n  kind: KIND_CPU\n}"
    )
    assert gates.summary(tight, SLO(p99_ms=10)).endswith(
        "best: instance_group kind KIND_CPU count 2 (+100% over the committed config)"
    )
    assert gates.no_winner(tight) is None


def test_the_table_ranks_eligible_configs_and_says_why_the_others_are_not() -> None:
    settings = search_settings(
        {
            "space": {
                "max_batch_size": [0, 8],
                "instance_group": [{"kind": "KIND_CPU", "count": [1, 2, 3]}],
            }
        }
    )
    result = search(settings, "m", BASE, SLO(p99_ms=10), _fake_measure)
    table = rows(result)
    assert [r.rank for r in table] == [1, 2, None, None, None, None]
    assert table[0].config.endswith("count 2") and table[0].throughput == 200.0
    assert table[1].committed and table[1].status == "eligible"
    assert any(r.status.startswith("skipped: load failed") for r in table)
    lines = render(result)
    assert "(committed)" in lines[2] and lines[0].split()[:3] == ["#", "throughput", "p99"]


def _gap_search(speedup: float, gap: str = "10%") -> Any:
    """count 1 (committed) against count 2, `speedup` times its throughput, windows 2 % apart."""

    def measure(
        index: int,
        config: Mapping[str, Any],
        batch_size: int | None,
        look: bool,
        probes: Sequence[StepResult] = (),
    ) -> Measurement:
        factor = speedup if _count(config) == 2 else 1.0
        return measurement_from_latencies([5.0 / factor, 5.1 / factor, 4.9 / factor])

    space = {"instance_group": [{"kind": "KIND_CPU", "count": [1, 2]}]}
    return search(
        search_settings({"space": space, "max_gap_to_best": gap}), "m", BASE, None, measure
    )


def test_a_winner_not_clearly_beyond_the_gap_does_not_fail_the_committed_config() -> None:
    # +15 % with windows 2 % apart and 3 % of noise per config: the interval reaches below 10 %
    near = _gap_search(1.15)
    gain = near.gain()
    interval = near.gain_interval()
    assert gain == pytest.approx(0.15, abs=0.01) and interval is not None
    assert interval[0] < 0.10 < interval[1]
    assert gates.gap(near, None) is None
    assert "not clearly beyond max_gap_to_best 10% given the noise" in gates.summary(near, None)
    # +150 %: clearly beyond, and the failure states the interval
    far = _gap_search(2.5)
    message = gates.gap(far, None)
    assert message is not None and re.search(
        r": \+150% \[\+\d+%, \+\d+%\] throughput than", message
    )


def test_an_empty_message_in_a_config_is_not_the_committed_config_without_it() -> None:
    # the automatic space turns dynamic batching on (`dynamic_batching: {}`): a model that
    # batches without it is not its own point of the space, and is measured besides
    batching = {**BASE, "max_batch_size": 8}
    settings = search_settings({"max_instance_count": 1, "max_model_batch_size": 8})
    result = search(settings, "m", batching, None, _fake_measure)
    committed = result.committed
    assert committed is not None and committed.trial.point["config"] == {}
    assert len(result.entries) == 4 + 1  # max_batch_size 1, 2, 4, 8 with batching on, and it
