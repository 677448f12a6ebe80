"""Config search: which model configs a search measures, in which order, and which one wins.

space.py parses a search space in Model Analyzer's syntax into config overrides; automatic.py
builds the space Model Analyzer searches when none is given; legality.py says which candidate
cannot be served and why; objectives.py scores a measured config; strategy.py walks a space
(brute: every point, quick: a hill climb). A new strategy is a class in strategy.py.
"""
