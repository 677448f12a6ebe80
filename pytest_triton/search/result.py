"""A finished search: every config of its space with its standing, winner first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_triton.judge.change import relative_change
from pytest_triton.result import StepResult, metric_value
from pytest_triton.search.objectives import HIGHER_IS_BETTER, Objectives, Scored, score_all
from pytest_triton.search.strategy import Trial
from pytest_triton.spec import SLO

# How far two configs measured minutes apart on one server can read apart beyond their windows
# (relative SD of each): a model reloaded with another config draws a speed of its own, as
# identical copies of a model do (3-5 % apart, docs/validation.md "Paired copies").
CONFIG_NOISE = 0.03


@dataclass(frozen=True)
class Entry:
    trial: Trial
    scored: Scored
    committed: bool = False  # the model's own config (config.pbtxt as committed)

    @property
    def measured(self) -> bool:
        return self.trial.measurement is not None

    @property
    def look(self) -> StepResult | None:
        """A config quick only looked at: its probe with the most throughput."""
        look = self.trial.look
        if self.measured or look is None or not look.steps:
            return None
        return max(look.steps, key=lambda s: s.throughput)


@dataclass(frozen=True)
class SearchResult:
    mode: str
    objectives: Objectives
    # Ranked: eligible configs by objective value, then measured ineligible ones (most
    # throughput first), then those quick only looked at (the same), then skipped ones, then
    # those the strategy did not need.
    entries: tuple[Entry, ...]
    duration_s: float
    max_gap_to_best: float | None = None  # how far the committed config may trail the winner

    @property
    def winner(self) -> Entry | None:
        """The best eligible config; None when no config met the SLO."""
        first = self.entries[0] if self.entries else None
        return first if first is not None and first.scored.eligible else None

    @property
    def closest(self) -> Entry | None:
        """The winner, or when none is eligible the measured config that came closest (the
        most throughput at its least loaded step, which is the one shown breaking a bound)."""
        return self.winner or next((e for e in self.entries if e.measured), None)

    @property
    def committed(self) -> Entry | None:
        return next((e for e in self.entries if e.committed), None)

    @property
    def measured(self) -> int:
        return sum(e.measured for e in self.entries)

    def gain(self) -> float | None:
        """How much better the winner is than the committed config on the objective (0.38:
        +38 %); infinite when only the committed config breaks the SLO; None when either is
        missing or no config is eligible."""
        winner, committed = self.winner, self.committed
        if winner is None or committed is None or not committed.measured:
            return None
        if not committed.scored.eligible:
            return float("inf")
        if committed.scored.score <= 0:
            return None
        return winner.scored.score / committed.scored.score - 1.0

    def gain_interval(self) -> tuple[float, float] | None:
        """The 95 % interval of the gain when the objective is one metric and both steps have
        windows to bound it (judge/change.py, each config with CONFIG_NOISE of its own): a
        winner picked as the best of many noisy measurements reads better than it is."""
        winner, committed = self.winner, self.committed
        if winner is None or committed is None or len(self.objectives.weights) != 1:
            return None
        (name,) = self.objectives.weights
        a, b = committed.scored.step, winner.scored.step
        if a is None or b is None or not committed.scored.eligible or name == "gpu_memory":
            return None
        if not HIGHER_IS_BETTER[name]:
            a, b = b, a  # the gain in a latency is committed / winner
        change = relative_change(
            metric_value(a, name),
            metric_value(b, name),
            [metric_value(w, name) for w in a.measured],
            [metric_value(w, name) for w in b.measured],
            run_noise=CONFIG_NOISE,
        )
        if change is None:
            return None
        return change.low - 1.0, change.high - 1.0


def rank(
    trials: Sequence[Trial],
    committed: int,
    slo: SLO | None,
    objectives: Objectives,
    mode: str,
    duration_s: float,
) -> SearchResult:
    """Score what was measured and order every trial (SearchResult.entries)."""
    scored = score_all([t.measurement for t in trials], slo, objectives)
    entries = [
        Entry(t, s, committed=(t.index == committed)) for t, s in zip(trials, scored, strict=True)
    ]

    def order(e: Entry) -> tuple[int, float]:
        if e.scored.eligible:
            return (0, -e.scored.score)
        if e.measured:
            step = e.scored.step
            return (1, -(step.throughput if step is not None else 0.0))
        if e.look is not None:
            return (2, -e.look.throughput)
        return (3, 0.0) if e.trial.skipped else (4, 0.0)

    return SearchResult(mode, objectives, tuple(sorted(entries, key=order)), duration_s)
