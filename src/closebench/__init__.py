"""closebench: how IoT firmware TCP stacks close connections under load."""

__version__ = "0.1.0"
