"""What the messages of kubelet, the scheduler and the API server mean.

Kubernetes reports failures as free text: a registry's answer relayed by
kubelet, the scheduler's per-node tally, the API server's admission errors.
These parsers turn that text into a cause in plain words and a concrete next
step. They are deliberately tolerant: an unrecognised message still yields a
cause (the message itself), only with a generic next step.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """A recognised cause: what it is about, a short reason, the words, and what to do."""

    kind: str
    name: str
    reason: str
    headline: str
    next_step: str


def registry_host(image: str) -> str:
    """The registry host of an image reference, as the container runtime resolves it."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def image_tag(image: str) -> str:
    if "@" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


AUTH_PHRASES = (
    "no basic auth credentials",
    "pull access denied",
    "authorization failed",
    "authentication required",
    "401 unauthorized",
    "403 forbidden",
    "unauthorized",
    "denied",
)
NOT_FOUND_PHRASES = ("manifest unknown", "not found", "name unknown", "no such image")
NETWORK_PHRASES = ("no such host", "i/o timeout", "connection refused", "dial tcp", "tls:")


def classify_pull(detail: str) -> tuple[str, str]:
    """('auth' | 'not_found' | 'network' | 'other', the phrase that decided it)."""
    lowered = detail.lower()
    for category, phrases in (
        ("auth", AUTH_PHRASES),
        ("not_found", NOT_FOUND_PHRASES),
        ("network", NETWORK_PHRASES),
    ):
        for phrase in phrases:
            if phrase in lowered:
                start = lowered.index(phrase)
                return category, detail[start : start + len(phrase)]
    return "other", detail.rsplit(": ", 1)[-1] if detail else "image pull failed"


@dataclass(frozen=True)
class Unschedulable:
    """The scheduler's verdict, split per reason with the number of nodes it applies to."""

    summary: str
    reasons: dict[str, int]

    @property
    def dominant(self) -> str:
        return max(self.reasons, key=lambda r: self.reasons[r], default="")


def parse_scheduler_message(message: str) -> Unschedulable:
    """Parses "0/3 nodes are available: 1 node(s) had untolerated taint {..}, 2 Insufficient cpu."

    The per-node tally ends at its full stop; what follows is the post-filter
    plugins' own words, which the real scheduler (v1.34+) appends as in
    "... 3 Insufficient cpu. no new claims to deallocate, preemption: 0/3 nodes
    are available: 3 Preemption is not helpful for scheduling." and which are
    not reasons the Pod was rejected.
    """
    text = message.split(" preemption:", 1)[0].strip()
    head, found, tally = text.partition("are available: ")
    if found:
        tally = re.split(r"\.(?:\s|$)", tally, maxsplit=1)[0]
    summary = f"{head}{found}{tally}".strip().rstrip(".")
    reasons: dict[str, int] = {}
    for part in re.split(r",\s*(?=\d+ )", tally):
        match = re.match(r"(\d+) (.+)", part.strip().rstrip("."))
        if match:
            reasons[match.group(2)] = reasons.get(match.group(2), 0) + int(match.group(1))
    return Unschedulable(summary, reasons)


def scheduling_next_step(reason: str, requests: dict[str, str], selector: str) -> str:
    lowered = reason.lower()
    if lowered.startswith("insufficient"):
        resource = reason.split(" ", 1)[-1]
        asked = requests.get(resource)
        asks = f" (the Pod requests {resource} {asked})" if asked else ""
        return f"add a node or lower the {resource} requests in Git{asks}"
    if "taint" in lowered:
        taint = reason[reason.find("{") :] if "{" in reason else "the taint"
        return f"add a toleration for {taint} in Git, or make untainted nodes available"
    if "affinity" in lowered or "selector" in lowered:
        target = f" ({selector})" if selector else ""
        return f"fix the nodeSelector/affinity in Git{target} or label a node to match"
    if "persistentvolumeclaim" in lowered:
        return "get the PersistentVolumeClaim bound first: check its StorageClass and provisioner"
    if "volume node affinity" in lowered:
        return "the volume lives in another zone: schedule the Pod in the volume's zone"
    if "free ports" in lowered:
        return "free the hostPort or drop hostPort from the Pod spec in Git"
    return "add capacity or relax the Pod's scheduling constraints in Git"


