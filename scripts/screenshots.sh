#!/usr/bin/env bash
# Screenshots of every page of the web app at 1280 and 390 px wide, into
# docs/screenshots/ (<page>-<width>.png). Runs the browser test (a generated company on
# a fresh database, headless Chromium through chromedriver) with CRM_SCREENSHOTS set.
# Needs: PostgreSQL at DATABASE_URL (default 127.0.0.1:5432), Debian's chromium and
# chromium-driver (installed here when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromedriver >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
    else
        echo "error: chromedriver not found; install chromium and chromium-driver" >&2
        exit 1
    fi
fi
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
out=$(pwd)/docs/screenshots
mkdir -p "$out"
# One test binary (tests/tests/main.rs) or one per file.
if [[ -f tests/tests/main.rs ]]; then target=(--test e2e webapp::in_a_browser); else target=(--test webapp in_a_browser); fi
CRM_SCREENSHOTS=$out cargo test -p crm-tests "${target[@]}" -- --nocapture
ls "$out"
