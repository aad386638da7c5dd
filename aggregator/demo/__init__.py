"""Loopback platform simulators: the demo serves a bundled conversation through them,
and the tests drive the real fetchers against them (with injected faults)."""
