"""Signatures for commits Tether writes: SSH (``gpg.format=ssh``) or OpenPGP.

A ``SigningKey`` is told apart by its text: an armored OpenPGP private key
block is signed with gpg (see ``gpg_signing``), anything else is taken as an
OpenSSH private key (Git 2.34 and later verify those).

For SSH, the commit buffer is signed with ``ssh-keygen -Y sign -n git``,
exactly what ``git commit -S`` runs with an SSH signing key, so
``git verify-commit`` and the Git hosts' "Verified" badges accept it. The
private key is written to a 0600 file in a private temporary folder for the
one call and removed at once; ssh-keygen's own messages are not shown (they
may name the key file).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field

from tether.adapters.git.errors import GitError
from tether.adapters.git.gpg_signing import gpg_sign, is_openpgp_key

NAMESPACE = "git"
TIMEOUT = 20.0


@dataclass(frozen=True)
class SigningKey:
    """A private key (and its passphrase, OpenPGP only) that signs commits."""

    key: str = field(repr=False)
    passphrase: str = field(default="", repr=False)

    @property
    def format(self) -> str:
        return "openpgp" if is_openpgp_key(self.key) else "ssh"

    def sign(self, data: bytes) -> str:
        """The armored signature of ``data``, as Git stores it in the ``gpgsig`` header."""
        if self.format == "openpgp":
            return gpg_sign(data, self.key, self.passphrase)
        return ssh_sign(data, self.key)


def ssh_sign(data: bytes, private_key: str) -> str:
    """The armored SSH signature of ``data``."""
    key = private_key if private_key.endswith("\n") else private_key + "\n"
    with tempfile.TemporaryDirectory(prefix="tether-sign-") as folder:
        path = os.path.join(folder, "key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        try:
            done = subprocess.run(
                ["ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", path],
                input=data,
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"cannot sign the commit: {type(exc).__name__}") from None
    signature = done.stdout.decode(errors="replace")
    if done.returncode != 0 or "BEGIN SSH SIGNATURE" not in signature:
        raise GitError("cannot sign the commit: the signing key was refused by ssh-keygen")
    return signature
