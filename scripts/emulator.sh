#!/usr/bin/env bash
# The AWS API emulator (moto server) for the emulator tests, in a project-local venv.
#
#   bash scripts/emulator.sh setup          create/refresh .venv from scripts/requirements-emulator.txt
#   bash scripts/emulator.sh start [port]   start moto_server on 127.0.0.1:PORT (default 5000) in background
#   bash scripts/emulator.sh stop           stop the server started by `start`
#
# `npm test` does not need `start`: test/emulator/global-setup.ts runs `setup` and spawns its own server on a
# free port. `start`/`stop` are for poking at the emulator by hand (AWS_ENDPOINT_URL=http://127.0.0.1:5000).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv"
REQUIREMENTS="${ROOT}/scripts/requirements-emulator.txt"
STAMP="${VENV}/.requirements.sha"
STATE_DIR="${ROOT}/.emulator"
PID_FILE="${STATE_DIR}/moto.pid"
LOG_FILE="${STATE_DIR}/moto.log"
PYTHON="${PYTHON:-python3}"
# uv, the fast installer for the requirements (install_requirements); pip does it where uv cannot be installed.
UV_VERSION=0.13.9

die() {
  printf 'emulator.sh: %s\n' "$*" >&2
  exit 1
}

python_help() {
  cat >&2 <<'MSG'
emulator.sh: python3 (3.9 or newer, with the venv module) is required for the emulator tests (moto server)
and for cfn-lint. Install it, then run `npm run emulator:setup`:
  Debian/Ubuntu:  sudo apt-get install python3 python3-venv
  Fedora/RHEL:    sudo dnf install python3
  macOS:          brew install python@3.12   (or the installer from https://www.python.org/downloads/)
  Windows:        https://www.python.org/downloads/ (use WSL or Git Bash to run this script)
Set PYTHON=/path/to/python3 to use a specific interpreter.
MSG
  exit 1
}

requirements_hash() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "${REQUIREMENTS}" | cut -d' ' -f1
  else
    shasum -a 256 "${REQUIREMENTS}" | cut -d' ' -f1
  fi
}

# Installs the requirements into the venv. With uv (installed into the venv from PyPI first; a few seconds) the
# install takes about a quarter of pip's time; where uv cannot be had, pip does it. Wheels only (nothing is built
# from source), bytecode compiled at install (moto starts about a second faster every run).
install_requirements() {
  local started=${SECONDS}
  local pip=("${VENV}/bin/python" -m pip --disable-pip-version-check --quiet)
  echo "emulator.sh: installing moto[server], cfn-lint, shellcheck from ${REQUIREMENTS#"${ROOT}/"} into .venv (first run only)" >&2
  if [[ -x "${VENV}/bin/uv" ]] || "${pip[@]}" install --only-binary=:all: "uv==${UV_VERSION}" >&2 2>/dev/null; then
    echo "emulator.sh:   with uv ($("${VENV}/bin/uv" --version 2>/dev/null || echo '?'))" >&2
    if "${VENV}/bin/uv" pip install --quiet --compile-bytecode --only-binary :all: --python "${VENV}/bin/python" \
      -r "${REQUIREMENTS}" >&2; then
      echo "emulator.sh: installed in $((SECONDS - started)) s" >&2
      return 0
    fi
    echo "emulator.sh:   uv failed (output above); trying pip" >&2
  else
    echo "emulator.sh:   with pip (uv is not available here)" >&2
  fi
  "${pip[@]}" install --only-binary=:all: -r "${REQUIREMENTS}" >&2 ||
    die "pip install -r ${REQUIREMENTS} failed (network? proxy? see the pip output above)"
  echo "emulator.sh: installed in $((SECONDS - started)) s" >&2
}

cmd_setup() {
  [[ -f "${REQUIREMENTS}" ]] || die "missing ${REQUIREMENTS}"
  local want
  want="$(requirements_hash)"
  if [[ -x "${VENV}/bin/python" && -x "${VENV}/bin/moto_server" && -f "${STAMP}" ]] &&
    [[ "$(cat "${STAMP}")" == "${want}" ]]; then
    return 0
  fi
  command -v "${PYTHON}" >/dev/null 2>&1 || python_help
  "${PYTHON}" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null ||
    python_help
  if [[ ! -x "${VENV}/bin/python" ]]; then
    echo "emulator.sh: creating ${VENV}" >&2
    "${PYTHON}" -m venv "${VENV}" || python_help
  fi
  install_requirements
  printf '%s\n' "${want}" >"${STAMP}"
}

is_running() {
  [[ -f "${PID_FILE}" ]] && kill -0 "$(cat "${PID_FILE}")" 2>/dev/null
}

cmd_start() {
  local port="${1:-5000}"
  [[ "${port}" =~ ^[0-9]+$ ]] || die "port must be a number, got '${port}'"
  if is_running; then
    die "already running (pid $(cat "${PID_FILE}")); run '$0 stop' first"
  fi
  cmd_setup
  mkdir -p "${STATE_DIR}"
  "${VENV}/bin/moto_server" -H 127.0.0.1 -p "${port}" >"${LOG_FILE}" 2>&1 &
  local pid=$!
  printf '%s\n' "${pid}" >"${PID_FILE}"
  local url="http://127.0.0.1:${port}"
  local i
  for ((i = 0; i < 60; i++)); do
    if curl -fsS -X POST "${url}/moto-api/reset" >/dev/null 2>&1; then
      echo "emulator.sh: moto_server ready at ${url} (pid ${pid}, log ${LOG_FILE})"
      echo "export AWS_ENDPOINT_URL=${url}"
      return 0
    fi
    if ! kill -0 "${pid}" 2>/dev/null; then
      rm -f "${PID_FILE}"
      cat "${LOG_FILE}" >&2
      die "moto_server exited during startup (is port ${port} in use?)"
    fi
    sleep 0.5
  done
  kill "${pid}" 2>/dev/null || true
  rm -f "${PID_FILE}"
  die "moto_server did not answer at ${url} within 30 s (log: ${LOG_FILE})"
}

cmd_stop() {
  if ! is_running; then
    rm -f "${PID_FILE}"
    echo "emulator.sh: not running"
    return 0
  fi
  local pid
  pid="$(cat "${PID_FILE}")"
  kill "${pid}"
  local i
  for ((i = 0; i < 20; i++)); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.25
  done
  kill -0 "${pid}" 2>/dev/null && kill -9 "${pid}" 2>/dev/null
  rm -f "${PID_FILE}"
  echo "emulator.sh: stopped (pid ${pid})"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "${cmd}" in
  setup) cmd_setup ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop ;;
  *)
    echo "usage: $0 setup | start [port] | stop" >&2
    exit 2
    ;;
  esac
}

main "$@"
