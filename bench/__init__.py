"""KPR Gateway benchmark: ``python -m bench`` (see bench/README.md). Figures are printed and
written to bench/results/latest.json, never asserted."""
