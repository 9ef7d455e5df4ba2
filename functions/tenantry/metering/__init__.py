"""Metering: admission against quotas and rate limits, usage counters, outcomes."""
