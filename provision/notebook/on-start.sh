#!/bin/bash
# cost-watchdog: the on-start script of a SageMaker notebook instance lifecycle configuration.
#
# It lets the notebook tell cost-watchdog when it was last used, so that an unused notebook is warned and stopped
# (and a notebook in use never is): every 5 minutes a cron job asks the notebook's own Jupyter server, on
# localhost, for the last activity of its kernels and terminals (/api/sessions, /api/terminals; a kernel that is
# busy counts as now) and, when that is newer than what it wrote before, writes it into the notebook's tag
# cost-watchdog:last-activity (an ISO time). The start itself counts as activity. No custom metric, no cost.
#
# Nothing secret is in this file, and it sends nothing anywhere but that one tag on its own notebook. The
# notebook's execution role needs one statement (docs/notebooks-and-databases.md):
#   sagemaker:AddTags on this notebook instance's ARN, for the tag key cost-watchdog:last-activity only.
# Install: aws sagemaker create-notebook-instance-lifecycle-config \
#   --notebook-instance-lifecycle-config-name cost-watchdog-activity \
#   --on-start Content="$(base64 -w0 provision/notebook/on-start.sh)"
# then attach it to the notebook (stopped) with update-notebook-instance --lifecycle-config-name.
# Log: /var/log/cost-watchdog-activity.log. Lifecycle scripts must finish within 5 minutes: this one takes seconds.
set -euo pipefail

readonly TAG_KEY=cost-watchdog:last-activity
readonly METADATA=/opt/ml/metadata/resource-metadata.json
readonly STATE_DIR=/var/lib/cost-watchdog
readonly CONFIG=/etc/cost-watchdog-activity.env
readonly RUNNER=/usr/local/bin/cost-watchdog-activity
readonly LOG=/var/log/cost-watchdog-activity.log

exec >>"${LOG}" 2>&1

python_bin="$(command -v python3)"
aws_bin="$(command -v aws || true)"
if [[ -z "${aws_bin}" && -x /home/ec2-user/anaconda3/bin/aws ]]; then
  aws_bin=/home/ec2-user/anaconda3/bin/aws
fi
if [[ -z "${aws_bin}" ]]; then
  echo "cost-watchdog: no aws CLI found; last activity is not recorded"
  exit 0
fi
arn="$("${python_bin}" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ResourceArn"])' "${METADATA}")"
region="$(cut -d: -f4 <<<"${arn}")"

install -d -m 700 "${STATE_DIR}"
(umask 022 && printf 'ARN=%q\nREGION=%q\nAWS_BIN=%q\nPYTHON_BIN=%q\nTAG_KEY=%q\nSTATE=%q\nJUPYTER=%q\n' \
  "${arn}" "${region}" "${aws_bin}" "${python_bin}" "${TAG_KEY}" "${STATE_DIR}/last-activity" \
  https://localhost:8443 >"${CONFIG}")

cat >"${RUNNER}" <<'RUNNER'
#!/bin/bash
# cost-watchdog: writes the notebook's last kernel / terminal activity into its tag (see the lifecycle script).
set -euo pipefail
# shellcheck source=/dev/null
source "${COST_WATCHDOG_ACTIVITY_ENV:-/etc/cost-watchdog-activity.env}"

latest="$("${PYTHON_BIN}" - "${1:-}" "${JUPYTER}" <<'PY'
import datetime, json, ssl, sys, urllib.request

now = datetime.datetime.now(datetime.timezone.utc)
if sys.argv[1] == "--started":
    print(now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    sys.exit(0)
# The notebook's own Jupyter server on localhost, with its self-signed certificate.
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE

def get(path):
    try:
        with urllib.request.urlopen(sys.argv[2] + path, context=context, timeout=10) as answer:
            return json.load(answer)
    except Exception:
        return []

def parse(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

times = []
for session in get("/api/sessions"):
    kernel = session.get("kernel") or {}
    if kernel.get("execution_state") == "busy":
        times.append(now)
    elif kernel.get("last_activity"):
        times.append(parse(kernel["last_activity"]))
for terminal in get("/api/terminals"):
    if terminal.get("last_activity"):
        times.append(parse(terminal["last_activity"]))
print(min(max(times), now).strftime("%Y-%m-%dT%H:%M:%SZ") if times else "")
PY
)"
[[ -n "${latest}" ]] || exit 0
previous="$(cat "${STATE}" 2>/dev/null || true)"
# Same format on both sides, so a string comparison orders them by time.
if [[ -z "${previous}" || "${latest}" > "${previous}" ]]; then
  "${AWS_BIN}" sagemaker add-tags --region "${REGION}" --resource-arn "${ARN}" \
    --tags "Key=${TAG_KEY},Value=${latest}" >/dev/null
  printf '%s\n' "${latest}" >"${STATE}"
  echo "cost-watchdog: last activity ${latest}"
fi
RUNNER
chmod 755 "${RUNNER}"

printf '*/5 * * * * root %s >>%s 2>&1\n' "${RUNNER}" "${LOG}" >/etc/cron.d/cost-watchdog-activity
chmod 644 /etc/cron.d/cost-watchdog-activity

# The start counts as activity: the idle window is counted from here until a kernel or terminal is used.
rm -f "${STATE_DIR}/last-activity"
"${RUNNER}" --started || echo "cost-watchdog: could not write ${TAG_KEY} (does the execution role allow sagemaker:AddTags?)"
