"""Server metrics: scrape Triton's Prometheus endpoint and summarise a step's scrapes.

Triton exports CPU utilisation and memory everywhere and GPU utilisation, memory and power on GPU
machines; a step records the average (utilisation, power) or maximum (memory) over the scrapes
taken at its window boundaries. Names in StepResult.metrics are stable keys documented here:

  cpu_utilization (0..1), cpu_memory_used_mb, gpu_utilization (0..1, mean over GPUs),
  gpu_memory_used_mb (sum over GPUs), gpu_power_w (sum over GPUs)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pytest_triton import triton_http

# (Prometheus name, our key, how to reduce over GPUs, scale)
_GAUGES = (
    ("nv_cpu_utilization", "cpu_utilization", "sum", 1.0),
    ("nv_cpu_memory_used_bytes", "cpu_memory_used_mb", "sum", 1 / 2**20),
    ("nv_gpu_utilization", "gpu_utilization", "mean", 1.0),
    ("nv_gpu_memory_used_bytes", "gpu_memory_used_mb", "sum", 1 / 2**20),
    ("nv_gpu_power_usage", "gpu_power_w", "sum", 1.0),
)
# Over a step's scrapes: memory is judged by its peak, the rest by its mean.
PEAK_KEYS = frozenset({"cpu_memory_used_mb", "gpu_memory_used_mb"})


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text exposition -> {metric name: [(labels, value), ...]}."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        labels: dict[str, str] = {}
        if "{" in line:
            name, rest = line.split("{", 1)
            label_text, _, value_text = rest.rpartition("}")
            labels = _parse_labels(label_text)
        else:
            name, _, value_text = line.partition(" ")
        parts = value_text.split()
        if not parts:
            continue
        try:
            value = float(parts[0])
        except ValueError:
            continue
        out.setdefault(name.strip(), []).append((labels, value))
    return out


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().lstrip(",").strip()
        j = eq + 2  # skip ="
        value = []
        while j < len(text) and text[j] != '"':
            if text[j] == "\\" and j + 1 < len(text):
                j += 1
            value.append(text[j])
            j += 1
        labels[key] = "".join(value)
        i = j + 1
    return labels


def server_gauges(parsed: Mapping[str, list[tuple[dict[str, str], float]]]) -> dict[str, float]:
    """Our metric keys from one scrape; keys whose metric is absent (no GPU) are left out."""
    result: dict[str, float] = {}
    for prom, key, how, scale in _GAUGES:
        samples = [v for _, v in parsed.get(prom, []) if math.isfinite(v)]
        if not samples:
            continue
        total = sum(samples)
        result[key] = (total / len(samples) if how == "mean" else total) * scale
    return result


def scrape(address: str, timeout_s: float = 2.0) -> dict[str, float]:
    """One scrape of the metrics endpoint at 'host:port' as our gauges; {} when it does not
    answer (metrics are supplementary: a missing scrape must not fail a measurement)."""
    try:
        exposition = triton_http.text(address, "/metrics", timeout_s)
    except (TimeoutError, triton_http.TritonHTTPError, triton_http.TritonUnreachable):
        return {}
    return server_gauges(parse_prometheus(exposition))


def summarise(scrapes: Sequence[Mapping[str, float]], prefix: str = "") -> dict[str, float]:
    """A step's metrics: peak for memory, mean for everything else, over the scrapes that have
    the key."""
    keys = sorted({k for s in scrapes for k in s})
    out: dict[str, float] = {}
    for key in keys:
        values = [s[key] for s in scrapes if key in s]
        out[prefix + key] = (
            max(values)
            if key in PEAK_KEYS or key.endswith("memory_used_mb")
            else sum(values) / len(values)
        )
    return out
