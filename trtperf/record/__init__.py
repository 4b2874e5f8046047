"""Stage 7, record: per-case results, the results JSON, the summary table and the per-device baselines."""
