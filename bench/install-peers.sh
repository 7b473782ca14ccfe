#!/usr/bin/env bash
# What `make bench` measures polyad against, installed when missing and outside polyad's venv:
# Glances from PyPI in a venv of its own (bench/.venv-peers, git-ignored), node_exporter and
# wrk from Debian. Safe to run again: it installs only what is not there.
set -euo pipefail

PYTHON=${PYTHON:-python3}
PEERS_VENV=${PEERS_VENV:-bench/.venv-peers}
GLANCES_VERSION=${GLANCES_VERSION:-4.5.8}   # pinned: figures compare across runs

packages=()
command -v wrk >/dev/null || packages+=(wrk)
command -v prometheus-node-exporter >/dev/null || command -v node_exporter >/dev/null \
    || packages+=(prometheus-node-exporter)
if ((${#packages[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "bench-peers: installing ${packages[*]} from Debian"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${packages[@]}" >/dev/null
    # The package starts its service on all interfaces where systemd runs; the bench starts
    # its own node_exporter on loopback, so the service installed here is stopped.
    if [[ " ${packages[*]} " == *" prometheus-node-exporter "* ]] && [ -d /run/systemd/system ]
    then
        $sudo systemctl disable --now prometheus-node-exporter.service || true
    fi
fi

if [ ! -x "$PEERS_VENV/bin/glances" ]; then
    echo "bench-peers: installing glances[web]==$GLANCES_VERSION in $PEERS_VENV"
    "$PYTHON" -m venv "$PEERS_VENV"
    "$PEERS_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$PEERS_VENV/bin/python" -m pip install --quiet "glances[web]==$GLANCES_VERSION"
fi