QUOTA = re.compile(
    r"exceeded quota: ([\w.-]+)(?:, requested: ([^,]+), used: ([^,]+), limited: ([^,]+))?"
)
WEBHOOK = re.compile(r'admission webhook "([^"]+)" denied the request:?\s*(.*)', re.S)
POLICY = re.compile(r"ValidatingAdmissionPolicy '([^']+)'.*?denied request:?\s*(.*)", re.S)
IMMUTABLE = re.compile(r"is invalid: ([\w.\[\]/-]+): .*field is immutable")
NO_KIND = re.compile(r'no matches for kind "([^"]+)" in version "([^"]+)"')
RBAC = re.compile(
    r'User "([^"]+)" cannot (\w+) resource "([^"]+)" in API group "([^"]*)"'
    r'(?: in the namespace "([^"]+)")?'
)


def classify_api_error(message: str, code: int = 0, kind: str = "", namespace: str = "") -> Cause:
    """Explains an API server refusal (apply error, or a controller's FailedCreate)."""
    if match := QUOTA.search(message):
        quota = match.group(1)
        detail = (
            f": requested {match.group(2)}, used {match.group(3)}, limited {match.group(4)}"
            if match.group(2)
            else ""
        )
        return Cause(
            "ResourceQuota",
            quota,
            "QuotaExceeded",
            f"ResourceQuota {quota} exceeded{detail}",
            f"raise the ResourceQuota {quota} in namespace {namespace or 'of the app'}, "
            "or lower the requests/limits in Git",
        )
    if match := WEBHOOK.search(message):
        hook, why = match.group(1), match.group(2).strip()
        return Cause(
            "ValidatingWebhookConfiguration",
            hook,
            "AdmissionDenied",
            f"admission webhook {hook} denied the object: {why}",
            f"change the object in Git to satisfy the policy, "
            f"or ask the owner of {hook} for an exception",
        )
    if match := POLICY.search(message):
        policy, why = match.group(1), match.group(2).strip()
        return Cause(
            "ValidatingAdmissionPolicy",
            policy,
            "AdmissionDenied",
            f"ValidatingAdmissionPolicy {policy} denied the object: {why}",
            f"change the object in Git to satisfy {policy}",
        )
    if "field is immutable" in message:
        match = IMMUTABLE.search(message)
        field = match.group(1) if match else "an immutable field"
        return Cause(
            kind,
            field,
            "FieldImmutable",
            f"{field} cannot be changed in place (422 field is immutable)",
            f"revert {field} in Git, or delete and recreate the {kind or 'object'} "
            "(sync with Replace) so the new value can apply",
        )
    if (match := NO_KIND.search(message)) or (
        code == 404 and "could not find the requested resource" in message
    ):
        crd_kind = match.group(1) if match else kind
        version = f" ({match.group(2)})" if match else ""
        return Cause(
            "CustomResourceDefinition",
            crd_kind,
            "CRDMissing",
            f"the cluster does not know kind {crd_kind}{version}: its CRD is not installed",
            f"install the CRD for {crd_kind} first (an earlier sync wave or another app), "
            "then sync again",
        )
    if match := RBAC.search(message):
        user, verb, resource, group, ns = match.groups()
        qualified = f"{resource}.{group}" if group else resource
        where = f"in namespace {ns}" if ns else "cluster-wide"
        return Cause(
            "RBAC",
            user,
            "Forbidden",
            f"Tether ({user}) is not allowed to {verb} {qualified} {where}",
            f"grant {user} '{verb}' on {qualified} {where} (a Role/ClusterRole and its binding)",
        )
    return Cause(
        kind,
        "",
        f"ApplyFailed{code}" if code else "ApplyFailed",
        f"the API server refused the object{f' ({code})' if code else ''}: {message}",
        "fix the object in Git according to the API error above",
    )
