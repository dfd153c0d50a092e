#!/usr/bin/env bash
# Builds ringbroker and installs it as a systemd service on this machine:
#   binary  /usr/local/bin/ringbroker
#   unit    /etc/systemd/system/ringbroker.service   (DynamicUser: the user is transient)
#   config  /etc/ringbroker/ringbroker.toml          (from --config, or the profile; kept
#                                                      if it exists)
#   data    /var/lib/ringbroker                       (StateDirectory, created by systemd)
#   sysctl  /etc/sysctl.d/60-ringbroker.conf
# Then it runs `ringbroker tune check` and starts the service.
#
# Usage: deploy/install.sh [--config FILE] [--profile NAME] [--no-start] [--dry-run]
#   --profile NAME  a tuning/profiles/NAME.toml used as the config when none exists
#   --dry-run       print the commands instead of running them
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
config=""
profile="vm-2core"
start=1
dry=0
run() { "$@"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --config) config="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        --no-start) start=0; shift ;;
        --dry-run) dry=1; run() { printf '+ %s\n' "$*"; }; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -z "$config" ]; then
    config="$repo/tuning/profiles/$profile.toml"
fi
if [ ! -f "$config" ]; then
    echo "install.sh: no config file $config" >&2
    exit 2
fi
if [ "$dry" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo), or with --dry-run to see the steps" >&2
    exit 2
fi

# Build as the user who ran sudo (the repo and cargo are theirs), install as root.
builder=()
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    builder=(sudo -u "$SUDO_USER" --preserve-env=PATH,CARGO_TARGET_DIR)
fi
run "${builder[@]}" cargo build --release --manifest-path "$repo/Cargo.toml" --bin ringbroker
binary="${CARGO_TARGET_DIR:-$repo/target}/release/ringbroker"

run install -D -m 0755 "$binary" /usr/local/bin/ringbroker
run install -D -m 0644 "$repo/deploy/ringbroker.service" /etc/systemd/system/ringbroker.service
run install -D -m 0644 "$repo/deploy/sysctl.conf" /etc/sysctl.d/60-ringbroker.conf
run install -D -m 0644 "$repo/README.md" /usr/local/share/doc/ringbroker/README.md
run install -d -m 0755 /etc/ringbroker
if [ -e /etc/ringbroker/ringbroker.toml ]; then
    echo "install.sh: keeping the existing /etc/ringbroker/ringbroker.toml"
else
    run install -m 0644 "$config" /etc/ringbroker/ringbroker.toml
fi

run sysctl --system
run /usr/local/bin/ringbroker tune check --config /etc/ringbroker/ringbroker.toml
run systemctl daemon-reload
if [ "$start" -eq 1 ]; then
    run systemctl enable --now ringbroker.service
    run systemctl --no-pager status ringbroker.service
fi
