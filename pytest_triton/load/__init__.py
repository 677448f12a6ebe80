"""Measuring: load points in, a Measurement out.

engine.measure() drives a ramp (ramp.py: which points, when to stop, capacity at SLO) over a
driver (driver.py: native/ or perf_analyzer.py), each step aggregated from its windows
(step.py, stats.py). A new load driver goes beside them and is chosen in driver.make_driver.
"""
