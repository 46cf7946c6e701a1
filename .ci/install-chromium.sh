#!/usr/bin/env bash
# Installs headless Chromium from the distribution's packages when no Chromium is on PATH, for the
# report's browser test (tests/report.rs). Idempotent; prints the browser it found or installed.
set -euo pipefail

find_browser() {
    for name in chromium chromium-browser google-chrome-stable google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if browser=$(find_browser); then
    echo "chromium: $browser ($("$browser" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: not found, and no apt-get to install it with; install Chromium from your distribution's packages" >&2
    exit 1
fi

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

echo "chromium: not found; installing it with apt-get"
export DEBIAN_FRONTEND=noninteractive
sudo_if_needed apt-get update -qq
# Debian names the package `chromium`, Ubuntu `chromium-browser` (a snap wrapper there).
if ! sudo_if_needed apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; then
    sudo_if_needed apt-get install -y -qq --no-install-recommends chromium-browser fonts-dejavu-core
fi

browser=$(find_browser) || { echo "chromium: installation finished but no chromium on PATH" >&2; exit 1; }
echo "chromium: $browser ($("$browser" --version 2>/dev/null || echo 'version unknown'))"
