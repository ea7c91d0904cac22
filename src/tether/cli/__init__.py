"""The ``tether`` command."""

import sys

# httpx imports its own command line (httpx._main, with rich's pretty printing and
# pygments) when it is imported; without it httpx falls back to a stub. Every
# `tether` process, the controller included, saves about 1.3 MiB.
if "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
