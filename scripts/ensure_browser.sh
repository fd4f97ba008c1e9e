#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright: `playwright install` cannot download
# browsers on our machines, so the system package is installed instead when it is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
