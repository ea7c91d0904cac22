"""OpenPGP signatures for commits Tether writes, made by the machine's ``gpg``.

Each signature gets a throwaway ``GNUPGHOME``: the armored private key (Flux's
``git.asc``) is imported into it, the commit buffer is signed as
``git commit -S`` does (``gpg --detach-sign --armor``), then the agent that
gpg started for it is stopped and the folder removed. So no key outlives the
call and two policies' keys never share a keyring. The passphrase goes to gpg
through a pipe (``--passphrase-fd``), never a file or an argument, and gpg's
own messages are not shown: they may quote the key's user ID or the file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

from tether.adapters.git.errors import GitError

GPG = "gpg"
GPGCONF = "gpgconf"
TIMEOUT = 20.0
# Far above any real key block; a Secret holding more is not a key.
MAX_KEY_BYTES = 256 * 1024
MAX_PASSPHRASE_BYTES = 4096
PGP_PRIVATE_KEY = "-----BEGIN PGP PRIVATE KEY BLOCK-----"


def is_openpgp_key(text: str) -> bool:
    return PGP_PRIVATE_KEY in text


def gpg_sign(data: bytes, armored_key: str, passphrase: str = "") -> str:
    """The armored OpenPGP signature of ``data`` with the key's signing (sub)key."""
    if not is_openpgp_key(armored_key) or len(armored_key.encode()) > MAX_KEY_BYTES:
        raise GitError("cannot sign the commit: the signing key is not an armored OpenPGP key")
    if len(passphrase.encode()) > MAX_PASSPHRASE_BYTES:
        raise GitError("cannot sign the commit: the passphrase is too long")
    # A short path: gpg-agent's socket lives in the folder and sockets have a ~100 byte limit.
    with tempfile.TemporaryDirectory(
        prefix="tgpg-", dir=_short_tmp(), ignore_cleanup_errors=True
    ) as home:
        os.chmod(home, 0o700)
        env = _env(home)
        try:
            imported = _run([GPG, *_BATCH, "--import"], env, armored_key.encode())
            if imported.returncode != 0:
                raise GitError("cannot sign the commit: gpg refused the OpenPGP signing key")
            signed = _sign(data, env, passphrase)
        finally:
            _stop_agent(env)
            # the key goes now; an agent socket vanishing mid-walk must not stop that
            shutil.rmtree(home, ignore_errors=True)
    signature = signed.stdout.decode(errors="replace")
    if signed.returncode != 0 or "BEGIN PGP SIGNATURE" not in signature:
        raise GitError(
            "cannot sign the commit: gpg could not sign with the OpenPGP key "
            "(wrong or missing passphrase, or no key that can sign)"
        )
    return signature


_BATCH = ("--batch", "--no-tty", "--quiet", "--no-auto-check-trustdb")


def _sign(data: bytes, env: dict[str, str], passphrase: str) -> subprocess.CompletedProcess[bytes]:
    read_end, write_end = os.pipe()
    try:
        # A pipe holds far more than MAX_PASSPHRASE_BYTES, so this write cannot block.
        os.write(write_end, passphrase.encode())
        os.close(write_end)
        write_end = -1
        return _run(
            [
                GPG, *_BATCH, "--pinentry-mode", "loopback", "--passphrase-fd", str(read_end),
                "--detach-sign", "--armor",
            ],
            env,
            data,
            pass_fds=(read_end,),
        )  # fmt: skip
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def _run(
    argv: Sequence[str], env: dict[str, str], stdin: bytes, pass_fds: Sequence[int] = ()
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            env=env,
            timeout=TIMEOUT,
            check=False,
            pass_fds=tuple(pass_fds),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"cannot sign the commit: {type(exc).__name__} running gpg") from None


def _stop_agent(env: dict[str, str]) -> None:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [GPGCONF, "--kill", "all"], env=env, capture_output=True, timeout=TIMEOUT, check=False
        )


def _env(home: str) -> dict[str, str]:
    return {
        "GNUPGHOME": home,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
    }


def _short_tmp() -> str | None:
    return "/tmp" if os.path.isdir("/tmp") else None
