"""The one error chart fetching raises, naming the repository and never a secret.

It is a ``GitError`` because the controller treats both the same way: the
source cannot be read, so the app gets a condition and nothing is applied or
pruned. Messages name the repository URL without userinfo, the chart and the
version; never the Secret that held the credentials nor any of its values.
"""

from __future__ import annotations

from tether.adapters.git import GitError


class ChartError(GitError):
    """A chart or its repository could not be read."""
