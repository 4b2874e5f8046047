"""The record stage: results, baselines and the reports people review."""
