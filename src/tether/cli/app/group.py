"""The ``tether app`` command group and what its commands share."""

from __future__ import annotations

import getpass

import click

COLOURS = {
    "Healthy": "green",
    "Synced": "green",
    "Progressing": "blue",
    "Degraded": "red",
    "OutOfSync": "yellow",
    "Missing": "yellow",
    "Suspended": "grey50",
    "Unknown": "magenta",
}


def coloured(value: str) -> str:
    return f"[{COLOURS.get(value, 'white')}]{value}[/]"


def user() -> str:
    """Who a person-initiated action is recorded as."""
    return f"cli:{getpass.getuser()}"


@click.group()
def app() -> None:
    """Manage Applications: Git paths reconciled into a namespace."""
