"""What a search fails a test for, in words: no config met the SLO, or the committed config
trails the best one found by more than `max_gap_to_best` (with the winner ready to paste)."""

from __future__ import annotations

import math

from pytest_triton.search.fragment import describe_point, pbtxt
from pytest_triton.search.result import Entry, SearchResult
from pytest_triton.spec import SLO


def no_winner(result: SearchResult) -> str | None:
    """The failure when no config met the SLO: which came closest and the bound it broke."""
    if result.winner is not None:
        return None
    closest = result.closest
    if closest is None:
        return f"no config of the search could be measured ({len(result.entries)} skipped)"
    return (
        f"no config of the {len(result.entries)}-point search met the SLO; the closest, "
        f"{label(closest)}, broke it: {closest.scored.broken}"
    )


def gap(result: SearchResult, slo: SLO | None) -> str | None:
    """The failure when a better config exists than the committed one by more than the
    search's max_gap_to_best."""
    max_gap = result.max_gap_to_best
    gain = result.gain()
    winner = result.winner
    if max_gap is None or gain is None or winner is None or gain <= max_gap:
        return None
    interval = result.gain_interval()
    if interval is not None and interval[0] <= max_gap:
        return None  # better, but not clearly by more than the gap: summary() says so
    committed = result.committed
    if math.isinf(gain):
        broken = committed.scored.broken if committed is not None else ""
        how = f"it meets the SLO, the committed config does not ({broken})"
    else:
        how = (
            f"{gain:+.0%}{_shown(interval)} {_objective(result)}{_within(slo)} than the "
            "committed config"
        )
    return (
        f"a better config exists: {label(winner)}: {how} (max_gap_to_best {max_gap:.0%}). "
        f"In config.pbtxt:\n{pbtxt(winner.trial.point['config'])}"
    )


def summary(result: SearchResult, slo: SLO | None) -> str:
    """One line for the test's notes: what was searched and what won by how much."""
    head = (
        f"search ({result.mode}, {result.objectives.describe()}{_within(slo)}): "
        f"{result.measured} of {len(result.entries)} configs measured in {result.duration_s:.0f} s"
    )
    winner = result.winner
    if winner is None:
        return f"{head}; none met the SLO"
    gain = result.gain()
    if winner.committed or gain is None or gain <= 0:
        return f"{head}; the committed config is the best found"
    if math.isinf(gain):
        return f"{head}; best: {label(winner)} (the committed config breaks the SLO)"
    interval = result.gain_interval()
    tail = ""
    limit = result.max_gap_to_best
    if limit is not None and gain > limit and interval is not None and interval[0] <= limit:
        tail = f"; not clearly beyond max_gap_to_best {limit:.0%} given the noise"
    return (
        f"{head}; best: {label(winner)} ({gain:+.0%}{_shown(interval)} over the committed "
        f"config{tail})"
    )


def _shown(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" [{interval[0]:+.0%}, {interval[1]:+.0%}]"


def label(entry: Entry) -> str:
    return describe_point(entry.trial.point)


def _objective(result: SearchResult) -> str:
    weights = result.objectives.weights
    if len(weights) == 1:
        name = next(iter(weights))
        return "throughput" if name == "throughput" else f"better {name}"
    return f"on the objective ({result.objectives.describe()})"


def _within(slo: SLO | None) -> str:
    if slo is None or not slo.latency_bounds():
        return ""
    return " at " + ", ".join(f"{k} <= {v:g} ms" for k, v in slo.latency_bounds().items())
