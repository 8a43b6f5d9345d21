#!/bin/sh
# CTest entry of the real-browser test: exit 77 (skipped) without Node.js; serve_page.mjs checks
# the rest (playwright-core in node_modules, /usr/bin/chromium, the COVID-CT data set).
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node not found (scripts/setup installs nodejs and npm, then runs npm ci in tests/browser)"
  [ "${COVSCREEN_REQUIRE_DATA:-}" = 1 ] && exit 1  # .ci/run: a missing prerequisite fails
  exit 77
fi
exec node "$(dirname "$0")/serve_page.mjs" "$@"
