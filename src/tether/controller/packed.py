"""Objects the controller keeps for long, held serialised instead of as nested dicts.

A Kubernetes object as Python dicts and strings takes six to seven times the
memory of its pickle, and the controller keeps several per app for the life
of the process (the live cache, the last render of each app) while a pass
reads only its own app's. Pickle rather than JSON: it is smaller (each object's
repeated strings are stored once), faster both ways, and gives back exactly
the types it was given (a render may hold values JSON would change). Only
bytes this process made are ever unpickled.
"""

from __future__ import annotations

import pickle

from tether.engine.objects import Obj

PROTOCOL = 5


def pack(value: Obj | list[Obj]) -> bytes:
    return pickle.dumps(value, protocol=PROTOCOL)


def unpack(packed: bytes) -> Obj:
    obj: Obj = pickle.loads(packed)
    return obj


def unpack_list(packed: bytes) -> list[Obj]:
    objs: list[Obj] = pickle.loads(packed)
    return objs
