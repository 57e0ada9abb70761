#!/bin/sh
# WireMock (the npm package `wiremock` carries wiremock-standalone.jar; needs java) and mountebank, from the
# npm registry into benchmarks/.peers, for benchmarks/emulator_throughput.py --peers. Not committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/.peers"
npm install --no-audit --no-fund --prefix "$here/.peers" wiremock@3.13.2 mountebank@2.9.1
