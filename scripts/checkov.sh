#!/usr/bin/env bash
# Static security scan of the packaged stack with checkov, pinned in scripts/requirements-checkov.txt and
# installed into its own venv (.venv-checkov; its pins conflict with moto's). Findings that are accepted are
# listed with their reasons in .checkov.yaml (skip-check); every other finding fails the run.
#
#   bash scripts/checkov.sh [template]   default: .serverless/cloudformation-template-update-stack.json
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv-checkov"
REQUIREMENTS="${ROOT}/scripts/requirements-checkov.txt"
STAMP="${VENV}/.requirements.sha"
TEMPLATE="${1:-${ROOT}/.serverless/cloudformation-template-update-stack.json}"
PYTHON="${PYTHON:-python3}"

want="$(sha256sum "${REQUIREMENTS}" 2>/dev/null | cut -d' ' -f1 || shasum -a 256 "${REQUIREMENTS}" | cut -d' ' -f1)"
if [[ ! -x "${VENV}/bin/checkov" || ! -f "${STAMP}" || "$(cat "${STAMP}")" != "${want}" ]]; then
  command -v "${PYTHON}" >/dev/null 2>&1 || {
    echo "checkov.sh: python3 (3.9+, with venv) is required; see scripts/emulator.sh for how to install it" >&2
    exit 1
  }
  [[ -x "${VENV}/bin/python" ]] || "${PYTHON}" -m venv "${VENV}"
  echo "checkov.sh: installing ${REQUIREMENTS#"${ROOT}/"} into ${VENV}" >&2
  "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${REQUIREMENTS}" >&2
  printf '%s\n' "${want}" >"${STAMP}"
fi

[[ -f "${TEMPLATE}" ]] || {
  echo "checkov.sh: ${TEMPLATE} not found; run: npx serverless package --param alertEmail=ci@example.com" >&2
  exit 1
}
cd "${ROOT}"
# Offline: no Bridgecrew/Prisma platform, no version check, no telemetry.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
exec "${VENV}/bin/checkov" --config-file "${ROOT}/.checkov.yaml" --file "${TEMPLATE}" --framework cloudformation \
  --compact --quiet --skip-download
