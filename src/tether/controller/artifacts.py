"""OCI artifact sources for the source step: resolve a tag to a digest, fetch, unpack.

An Application whose ``repoURL`` is ``oci://...`` without a ``chart`` reads
its manifests from an OCI artifact (``flux push artifact``, ``oras push``)
instead of Git. Its revision is the manifest digest the ``targetRevision``
(tag, digest or semver range of tags) points at, so a push under the same tag
is picked up at the next poll and history pins exact digests. Credentials
are the OCI chart ones (repository Secrets, RegistryCredential logins).
Resolutions and refusals are remembered per credentials for the poll window,
as for charts, so an app never renders an artifact its own credentials were
not just allowed to read. When the repository Secret sets
``cosignPublicKey``, a digest is accepted only once its cosign signature
verifies with that key; the verified (digest, key) pairs are remembered.

The unpacked files are rendered like a Git tree at ``path`` (plain
manifests, kustomize, a chart, Jsonnet).
"""

from __future__ import annotations

import hashlib
import threading

from tether.adapters.charts import ChartAuth, ChartError, artifacts, signatures
from tether.adapters.charts.store import ChartStore
from tether.controller.answers import Answers
from tether.controller.charts import fingerprint
from tether.engine.application import ApplicationSpec

MAX_UNPACKED_KEPT = 8  # unpacked artifacts kept in memory (by layer digest)


class ArtifactSources:
    def __init__(self, store: ChartStore) -> None:
        self.store = store
        self._answers: Answers[tuple[str, str, str], artifacts.ResolvedArtifact] = Answers(
            ChartError
        )
        self._by_digest: dict[tuple[str, str], artifacts.ResolvedArtifact] = {}
        self._verified: set[tuple[str, str]] = set()
        self._unpacked: dict[str, dict[str, bytes]] = {}
        self._lock = threading.Lock()

    def resolve(
        self, spec: ApplicationSpec, revision: str | None, auth: ChartAuth, max_age: float
    ) -> artifacts.ResolvedArtifact:
        """The manifest ``revision`` (a digest from history) or the spec's target names now."""
        url = spec.source.repo_url
        target = revision or spec.source.target_revision

        def ask() -> artifacts.ResolvedArtifact:
            resolved = artifacts.resolve_artifact(url, target, auth)
            if auth.cosign_key:
                self._verify(resolved, auth)
            return resolved

        resolved = self._answers.get((url, target, fingerprint(auth)), max_age, ask)
        with self._lock:
            known_tag = self._by_digest.get((url, resolved.digest))
            if known_tag is None or resolved.tag:
                self._by_digest[(url, resolved.digest)] = resolved
        return resolved

    def _verify(self, resolved: artifacts.ResolvedArtifact, auth: ChartAuth) -> None:
        assert auth.cosign_key is not None
        key_id = hashlib.sha256(auth.cosign_key.encode()).hexdigest()
        with self._lock:
            if (resolved.digest, key_id) in self._verified:
                return
        ref = artifacts.artifact_ref(resolved.repo_url)
        signatures.verify(ref, auth, resolved.digest, auth.cosign_key)
        with self._lock:
            self._verified.add((resolved.digest, key_id))

    def files(
        self, spec: ApplicationSpec, digest: str, auth: ChartAuth, max_age: float
    ) -> dict[str, bytes]:
        """The artifact's files at manifest ``digest``, from the layer cache or the registry."""
        resolved = self.resolve(spec, digest, auth, max_age)
        with self._lock:
            unpacked = self._unpacked.get(resolved.layer)
        if unpacked is not None:
            return unpacked
        archive = self.store.get(resolved.layer)
        if archive is None:
            archive = artifacts.download(resolved, auth)
            self.store.put(archive, f"artifact {resolved.display}")
        unpacked = artifacts.unpack(archive, f"artifact {resolved.display}")
        with self._lock:
            self._unpacked[resolved.layer] = unpacked
            while len(self._unpacked) > MAX_UNPACKED_KEPT:
                self._unpacked.pop(next(iter(self._unpacked)))
        return unpacked

    def message(self, url: str, digest: str) -> str | None:
        """What history shows for an artifact revision; None when it is not one."""
        with self._lock:
            found = self._by_digest.get((url, digest))
        return f"artifact {found.display}" if found else None

    def forget(self, url: str) -> None:
        self._answers.forget(url)
