"""SSH signatures for commits Tether writes (``gpg.format=ssh``, Git 2.34 and later).

The commit buffer is signed with ``ssh-keygen -Y sign -n git``, exactly what
``git commit -S`` runs with an SSH signing key, so ``git verify-commit`` and
the Git hosts' "Verified" badges accept it. The private key is written to a
0600 file in a private temporary folder for the one call and removed at once;
ssh-keygen's own messages are not shown (they may name the key file).
"""

from __future__ import annotations

import os
import subprocess
import tempfile

from tether.adapters.git.errors import GitError

NAMESPACE = "git"
TIMEOUT = 20.0


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
