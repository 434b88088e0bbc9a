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

echo "cost-watchdog setup: done $(date -u +%Y-%m-%dT%H:%M:%SZ); JupyterLab on 127.0.0.1:${PORT}"
