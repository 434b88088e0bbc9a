#!/bin/bash
# cost-watchdog data-science setup: EC2 user data for `cost-watchdog provision --setup datascience|gpu`.
# cloud-init runs it once, as root, on the instance's first boot (Amazon Linux 2023, or the AWS Deep Learning
# AMI based on it). It installs Python 3, pip and, in a virtual environment for ec2-user, numpy, pandas,
# scikit-learn and JupyterLab, then runs JupyterLab as a systemd service that listens on 127.0.0.1 only.
#
# JupyterLab is never reachable from the network: connect through an SSH tunnel,
#   ssh -i KEY.pem -L 8888:localhost:8888 ec2-user@HOST
# and open http://localhost:8888/lab?token=TOKEN, where TOKEN is in /home/ec2-user/.jupyter/token (created
# here, on the instance, readable only by ec2-user; nothing secret is in this file).
# On a GPU instance (`--setup gpu`: nvidia-smi is there) it also installs the CloudWatch agent and has it publish
# GPU utilisation (nvidia_smi_utilization_gpu, namespace CWAgent, dimension InstanceId only, every 5 minutes), so
# that cost-watchdog judges a GPU box idle from its GPU, not just its CPU. The agent needs an instance role that may
# cloudwatch:PutMetricData into CWAgent (docs/notebooks-and-databases.md, "GPU"); one custom metric per GPU
# instance, $0.30 a month beyond CloudWatch's 10 free ones.
# Progress and errors: /var/log/cost-watchdog-setup.log. Takes about 5 minutes on a t3.micro.
set -euo pipefail

readonly OWNER=ec2-user
readonly HOME_DIR=/home/${OWNER}
readonly VENV=${HOME_DIR}/.venvs/datascience
readonly JUPYTER_DIR=${HOME_DIR}/.jupyter
readonly PORT=8888
readonly LOG=/var/log/cost-watchdog-setup.log
readonly PACKAGES=(numpy pandas scikit-learn jupyterlab)

exec >>"${LOG}" 2>&1
echo "cost-watchdog setup: started $(date -u +%Y-%m-%dT%H:%M:%SZ)"

as_owner() {
  runuser -u "${OWNER}" -- "$@"
}

# Python 3 and pip from the distribution (already there on the Deep Learning AMI: then this changes nothing).
dnf install -y python3 python3-pip

# The packages go into a virtual environment owned by ec2-user, not into the system Python.
if [[ ! -x "${VENV}/bin/python" ]]; then
  as_owner mkdir -p "$(dirname "${VENV}")"
  as_owner python3 -m venv "${VENV}"
fi
as_owner "${VENV}/bin/python" -m pip install --no-cache-dir --upgrade pip
as_owner "${VENV}/bin/python" -m pip install --no-cache-dir "${PACKAGES[@]}"

# A random token, made here on the instance, readable only by ec2-user. JupyterLab reads it from its config.
install -d -m 700 -o "${OWNER}" -g "${OWNER}" "${JUPYTER_DIR}"
if [[ ! -s "${JUPYTER_DIR}/token" ]]; then
  (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(24))' >"${JUPYTER_DIR}/token")
fi
token="$(cat "${JUPYTER_DIR}/token")"
(umask 077 && printf '{"IdentityProvider": {"token": "%s"}}\n' "${token}" >"${JUPYTER_DIR}/jupyter_server_config.json")
unset token
chown "${OWNER}:${OWNER}" "${JUPYTER_DIR}/token" "${JUPYTER_DIR}/jupyter_server_config.json"

# JupyterLab as a service of ec2-user, bound to the loopback address only.
cat >/etc/systemd/system/jupyterlab.service <<UNIT
[Unit]
Description=JupyterLab for ${OWNER} on 127.0.0.1:${PORT} (cost-watchdog; reach it through an SSH tunnel)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${OWNER}
Group=${OWNER}
WorkingDirectory=${HOME_DIR}
ExecStart=${VENV}/bin/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=${PORT} --ServerApp.port_retries=0
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now jupyterlab.service

# GPU utilisation for cost-watchdog's idle rule, on GPU instances only.
if command -v nvidia-smi >/dev/null 2>&1; then
  dnf install -y amazon-cloudwatch-agent
  install -d -m 755 /opt/aws/amazon-cloudwatch-agent/etc
  # One series per instance: the per-GPU originals are dropped after aggregating to InstanceId.
  cat >/opt/aws/amazon-cloudwatch-agent/etc/cost-watchdog-gpu.json <<'AGENT'
{
  "agent": { "metrics_collection_interval": 300, "run_as_user": "cwagent" },
  "metrics": {
    "namespace": "CWAgent",
    "append_dimensions": { "InstanceId": "${aws:InstanceId}" },
    "aggregation_dimensions": [["InstanceId"]],
    "metrics_collected": {
      "nvidia_gpu": {
        "measurement": ["utilization_gpu"],
        "metrics_collection_interval": 300,
        "drop_original_metrics": ["utilization_gpu"]
      }
    }
  }
}
AGENT
  /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
    -c file:/opt/aws/amazon-cloudwatch-agent/etc/cost-watchdog-gpu.json
  echo "cost-watchdog setup: CloudWatch agent publishes GPU utilisation (CWAgent nvidia_smi_utilization_gpu)"
fi

echo "cost-watchdog setup: done $(date -u +%Y-%m-%dT%H:%M:%SZ); JupyterLab on 127.0.0.1:${PORT}"
