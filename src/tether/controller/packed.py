"""Objects the controller keeps for long, held serialised instead of as nested dicts.

A Kubernetes object as Python dicts and strings takes six to seven times the
memory of its pickle, and the controller keeps several per app for the life
of the process (the live cache, the last render of each app) while a pass
reads only its own app's. Pickle rather than JSON: it is smaller (each object's
repeated strings are stored once), faster both ways, and gives back exactly
the types it was given (a render may hold values JSON would change). Only
bytes this process made are ever unpickled.

Each pickle is then deflated with a dictionary of the field names and values
most objects share: a pickle spells out every key of every object, and the
dictionary lets even a 300-byte ServiceAccount refer back to them. At 1,000
apps that takes the live cache's blobs from about 0.75 to 0.3 KiB each
(about 3 MiB), for some 20 us more per write and 5 us per read; a blob that
would not shrink is kept as the plain pickle (told apart by its first byte).
"""

from __future__ import annotations

import pickle
import zlib

from tether.engine.objects import Obj

PROTOCOL = 5
PICKLE_START = 0x80  # every protocol-5 pickle starts with PROTO; a zlib header never does

# What Kubernetes objects and Applications repeat. Changing it is safe: blobs never
# outlive the process that packed them.
WORDS = (  # noqa: SIM905 (one long line of words reads better than 130 quoted ones)
    "apiVersion kind metadata name namespace uid resourceVersion creationTimestamp "
    "generation labels annotations ownerReferences finalizers spec status "
    "app.tether.dev/instance app.kubernetes.io/name apps/v1 v1 batch/v1 "
    "networking.k8s.io/v1 tether.dev/v1alpha1 Deployment ReplicaSet Pod Job Service "
    "ServiceAccount Namespace Ingress ConfigMap Secret Application controller "
    "blockOwnerDeletion selector matchLabels template containers image ports "
    "containerPort protocol TCP resources terminationMessagePath /dev/termination-log "
    "terminationMessagePolicy File imagePullPolicy IfNotPresent restartPolicy Always "
    "terminationGracePeriodSeconds dnsPolicy ClusterFirst securityContext schedulerName "
    "default-scheduler strategy RollingUpdate rollingUpdate maxUnavailable maxSurge 25% "
    "revisionHistoryLimit progressDeadlineSeconds replicas observedGeneration conditions "
    "type lastTransitionTime lastUpdateTime lastProbeTime reason message True False "
    "Unknown Available Progressing deployment.kubernetes.io/revision pod-template-hash "
    "clusterIP clusterIPs ipFamilies IPv4 ipFamilyPolicy SingleStack sessionAffinity "
    "None ClusterIP internalTrafficPolicy Cluster port targetPort loadBalancer rules "
    "host http paths path pathType Prefix backend service number "
    "kubernetes.io/metadata.name kubernetes phase Active destination source repoURL "
    "targetRevision syncPolicy automated prune selfHeal syncOptions health sync "
    "Healthy Synced OutOfSync revision reconciledAt history operationState group "
    "version"
).split()
ZDICT = pickle.dumps(WORDS, protocol=PROTOCOL)
WBITS = 12  # a 4 KiB window: most objects are smaller, and the state stays small
LEVEL = 1
_PRIMED = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, 4, zlib.Z_DEFAULT_STRATEGY, ZDICT)


def pack(value: Obj | list[Obj]) -> bytes:
    raw = pickle.dumps(value, protocol=PROTOCOL)
    deflate = _PRIMED.copy()
    small = deflate.compress(raw) + deflate.flush()
    return small if len(small) < len(raw) else raw


def _pickle_of(packed: bytes) -> bytes:
    if packed[0] == PICKLE_START:
        return packed
    return zlib.decompressobj(WBITS, zdict=ZDICT).decompress(packed)


def unpack(packed: bytes) -> Obj:
    obj: Obj = pickle.loads(_pickle_of(packed))
    return obj


def unpack_list(packed: bytes) -> list[Obj]:
    objs: list[Obj] = pickle.loads(_pickle_of(packed))
    return objs
