#!/usr/bin/env bash
# Debian packages the tests and the demo use: git (git daemon, http-backend),
# openssh-server (ssh Git transport), docker-registry + apache2-utils (a real
# OCI registry with htpasswd; skopeo pulls from it), chromium (browser tests),
# nodejs/npm (web UI build); runc, containernetworking-plugins, iptables,
# conntrack and busybox-static for real nodes (containers on the local cluster);
# gnupg (gpg signs image-automation commits with an OpenPGP key); redis-server
# (Argo CD, measured beside Tether by `make bench`, needs it).
set -euo pipefail
want=(git openssh-server docker-registry apache2-utils skopeo chromium
  runc containernetworking-plugins iptables conntrack busybox-static mmdebstrap umoci gnupg
  redis-server)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v go >/dev/null || missing+=(golang-go)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
