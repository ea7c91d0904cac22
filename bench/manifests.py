"""The benchmark's apps: a directory per app in one repository, and their Applications.

Each app is what a small web service ships: a Deployment (scaled to zero, so
kwok runs no Pods and the measurement is Tether's, not the scheduler's), a
ServiceAccount, a Service and an Ingress, as four files under
``apps/app-<i>/``. The Service is headless (``clusterIP: None``): the local
control plane's service range is a /24, which runs out of ClusterIPs at about
250 Services. Each app deploys to its own namespace, which Tether
creates (``CreateNamespace=true``): the common layout when teams own apps,
and the heavier one (one more object per app).
"""

from __future__ import annotations

from typing import Any

from bench.harness import APP_NS

IMAGE = "ghcr.io/stefanprodan/podinfo"


def app_name(i: int) -> str:
    return f"app-{i}"


def app_files(i: int, tag: str = "6.7.0") -> dict[str, str]:
    name = app_name(i)
    base = f"apps/{name}"
    return {
        f"{base}/serviceaccount.yaml": f"""apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
""",
        f"{base}/deployment.yaml": f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: 0
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      serviceAccountName: {name}
      containers:
        - name: web
          image: {IMAGE}:{tag}
          ports:
            - containerPort: 9898
          resources:
            requests:
              cpu: 10m
              memory: 32Mi
""",
        f"{base}/service.yaml": f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  clusterIP: None
  selector:
    app: {name}
  ports:
    - name: http
      port: 80
      targetPort: 9898
""",
        f"{base}/ingress.yaml": f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
spec:
  rules:
    - host: {name}.bench.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {name}
                port:
                  number: 80
""",
    }


def all_files(n: int, tag: str = "6.7.0") -> dict[str, str]:
    files: dict[str, str] = {}
    for i in range(n):
        files |= app_files(i, tag)
    return files


def application(i: int, repo_url: str, *, self_heal: bool = True) -> dict[str, Any]:
    name = app_name(i)
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": APP_NS},
        "spec": {
            "source": {"repoURL": repo_url, "path": f"apps/{name}", "targetRevision": "main"},
            "destination": {"namespace": name},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": self_heal},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


def applications(n: int, repo_url: str) -> list[dict[str, Any]]:
    return [application(i, repo_url) for i in range(n)]
