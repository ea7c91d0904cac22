"""``tether app``: create, inspect, sync, roll back and delete Applications."""

from tether.cli.app import create, inspect, operate
from tether.cli.app.group import app

__all__ = ["app", "create", "inspect", "operate"]
