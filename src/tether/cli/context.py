"""Wiring shared by CLI commands: a Kubernetes client, a service, output helpers."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import httpx
import yaml

from tether.adapters import git
from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.kube.config import ConfigError
from tether.controller.live_cache import LiveCache
from tether.controller.reconciler import Reconciler, Settings
from tether.controller.service import ActionRefused, AppNotFound, AppService
from tether.controller.sources.step import Sources
from tether.testenv.binaries import cache_dir, helm_path

T = TypeVar("T")

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """rich's Console, made on first print: the controller prints through it only when
    something fails, and rich costs it about 3 MiB."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        self._console.print(*objects, **options)


out = LazyConsole()
err = LazyConsole(stderr=True)

EXIT_ERROR = 1
EXIT_NOT_FOUND = 3
EXIT_REFUSED = 4
EXIT_DIFF = 2


def kube_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--kubeconfig",
        envvar="KUBECONFIG",
        default=None,
        help="Path to the kubeconfig (default: $KUBECONFIG).",
    )(fn)
    fn = click.option(
        "--app-namespace",
        default="tether",
        show_default=True,
        envvar="TETHER_NAMESPACE",
        help="Namespace holding Applications.",
    )(fn)
    return fn


def output_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "wide", "json", "yaml"]),
        default="table",
        show_default=True,
    )(fn)


def helm_binary() -> str | None:
    path = helm_path()
    return str(path) if path.exists() else None


def make_sources() -> Sources:
    return Sources(git.RepoCache(cache_dir() / "repos"), helm_path=helm_binary())


@asynccontextmanager
async def service(kubeconfig: str | None, namespace: str) -> AsyncIterator[AppService]:
    kube = KubeClient.from_kubeconfig(kubeconfig)
    live = LiveCache(kube, lambda _t, _o: None)
    reconciler = Reconciler(kube, live, make_sources(), Settings(app_namespace=namespace))
    try:
        yield AppService(kube, reconciler, namespace=namespace)
    finally:
        await live.close()
        await kube.close()


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine, turning Tether's errors into messages and exit codes."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except AppNotFound as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_NOT_FOUND)
    except ActionRefused as exc:
        err.print(f"[red]refused:[/] {exc}")
        sys.exit(EXIT_REFUSED)
    except (ConfigError, ApiError, git.GitError) as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_ERROR)
    except httpx.HTTPError as exc:
        where = (
            getattr(exc.request, "url", "the API server")
            if hasattr(exc, "_request")
            else "the API server"
        )
        err.print(
            f"[red]error:[/] cannot reach {where}: {exc or type(exc).__name__}; "
            "is the cluster running and KUBECONFIG right?"
        )
        sys.exit(EXIT_ERROR)


def emit(data: Any, output: str) -> bool:
    """Print JSON/YAML when asked; returns False when the caller should draw a table."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, default=str))
        return True
    if output == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
        return True
    return False


def coroutine(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run(fn(*args, **kwargs))

    return wrapper


def read_manifest(path: str) -> list[dict[str, Any]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        return [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path}: invalid YAML: {exc}") from None
