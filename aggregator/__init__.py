"""aggregator: follow the conversation around an event across the social web."""

__version__ = "0.1.0"
