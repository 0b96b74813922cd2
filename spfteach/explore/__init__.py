"""Systematic exploration of schedules: state caching, counterexamples, baseline."""
