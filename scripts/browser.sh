#!/usr/bin/env bash
# The headless browser for the keep/stop page screenshots (test/pages/screenshots.test.ts, `npm run screenshots`):
# Debian's chromium, driven by playwright-core (which downloads no browser of its own).
#
#   bash scripts/browser.sh setup   install chromium with apt-get (Debian/Ubuntu, as root or with sudo)
#   bash scripts/browser.sh path    print the browser's path, or exit 1 when it is not installed
#
# Set CHROMIUM=/path/to/chromium to use another build of Chromium or Chrome.
set -euo pipefail

BROWSER="${CHROMIUM:-/usr/bin/chromium}"

die() {
  printf 'browser.sh: %s\n' "$*" >&2
  exit 1
}

case "${1:-}" in
  setup)
    if [[ -x "${BROWSER}" ]]; then
      printf 'browser.sh: %s is installed (%s)\n' "${BROWSER}" "$("${BROWSER}" --version 2>/dev/null || echo '?')"
      exit 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
      die "apt-get not found: install Chromium with your package manager and set CHROMIUM=/path/to/it"
    SUDO=""
    if [[ "$(id -u)" != 0 ]]; then
      command -v sudo >/dev/null 2>&1 || die "run as root (or install sudo) to apt-get install chromium"
      SUDO="sudo"
    fi
    printf 'browser.sh: installing Debian'"'"'s chromium with apt-get (about 100 MB, a minute or two)...\n'
    ${SUDO} apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq --no-install-recommends chromium
    [[ -x "${BROWSER}" ]] || die "chromium was installed but ${BROWSER} is missing; set CHROMIUM=/path/to/it"
    printf 'browser.sh: %s\n' "$("${BROWSER}" --version 2>/dev/null || echo "${BROWSER}")"
    ;;
  path)
    [[ -x "${BROWSER}" ]] || die "${BROWSER} not found: run 'bash scripts/browser.sh setup'"
    printf '%s\n' "${BROWSER}"
    ;;
  *)
    die "usage: bash scripts/browser.sh setup|path"
    ;;
esac
