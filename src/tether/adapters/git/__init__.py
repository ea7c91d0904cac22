"""The Git source: a shared cache of bare repositories read without checkouts.

All functions block; the controller calls them from worker threads.
"""

from tether.adapters.git.errors import (
    GitError,
    HostKeyError,
    PathNotFoundError,
    RevisionNotFoundError,
)
from tether.adapters.git.repo_cache import CommitInfo, GitIdentity, RepoCache
from tether.adapters.git.tree import ChangedPaths, PathEscapeError, TreeLimitError
from tether.adapters.git.urls import cache_key, is_local
from tether.engine.credentials import GitCredentials, credentials_for

__all__ = [
    "ChangedPaths",
    "CommitInfo",
    "GitCredentials",
    "GitError",
    "GitIdentity",
    "HostKeyError",
    "PathEscapeError",
    "PathNotFoundError",
    "RepoCache",
    "RevisionNotFoundError",
    "TreeLimitError",
    "cache_key",
    "credentials_for",
    "is_local",
]
