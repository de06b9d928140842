#!/usr/bin/env bash
# Install or upgrade omo-edge as a systemd service from this checkout. Idempotent: run it
# again to upgrade; it keeps /etc/omo-edge/config.toml and /etc/omo-edge/env.
#   sudo systemd/install.sh              install or upgrade, then restart a running service
#   systemd/install.sh --dry-run         print what it would do, change nothing
#   --prefix DIR                         install under DIR (tests, image builds): no user,
#                                        no chown, no systemctl
#   --no-venv                            do not create or update the venv (tests)
set -euo pipefail

DRY=0
PREFIX=""
VENV=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --prefix=*) PREFIX="${1#--prefix=}" ;;
    --no-venv) VENV=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$PREFIX" ]; then
  case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
  PREFIX="${PREFIX%/}"
fi

SRC="$(cd "$(dirname "$0")/.." && pwd)"
OPT="$PREFIX/opt/omo-edge"
ETC="$PREFIX/etc/omo-edge"
UNITS="$PREFIX/etc/systemd/system"
STATE="$PREFIX/var/lib/omo-edge"
USER_NAME=omo-edge
GROUPS_WANTED="dialout video bluetooth render input"
PYTHON="${PYTHON:-python3}"

say() { printf '%s\n' "$*"; }
run() {
  if [ "$DRY" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
# write FILE MODE TEXT: create FILE with MODE (never briefly wider) holding TEXT
write() {
  if [ "$DRY" = 1 ]; then printf '+ create %s (mode %s)\n' "$1" "$2"; return; fi
  (umask 077 && printf '%s' "$3" > "$1.tmp")
  chmod "$2" "$1.tmp"
  mv -f "$1.tmp" "$1"
}

# load_env FILE: export its KEY=value lines the way systemd's EnvironmentFile= reads them
# (comments, optional quotes), without running the file as shell.
load_env() {
  local line key val
  [ -f "$1" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line#"${line%%[![:space:]]*}"}"
    case "$line" in ''|'#'*|';'*) continue ;; esac
    key="${line%%=*}"; val="${line#*=}"
    key="${key%"${key##*[![:space:]]}"}"
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    val="${val#"${val%%[![:space:]]*}"}"
    case "$val" in \'*\') val="${val:1:${#val}-2}" ;; \"*\") val="${val:1:${#val}-2}" ;; esac
    export "$key=$val"
  done < "$1"
}

if [ "$DRY" = 0 ] && [ -z "$PREFIX" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo $0), or use --dry-run or --prefix DIR" >&2
  exit 1
fi
for f in pyproject.toml edge/example-config.toml systemd/omo-edge.service \
         systemd/omo-edge-signage.service; do
  [ -f "$SRC/$f" ] || { echo "install.sh: $SRC/$f is missing: run it from a checkout" >&2; exit 1; }
done
if [ "$VENV" = 1 ] && ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "install.sh: omo-edge needs Python 3.11 or newer as $PYTHON" >&2
  exit 1
fi

# 1. The service user, in the groups that give it the devices (only those that exist here).
if [ -z "$PREFIX" ]; then
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    run useradd --system --user-group --no-create-home --home-dir /var/lib/omo-edge \
      --shell /usr/sbin/nologin --comment "omo-edge service" "$USER_NAME"
  fi
  for group in $GROUPS_WANTED; do
    if getent group "$group" >/dev/null; then
      run usermod -a -G "$group" "$USER_NAME"
    else
      say "note: no group $group on this system; skipped"
    fi
  done
fi

# 2. The code: a clean copy of the checkout in $OPT/src, installed into $OPT/.venv.
run mkdir -p "$OPT" "$ETC" "$UNITS" "$STATE"
if [ "$DRY" = 1 ]; then
  say "+ copy $SRC (pyproject.toml README.md LICENSE* edge drivers sim signage models) to $OPT/src"
else
  rm -rf "$OPT/src.new"
  mkdir -p "$OPT/src.new"
  for item in pyproject.toml README.md LICENSE LICENSE.txt edge drivers sim signage models; do
    if [ -e "$SRC/$item" ]; then cp -R "$SRC/$item" "$OPT/src.new/"; fi
  done
  find "$OPT/src.new" -name __pycache__ -prune -exec rm -rf {} +
  rm -rf "$OPT/src"
  mv "$OPT/src.new" "$OPT/src"
fi
if [ "$VENV" = 1 ]; then
  run "$PYTHON" -m venv "$OPT/.venv"
  # --upgrade replaces omo-edge itself; dependencies move only when they no longer fit.
  run "$OPT/.venv/bin/pip" install --quiet --upgrade "$OPT/src"
  # `omo-edge doctor`, `omo-edge status` ... on the admin's PATH.
  run mkdir -p "$PREFIX/usr/local/bin"
  run ln -sfn "$OPT/.venv/bin/omo-edge" "$PREFIX/usr/local/bin/omo-edge"
fi

# 3. Config and secrets: written once, never overwritten.
if [ -e "$ETC/config.toml" ]; then
  say "kept $ETC/config.toml"
else
  run install -m 0644 "$SRC/edge/example-config.toml" "$ETC/config.toml"
  say "wrote $ETC/config.toml from the example: edit it, then run omo-edge config check"
fi
if [ -e "$ETC/env" ]; then
  run chmod 0600 "$ETC/env"
else
  write "$ETC/env" 0600 "# Secrets for omo-edge, read by systemd (EnvironmentFile=): KEY='value' lines
# (single quotes keep spaces and symbols literal). Name them in config.toml with
# broker.password_env / privacy.pseudonym_key_env.
# OMO_EDGE_BROKER_PASSWORD=
# OMO_EDGE_PSEUDONYM_KEY=
"
fi

# 4. Check the config with the code just installed, secrets loaded as systemd will.
CONFIG_OK=1
if [ "$DRY" = 0 ] && [ -x "$OPT/.venv/bin/omo-edge" ]; then
  if ! (load_env "$ETC/env" &&
        "$OPT/.venv/bin/omo-edge" config check --config "$ETC/config.toml" >/dev/null); then
    CONFIG_OK=0
    say "WARNING: $ETC/config.toml does not pass this version's check (above):"
    say "  fix it, then: systemctl restart omo-edge. The running service was not restarted."
  fi
elif [ "$DRY" = 1 ]; then
  say "+ omo-edge config check --config $ETC/config.toml (with $ETC/env loaded)"
fi

# 5. The units.
run install -m 0644 "$SRC/systemd/omo-edge.service" "$SRC/systemd/omo-edge-signage.service" \
  "$UNITS/"
if [ -z "$PREFIX" ]; then
  run chown -R "$USER_NAME:$USER_NAME" "$STATE"
  run chmod 0750 "$STATE"
  run systemctl daemon-reload
  run systemctl enable omo-edge.service
  # An upgrade restarts what runs; a fresh install waits for the config to be edited.
  if [ "$CONFIG_OK" = 1 ]; then
    run systemctl try-restart omo-edge.service omo-edge-signage.service
  fi
  if [ "$DRY" = 0 ]; then
    say "installed. Next: sudoedit $ETC/config.toml; sudoedit $ETC/env;"
    say "  systemctl start omo-edge && omo-edge doctor"
  fi
fi
