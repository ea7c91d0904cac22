"""Who reconciles each app, replayed from the replicas' shared log: never two at once,
and a killed replica's apps owned again within the Lease time.

Each replica logs every change of the apps it reconciles (``sharding: <id> owns|stopped
<n> apps: a,b``, from ``controller/sharding/member.py``: ``stopped`` once the reconciles in
flight have ended); the world writes ``---- kill <id> at <epoch>`` after each SIGKILL.
The lines are replayed in file order, which is causal here: a replica writes
``stopped`` before the Lease write that lets the next owner in, and the next owner
logs ``owns`` only after reading that Lease.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from tether.controller.sharding import SHARD_TIMING

# From the kill: the Lease expires (it may have been renewed just before), the others
# list it once more and publish their new member lists.
REOWN_LIMIT = SHARD_TIMING.duration + SHARD_TIMING.renew_interval + 2 * SHARD_TIMING.retry_period

_CHANGE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO \S+: "
    r"sharding: (\S+) (owns|stopped) \d+ apps: (\S+)$"
)
_KILL = re.compile(r"^---- kill (\S+) at ([\d.]+)$")


class Ownership:
    """Reads the log as it grows; ``scan()`` returns the violations found since the last."""

    def __init__(self, log_path: Path, limit: float = REOWN_LIMIT) -> None:
        self.log_path = log_path
        self.limit = limit
        self.offset = 0
        self.owners: dict[str, dict[str, float]] = {}  # app -> {replica: since}
        self.orphans: dict[str, tuple[str, float]] = {}  # app -> (killed replica, at)
        self.gaps: list[float] = []  # kill -> owned again, per app
        self.changes = 0

    def scan(self, now: float | None = None) -> list[str]:
        found: list[str] = []
        if self.log_path.exists():
            with self.log_path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]
            self.offset += len(complete)
            for line in complete.decode(errors="replace").splitlines():
                found += self.feed(line)
        if now is not None:
            for app, (who, at) in sorted(self.orphans.items()):
                if now - at > self.limit:
                    found.append(
                        f"{app}: no replica owns it {now - at:.1f}s after {who} was killed "
                        f"(limit {self.limit:.0f}s)"
                    )
                    del self.orphans[app]
        return found

    def feed(self, line: str) -> list[str]:
        if m := _KILL.match(line):
            return self._killed(m.group(1), float(m.group(2)))
        m = _CHANGE.match(line)
        if m is None:
            return []
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        who, what, apps = m.group(2), m.group(3), m.group(4).split(",")
        self.changes += 1
        found: list[str] = []
        for app in apps:
            held = self.owners.setdefault(app, {})
            if what == "stopped":
                held.pop(who, None)
                continue
            others = sorted(o for o in held if o != who)
            if others:
                found.append(f"{app}: {who} owns it while {', '.join(others)} still does")
            held[who] = at
            orphaned = self.orphans.pop(app, None)
            if orphaned is not None:
                gap = at - orphaned[1]
                self.gaps.append(gap)
                if gap > self.limit:
                    found.append(
                        f"{app}: owned by {who} only {gap:.1f}s after {orphaned[0]} was killed "
                        f"(limit {self.limit:.0f}s)"
                    )
        return found

    def _killed(self, who: str, at: float) -> list[str]:
        for app, held in self.owners.items():
            if held.pop(who, None) is not None and not held:
                self.orphans[app] = (who, at)
        return []
