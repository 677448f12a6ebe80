"""Why a step may not have stabilised, when its figures show it: advice that names a cause
beats "raise the window"."""

from __future__ import annotations

from pytest_triton.result import StepResult

# Triton's own CPU gauge (nv_cpu_utilization, the machine's busy share) at or above this while
# the step ran: the CPUs were saturated.
SATURATED = 0.95


def likely_cause(step: StepResult) -> str:
    """A few words on what made `step` unstable, or '' when nothing in it points anywhere."""
    if step.client_bound:
        cpu = step.metrics.get("client_cpu", 0.0)
        return (
            f"the load generator was the limit at {step.load_point} (client CPU {cpu:.0%} of a "
            "core): give it processes (processes=N) or measure from a bigger machine"
        )
    busy = step.metrics.get("cpu_utilization")
    if busy is not None and busy >= SATURATED:
        return (
            f"the machine's CPUs were saturated at {step.load_point} (Triton reported "
            f"{busy:.0%} busy): a model whose threads oversubscribe the cores (a BLAS or OpenMP "
            "pool per instance) makes windows disagree; pin its threads with --triton-env "
            "OMP_NUM_THREADS=1 (and OPENBLAS_NUM_THREADS=1), or use fewer instances"
        )
    if step.errors:
        return f"{step.errors} request(s) failed at {step.load_point}"
    return ""
