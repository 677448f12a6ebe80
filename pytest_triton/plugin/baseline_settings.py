"""What the user asks of the baseline gate: its options (each with an ini twin) and the
@triton_baseline marker, validated into the settings the core takes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_triton.errors import ConfigError

from .options import Option, get_option

if TYPE_CHECKING:
    from pytest_triton.baseline.gate import GateSettings

BASELINE_OPTIONS: tuple[Option, ...] = (
    Option(
        "triton_baseline",
        "baseline mode: compare (default, never writes), update (store measurements that "
        "completed and met their SLO), off",
        "string",
        "compare",
        ("compare", "update", "off"),
    ),
    Option(
        "triton_baseline_dir",
        "directory of baseline files, one per test (default: <rootdir>/triton-baselines)",
        "path",
    ),
    Option(
        "triton_baseline_required",
        "fail a test that has no baseline for this environment (default: pass with a note)",
        "bool",
        False,
    ),
    Option(
        "triton_baseline_force",
        "let update replace a corrupt or foreign baseline file (it is moved aside, not deleted)",
        "bool",
        False,
    ),
    Option(
        "triton_baseline_sessions",
        "sessions an update averages while the test, its model and load are unchanged "
        "(default 5; 1 keeps only the latest): one session's offset is carried into every "
        "comparison, a mean of several shrinks it",
        "int",
        5,
    ),
    Option(
        "triton_baseline_match",
        "which environments compare: strict (default), loose (ignore driver/CUDA/build), or "
        "a comma list of fingerprint fields to ignore",
        "string",
        "strict",
    ),
    Option(
        "triton_tolerance",
        "regression tolerance per metric as a fraction or a percent, e.g. 'p50=0.1 "
        "throughput=0.05 p99=off' (repeatable)",
        "list",
        (),
    ),
    Option(
        "triton_confidence",
        "confidence level of the change intervals a regression must clear",
        "float",
        0.95,
    ),
    Option(
        "triton_contention_guard",
        "do not fail on a regression measured while other processes took this share of the "
        "CPUs more than during the baseline (default 0.1; 'off' on a dedicated machine)",
        "string",
        "0.1",
    ),
    Option(
        "triton_run_noise",
        "relative spread one session adds to a metric beyond what its windows show, widening "
        "every change interval (default 0.02, measured on an unchanged build; more on a noisy "
        "shared runner, 0 to trust the windows alone)",
        "string",
        "0.02",
    ),
    Option(
        "triton_baseline_build",
        "model repository of the build to compare against (e.g. a git worktree of the target "
        "branch): each measured model both builds have is loaded from each build's files "
        "(the current one's from --triton-model-repository) and the two are measured in turn; "
        "the verdict compares them instead of the stored baseline",
        "path",
    ),
    Option(
        "triton_paired_noise",
        "relative spread each build's copy adds as a whole in a paired comparison, beyond what "
        "its block pairs show: each copy's process has a speed of its own (default 0.03, "
        "measured with identical copies; 0 trusts the pairs alone)",
        "string",
        "0.03",
    ),
    Option(
        "triton_require_resolution",
        "fail a compared test whose comparison cannot see its tolerance (a change of twice the "
        "tolerance could pass unseen; default: a warning naming the smallest change it sees)",
        "bool",
        False,
    ),
    Option(
        "triton_calibrate",
        "measure this runner's noise instead of judging: each measured model against an "
        "identical copy of itself, kept per test and environment in the calibration directory; "
        "from 3 such sessions on, comparisons on this runner use it instead of the assumed "
        "run and paired noise",
        "bool",
        False,
    ),
    Option(
        "triton_size_measurement",
        "size each compared measurement from this runner's calibration: as many measured "
        "windows per step (or block pairs, with --triton-baseline-build) as its tolerances "
        "need to be seen; rows the noise alone keeps from seeing them are named",
        "bool",
        False,
    ),
    Option(
        "triton_calibration_dir",
        "directory of calibration files, one per test (default: <rootdir>/triton-calibration)",
        "path",
    ),
    Option(
        "triton_checkpoint_dir",
        "where measurements are checkpointed as tests complete (default: "
        "<rootdir>/.triton-checkpoints; 'off' disables)",
        "string",
    ),
    Option(
        "triton_resume",
        "reuse checkpointed measurements whose full key (environment, model files, config, "
        "load, SLO) matches exactly",
        "bool",
        False,
    ),
    Option(
        "triton_keep_checkpoints",
        "checkpoint files kept: a session that writes one deletes the oldest beyond this "
        "many (0: keep all; default 20)",
        "int",
        20,
    ),
)

MARKER = (
    "triton_baseline(tolerance=None, name=None, required=None): per-test baseline settings: "
    "tolerance per metric as a dict or string ({'p99': '30%', 'p50': 'off'}), the baseline "
    "file name, and whether a missing baseline fails this test"
)
MARKER_ARGS = ("tolerance", "name", "required")


def gate_settings(config: pytest.Config) -> GateSettings:
    from pytest_triton.baseline.fingerprint import MatchPolicy
    from pytest_triton.baseline.gate import GateSettings, Mode
    from pytest_triton.judge.tolerance import Tolerances, parse_tolerance, parse_tolerances

    try:
        tolerances: dict[str, float | None] = {}
        for entry in get_option(config, "triton_tolerance"):
            tolerances.update(parse_tolerances(entry))
        return GateSettings(
            mode=Mode.parse(get_option(config, "triton_baseline")),
            required=bool(get_option(config, "triton_baseline_required")),
            match=MatchPolicy.parse(get_option(config, "triton_baseline_match")),
            tolerances=Tolerances(
                confidence=get_option(config, "triton_confidence"),
                contention_guard=parse_tolerance(
                    "contention guard", get_option(config, "triton_contention_guard")
                ),
                run_noise=parse_tolerance("run noise", get_option(config, "triton_run_noise"))
                or 0.0,
            ).with_overrides(tolerances),
            force=bool(get_option(config, "triton_baseline_force")),
            paired_noise=parse_tolerance("paired noise", get_option(config, "triton_paired_noise"))
            or 0.0,
            keep_sessions=_keep_sessions(get_option(config, "triton_baseline_sessions")),
            require_resolution=bool(get_option(config, "triton_require_resolution")),
        )
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-triton baseline settings: {exc}") from None


def _keep_sessions(value: int) -> int:
    if value < 1:
        raise ConfigError(f"triton_baseline_sessions must be >= 1, got {value}")
    return value


def checkpoint_dir(config: pytest.Config) -> Path | None:
    value = get_option(config, "triton_checkpoint_dir")
    if value is not None and str(value).strip().lower() == "off":
        return None
    if value:
        path = Path(str(value)).expanduser()
        from_ini = config.getoption("triton_checkpoint_dir", default=None) is None
        base = config.inipath.parent if from_ini and config.inipath else Path.cwd()
        directory = path if path.is_absolute() else base / path
    else:
        directory = config.rootpath / ".triton-checkpoints"
    # xdist workers checkpoint side by side: two writers must never pick the same N.ckpt.
    worker = getattr(config, "workerinput", {}).get("workerid")
    return directory / worker if worker else directory


def gpu_selection(config: pytest.Config) -> str:
    if get_option(config, "triton_image"):
        return str(get_option(config, "triton_gpus") or "none")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "all" if visible is None else (visible or "none")


def marker_args(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker("triton_baseline")
    if marker is None:
        return {}
    if marker.args:
        raise ConfigError("@triton_baseline takes keyword arguments only, e.g. tolerance=...")
    unknown = sorted(set(marker.kwargs) - set(MARKER_ARGS))
    if unknown:
        raise ConfigError(
            f"@triton_baseline got unknown argument(s) {', '.join(unknown)}; valid: "
            f"{', '.join(MARKER_ARGS)}"
        )
    args: dict[str, Any] = {}
    if marker.kwargs.get("tolerance") is not None:
        tolerance = marker.kwargs["tolerance"]
        if not isinstance(tolerance, (str, Mapping)):
            raise ConfigError(
                "@triton_baseline tolerance must be a dict like {'p99': '30%'} or a string like "
                f"'p99=30%', got {tolerance!r}"
            )
        from pytest_triton.judge.tolerance import parse_tolerances

        args["tolerance"] = parse_tolerances(tolerance)
    name = marker.kwargs.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"@triton_baseline name must be a non-empty string, got {name!r}")
    args["name"] = name
    required = marker.kwargs.get("required")
    if required is not None and not isinstance(required, bool):
        raise ConfigError(f"@triton_baseline required must be True or False, got {required!r}")
    args["required"] = required
    return args
