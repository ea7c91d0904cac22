#!/usr/bin/env bash
# Builds the web UI (Vite + TypeScript) into src/tether/web/dist when web/ exists.
set -euo pipefail
[ -f web/package.json ] || exit 0
cd web
stamp=../src/tether/web/dist/.stamp
if [ -f "$stamp" ] && [ -z "$(find . -path ./node_modules -prune -o -newer "$stamp" -type f -print | head -1)" ]; then
  exit 0
fi
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
npm run build --silent
touch "$stamp"
