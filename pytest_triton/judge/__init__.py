"""Verdicts on a Measurement: did the model serve (served.py), did it meet its SLO (slo.py),
and did it regress against a baseline (verdict.py, with the tolerances and metrics it gates in
tolerance.py and the confidence intervals in change.py)."""
