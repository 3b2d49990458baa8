#!/usr/bin/env bash
# CI for the JavaScript package: Chromium for the browser test, then a clean install and the tests.
# .ci/run can call it: bash js/ci.sh
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
# .npmrc sets onnxruntime-node-install=skip: its CPU binaries ship in the package; the postinstall would download
npm ci
npm test
