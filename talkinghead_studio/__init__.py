"""Talking-Head Studio: animate a still portrait from the motion of another face."""

__version__ = "0.1.0"
TOOL_NAME = "Talking-Head Studio"
