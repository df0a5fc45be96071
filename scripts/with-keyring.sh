#!/usr/bin/env bash
# Usage: scripts/with-keyring.sh CMD [ARGS...]
#
# Runs CMD inside a private D-Bus session with a throwaway, unlocked gnome-keyring, so the
# keychain tests talk to a real Secret Service without touching the user's own keyring.
# Without dbus-run-session/gnome-keyring-daemon, CMD runs as is (keychain tests then skip,
# or fail when CI=true). CMD's exit status is propagated either way. Inside, CMD sees
# DBUS_SESSION_BUS_ADDRESS of the private bus, WITH_KEYRING_ACTIVE=1, and no DISPLAY.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
  echo "with-keyring: dbus-run-session or gnome-keyring-daemon not installed; running without a keychain" \
    "(install dbus, gnome-keyring and libsecret-tools to run the keychain tests)" >&2
  exec "$@"
fi

# First pass: re-enter this script inside a fresh session bus. dbus-run-session stops the bus
# when we exit and returns our exit status. Without a display, the throwaway keyring can never
# pop an unlock prompt onto the developer's screen; it fails the request instead.
if [[ -z "${WITH_KEYRING_IN_SESSION:-}" ]]; then
  export WITH_KEYRING_IN_SESSION=1
  exec env -u DISPLAY -u WAYLAND_DISPLAY dbus-run-session -- bash "$0" "$@"
fi
unset WITH_KEYRING_IN_SESSION

keyring_home=$(mktemp -d "${TMPDIR:-/tmp}/with-keyring.XXXXXXXX")
chmod 700 "$keyring_home"
mkdir -m 700 "$keyring_home/data" "$keyring_home/config" "$keyring_home/cache" "$keyring_home/runtime"
daemon_pid=""

cleanup() {
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill "$daemon_pid" 2>/dev/null || true
    # Bounded wait: the daemon normally exits at once on SIGTERM.
    for _ in $(seq 1 50); do
      kill -0 "$daemon_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$keyring_home"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Services the bus starts on demand (the unlock prompter; gnome-keyring itself, should ours
# die) get the throwaway home too, so nothing lands in the real HOME or the real keyrings.
dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.UpdateActivationEnvironment \
  "dict:string:string:HOME,$keyring_home,XDG_DATA_HOME,$keyring_home/data,XDG_CONFIG_HOME,$keyring_home/config,XDG_CACHE_HOME,$keyring_home/cache,XDG_RUNTIME_DIR,$keyring_home/runtime" \
  >/dev/null || echo "with-keyring: could not set the bus activation environment (continuing)" >&2

# Any password will do: the keyring lives only as long as this run. --unlock reads it from
# stdin and creates (or unlocks) the "login" collection with it.
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$keyring_home/password"

HOME="$keyring_home" \
  XDG_DATA_HOME="$keyring_home/data" \
  XDG_CONFIG_HOME="$keyring_home/config" \
  XDG_CACHE_HOME="$keyring_home/cache" \
  XDG_RUNTIME_DIR="$keyring_home/runtime" \
  gnome-keyring-daemon --foreground --unlock --components=secrets \
  <"$keyring_home/password" >"$keyring_home/daemon.log" 2>&1 &
daemon_pid=$!

name_owned() {
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true
}

# The login collection is created by --unlock; until it is the default alias, secret-tool and
# the keyring library have nowhere to store.
default_collection() {
  dbus-send --session --print-reply=literal --dest=org.freedesktop.secrets /org/freedesktop/secrets \
    org.freedesktop.Secret.Service.ReadAlias string:default 2>/dev/null | tr -d ' \n'
}

ready=""
for _ in $(seq 1 100); do
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "with-keyring: gnome-keyring-daemon exited early:" >&2
    cat "$keyring_home/daemon.log" >&2
    exit 1
  fi
  if name_owned && [[ "$(default_collection)" == /org/freedesktop/secrets/collection/* ]]; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "with-keyring: the Secret Service did not come up within 10 s" >&2
  cat "$keyring_home/daemon.log" >&2
  exit 1
fi

export WITH_KEYRING_ACTIVE=1
set +e
"$@"
status=$?
set -e
exit "$status"
