"""Stage 6, verdict: the statistical gate, its statistics, re-measurement and the same-job A/B."""
