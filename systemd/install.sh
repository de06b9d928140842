#!/usr/bin/env bash
# Install omo-edge as a systemd service from this checkout. Idempotent.
#   sudo systemd/install.sh              install or upgrade
#   systemd/install.sh --dry-run         print what it would do
#   --prefix DIR                         install under DIR (for tests and images)
set -euo pipefail

DRY=0
PREFIX=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

SRC="$(cd "$(dirname "$0")/.." && pwd)"
OPT="$PREFIX/opt/omo-edge"
ETC="$PREFIX/etc/omo-edge"
UNITS="$PREFIX/etc/systemd/system"
STATE="$PREFIX/var/lib/omo-edge"

run() {
  if [ "$DRY" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}

if [ "$DRY" = 0 ] && [ -z "$PREFIX" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo $0), or use --dry-run" >&2
  exit 1
fi

if [ -z "$PREFIX" ] && ! id omo-edge >/dev/null 2>&1; then
  run useradd --system --home-dir /var/lib/omo-edge --shell /usr/sbin/nologin omo-edge
fi
if [ -z "$PREFIX" ]; then
  for group in dialout video bluetooth render input; do
    if getent group "$group" >/dev/null; then run usermod -a -G "$group" omo-edge; fi
  done
fi

run mkdir -p "$OPT" "$ETC" "$UNITS" "$STATE"
run cp -a "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/edge" "$SRC/drivers" "$SRC/sim" \
  "$SRC/signage" "$SRC/models" "$OPT/"
run python3 -m venv "$OPT/.venv"
run "$OPT/.venv/bin/pip" install --quiet "$OPT"

if [ ! -e "$ETC/config.toml" ]; then
  run cp "$SRC/edge/example-config.toml" "$ETC/config.toml"
  echo "wrote $ETC/config.toml from the example: edit it, then run omo-edge config check"
fi
if [ ! -e "$ETC/env" ]; then
  if [ "$DRY" = 1 ]; then
    printf '+ create %s (mode 0600) for secrets\n' "$ETC/env"
  else
    install -m 0600 /dev/null "$ETC/env"
    printf '# secrets: OMO_EDGE_BROKER_PASSWORD=...\n# OMO_EDGE_PSEUDONYM_KEY=...\n' > "$ETC/env"
  fi
fi
run install -m 0644 "$SRC/systemd/omo-edge.service" "$SRC/systemd/omo-edge-signage.service" \
  "$UNITS/"
if [ -z "$PREFIX" ]; then
  run chown -R omo-edge:omo-edge "$STATE"
  run systemctl daemon-reload
  run systemctl enable omo-edge.service
  echo "installed; start with: systemctl start omo-edge && omo-edge doctor"
fi
