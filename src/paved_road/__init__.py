"""Paved Road: platform tooling for the service template."""

__version__ = "0.1.0"
