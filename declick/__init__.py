"""Declick: click-noise removal engine, self-hosted API service and local pipeline runner."""

__version__ = "0.1.0"
