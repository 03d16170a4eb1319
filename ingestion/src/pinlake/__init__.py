"""pinlake: a local-first lakehouse for Pinterest-style event data."""

__version__ = "0.1.0"
