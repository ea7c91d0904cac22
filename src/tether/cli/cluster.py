"""``tether cluster``: the local control plane for demos, tests and benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from tether.testenv import binaries, gitea, hostcheck, nodebinaries

# The cluster and node-image modules are imported by the commands that use them:
# they load cryptography's OpenSSL bindings (about 8 MiB), which every other
# `tether` process, the controller included, would otherwise carry.

err = Console(stderr=True)
out = Console()

dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="State directory (default: $TETHER_CACHE_DIR/cluster).",
)


@click.group()
def cluster() -> None:
    """Run a real Kubernetes control plane locally (etcd, apiserver, controllers, kwok nodes)."""


@cluster.command()
@click.option(
    "--real-nodes/--no-real-nodes",
    default=None,
    help="Also build kubelet, kube-proxy, containerd 2, CoreDNS and pause "
    "(default: when this machine can run containers).",
)
def build(real_nodes: bool | None) -> None:
    """Build the control-plane binaries from the Go module proxy (cached by version)."""
    reason = hostcheck.unsupported_reason()
    if real_nodes is None:
        real_nodes = reason is None
        if reason:
            err.print(f"skipping real-node binaries: {reason}")
    try:
        with err.status("building kube-apiserver, controller-manager, scheduler and etcd"):
            cp = binaries.build_control_plane()
        with err.status("building kwok"):
            kwok = binaries.build_kwok()
        with err.status("installing helm"):
            helm = binaries.install_helm()
        with err.status(
            f"building gitea {gitea.GITEA_VERSION} (commit status and pull request tests)"
        ):
            forge = gitea.build_gitea()
        node = None
        if real_nodes:
            with err.status("building pause, containerd 2, kubelet, kube-proxy and CoreDNS"):
                node = nodebinaries.build_all()
    except binaries.BinariesMissing as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)
    out.print(f"control plane: {cp}\nkwok: {kwok}\nhelm: {helm}\ngitea: {forge}")
    if node is not None:
        out.print(f"kubelet/kube-proxy: {node.node}\ncontainerd: {node.containerd_dir}")
        out.print(f"coredns: {node.coredns}\npause: {node.pause}")


@cluster.command()
@click.option("--nodes", default=3, show_default=True, help="Number of fake (kwok) nodes.")
@click.option(
    "--real-nodes",
    default=0,
    show_default=True,
    help="Number of nodes that run real containers (containerd, kubelet); needs root.",
)
@click.option("--port", "port", type=int, default=None, help="kube-apiserver port (default: free).")
@dir_option
def up(nodes: int, real_nodes: int, port: int | None, directory: Path | None) -> None:
    """Start the control plane and wait until its nodes are Ready."""
    from tether.testenv import cluster as localcluster

    try:
        with err.status("starting") as status:
            state = localcluster.up(
                directory,
                nodes=nodes,
                real_nodes=real_nodes,
                apiserver_port=port,
                progress=lambda m: status.update(m),
            )
    except (localcluster.ClusterError, binaries.BinariesMissing) as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)
    real = f" and {real_nodes} real nodes" if real_nodes else ""
    out.print(f"[green]cluster ready[/] at {state.server} with {nodes} kwok nodes{real}")
    out.print(f"  export KUBECONFIG={state.kubeconfig}")
    out.print("  kubectl get nodes")
    out.print(f"  stop it with: tether cluster down{_dir_arg(directory)}")


@cluster.command("import")
@click.argument(
    "archives", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
)
@dir_option
def import_cmd(archives: tuple[Path, ...], directory: Path | None) -> None:
    """Import OCI image archives (as `ctr images import` reads them) into the real nodes."""
    from tether.testenv import cluster as localcluster
    from tether.testenv import nodeimages

    try:
        count = nodeimages.import_images(directory, list(archives))
    except (localcluster.ClusterError, binaries.BinariesMissing) as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)
    out.print(f"imported {len(archives)} image archive(s) into {count} real node(s)")


@cluster.command("trust-registry")
@click.argument("registry")
@dir_option
def trust_registry(registry: str, directory: Path | None) -> None:
    """Let the real nodes pull from REGISTRY (127.0.0.1:PORT) over plain HTTP."""
    from tether.testenv import cluster as localcluster
    from tether.testenv import nodeimages

    try:
        count = nodeimages.trust_registry(directory, registry)
    except localcluster.ClusterError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)
    out.print(f"{count} real nodes pull from {registry} over plain HTTP (loopback only)")


@cluster.command()
@dir_option
def down(directory: Path | None) -> None:
    """Stop every process the cluster started and remove its state."""
    from tether.testenv import cluster as localcluster

    try:
        stopped = localcluster.down(directory)
    except localcluster.ClusterError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)
    out.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@cluster.command()
@dir_option
def status(directory: Path | None) -> None:
    """Report each component of the local control plane."""
    from tether.testenv import cluster as localcluster

    state, comps = localcluster.status(directory)
    if state is None:
        out.print("no cluster: start one with `tether cluster up`")
        sys.exit(3)
    table = Table("component", "pid", "status")
    for comp in comps:
        colour = "green" if comp.running else "red"
        table.add_row(comp.name, str(comp.pid or "-"), f"[{colour}]{comp.detail}[/]")
    out.print(table)
    out.print(f"KUBECONFIG={state.kubeconfig}")
    if not all(c.running for c in comps):
        sys.exit(1)


@cluster.command("images")
@click.argument("names", nargs=-1, type=click.Choice(["finance-api", "tether", "pause"]))
@click.option("--tag", default=None, help="Image tag (default: 1.4, the package version, pause's).")
@click.option("--push", "registry", default=None, help="Push to this registry (host:port).")
@click.option("--username", default=None, help="Registry user; password from stdin.")
@click.option("--insecure", is_flag=True, help="Plain HTTP or unverified TLS (loopback registry).")
@click.option("--export", "export_dir", type=click.Path(path_type=Path), default=None)
def images_cmd(
    names: tuple[str, ...],
    tag: str | None,
    registry: str | None,
    username: str | None,
    insecure: bool,
    export_dir: Path | None,
) -> None:
    """Build OCI images without a Docker daemon (cached in .cache/images); push or export them.

    --export DIR writes DIR/NAME-TAG.tar for `ctr images import`.
    """
    from tether.testenv import images as oci_images

    if registry and not username:
        err.print("[red]error:[/] --push needs --username (the password is read from stdin)")
        sys.exit(1)
    password = ""  # never an argument: arguments show in `ps` and shell history
    if registry and sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, err=True)
    elif registry:
        password = sys.stdin.readline().rstrip("\n")
    for name in names or ("finance-api", "tether"):
        try:
            built = oci_images.BUILDERS[name](tag)
            line = f"{built.name}:{built.tag} {built.digest} {built.size / 1e6:.1f} MB"
            if export_dir is not None:
                archive = export_dir / f"{built.name}-{built.tag}.tar"
                line += f" -> {oci_images.export_archive(built, archive)}"
            if registry:
                user = username or ""
                pushed = oci_images.push(built, registry, user, password, tls_verify=not insecure)
                line += f" -> {pushed}"
        except (oci_images.ImageBuildError, binaries.BinariesMissing) as exc:
            err.print(f"[red]error:[/] {exc}")
            sys.exit(1)
        out.print(line, highlight=False)


def _dir_arg(directory: Path | None) -> str:
    return f" --dir {directory}" if directory else ""
