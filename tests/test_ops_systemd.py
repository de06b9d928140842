"""The systemd units verify clean and agree with what the daemon does (sd_notify, stop time,
exit codes); the installer's dry run and a real `--prefix` install, run twice."""

from __future__ import annotations

import configparser
import inspect
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
INSTALL = SYSTEMD / "install.sh"
UNITS = ["omo-edge.service", "omo-edge-signage.service"]
VENV_BIN = Path(sys.executable).parent
BAD = ("unknown key", "unknown section", "invalid", "failed to parse", "ignoring",
       "not executable", "no such file", "unknown lvalue", "missing '='")
needs_verify = pytest.mark.skipif(not shutil.which("systemd-analyze"),
                                  reason="systemd-analyze not installed")


def unit_copy(tmp: Path, name: str, edit: tuple[str, str] | None = None) -> Path:
    """The unit with ExecStart pointing at this venv (verify wants the binary to exist)."""
    text = (SYSTEMD / name).read_text().replace("/opt/omo-edge/.venv/bin", str(VENV_BIN))
    if edit:
        assert edit[0] in text
        text = text.replace(*edit)
    path = tmp / name
    path.write_text(text)
    return path


def verify(*units: Path) -> str:
    r = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True,
                       text=True, timeout=60, cwd=units[0].parent)
    return r.stdout + r.stderr


def complaints(out: str, unit: Path) -> list[str]:
    return [line for line in out.splitlines()
            if unit.name in line and any(b in line.lower() for b in BAD)]


def sections(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       inline_comment_prefixes=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / name)
    return parser


# ------------------------------------------------------------------------ verify
@needs_verify
def test_units_verify_clean(tmp_path: Path) -> None:
    units = [unit_copy(tmp_path, name) for name in UNITS]
    out = verify(*units)
    for unit in units:
        assert not complaints(out, unit), out


@needs_verify
@pytest.mark.parametrize(("edit", "expected"), [
    (("RestartSec=5", "RestartSec=5\nRestartt=no"), "Unknown key"),
    (("[Install]", "[Instal]"), "Unknown section"),
    (("WatchdogSec=30", "WatchdogSec=thirty"), "Failed to parse"),
])
def test_verify_would_catch_a_broken_unit(tmp_path: Path, edit: tuple[str, str],
                                          expected: str) -> None:
    unit = unit_copy(tmp_path, UNITS[0], edit)
    out = verify(unit)
    assert complaints(out, unit) and expected in out, out


# ------------------------------------------------------- what the units promise
def test_the_daemon_unit_matches_the_daemon() -> None:
    from edge.daemon import SHUTDOWN_BUDGET_S, StatusReporter

    unit = sections("omo-edge.service")
    svc, top = unit["Service"], unit["Unit"]
    assert svc["Type"] == "notify" and svc["NotifyAccess"] == "main"
    assert svc["ExecStart"] == ("/opt/omo-edge/.venv/bin/omo-edge run --config "
                                "/etc/omo-edge/config.toml")
    pet_every = inspect.signature(StatusReporter).parameters["every_s"].default
    assert pet_every * 4 <= int(svc["WatchdogSec"])
    assert SHUTDOWN_BUDGET_S < int(svc["TimeoutStopSec"]) == 10
    assert svc["Restart"] == "on-failure" and svc["RestartPreventExitStatus"] == "2"
    assert int(top["StartLimitBurst"]) >= 3 and int(top["StartLimitIntervalSec"]) > 0
    assert svc["User"] == "omo-edge" and svc["StateDirectory"] == "omo-edge"
    assert svc["ConfigurationDirectory"] == "omo-edge"
    assert svc["EnvironmentFile"] == "-/etc/omo-edge/env"
    assert svc["ProtectSystem"] == "strict" and svc["NoNewPrivileges"] == "yes"
    # AF_UNIX: D-Bus to BlueZ, sd_notify, record.sock; AF_INET/6: MQTT; AF_NETLINK: glibc's
    # getaddrinfo. BLE goes through BlueZ over D-Bus, no AF_BLUETOOTH socket of our own.
    families = set(svc["RestrictAddressFamilies"].split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}


def _megabytes(value: str) -> float:
    units = {"K": 1 / 1024, "M": 1, "G": 1024}
    return float(value[:-1]) * units[value[-1]]


def test_the_daemon_unit_caps_memory_above_what_the_daemon_uses() -> None:
    """MemoryHigh= (reclaim, throttle) below MemoryMax= (killed, restarted); both well above
    the 150 MB the daemon must stay under in a command flood and the 178 MB a whole
    simulated store day (world and daemon in one process) peaked at."""
    svc = sections("omo-edge.service")["Service"]
    high, cap = _megabytes(svc["MemoryHigh"]), _megabytes(svc["MemoryMax"])
    assert 178 * 1.25 <= high < cap <= 512
    assert cap >= 2 * 150


def _analyze_security(unit: Path) -> float:
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                        str(unit)], capture_output=True, text=True, timeout=60,
                       cwd=unit.parent)
    out = r.stdout + r.stderr
    if "offline" in out.lower() and ("unknown" in out.lower() or "unrecognized" in out.lower()):
        pytest.skip("this systemd-analyze has no security --offline")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert found, out
    return float(found.group(1))


@needs_verify
@pytest.mark.parametrize(("name", "most"), [("omo-edge.service", 2.5),
                                            ("omo-edge-signage.service", 2.5)])
def test_units_are_hardened(tmp_path: Path, name: str, most: float) -> None:
    exposure = _analyze_security(unit_copy(tmp_path, name))
    assert exposure <= most, f"{name}: exposure {exposure}"


@needs_verify
def test_the_security_score_would_catch_a_weakened_unit(tmp_path: Path) -> None:
    (tmp_path / "weak").mkdir()
    weak = unit_copy(tmp_path / "weak", UNITS[0], ("SystemCallFilter=~@privileged\n", ""))
    assert _analyze_security(weak) > _analyze_security(unit_copy(tmp_path, UNITS[0]))


@pytest.mark.parametrize("name", UNITS)
def test_no_setting_hides_the_devices(name: str) -> None:
    """PrivateDevices hides /dev/tty*, /dev/video*; DeviceAllow (also implied by
    ProtectClock) turns on an allow-list that would shut out hot-plugged shelves and cameras."""
    svc = sections(name)["Service"]
    assert not {"PrivateDevices", "DeviceAllow", "DevicePolicy", "ProtectClock",
                "PrivateUsers"} & set(svc)


def test_the_signage_unit_is_independent() -> None:
    unit = sections("omo-edge-signage.service")
    assert unit["Service"]["ExecStart"].startswith(
        "/opt/omo-edge/.venv/bin/omo-edge signage --config /etc/omo-edge/config.toml")
    deps = " ".join(unit["Unit"].get(k, "") for k in ("Requires", "BindsTo", "PartOf"))
    assert "omo-edge.service" not in deps  # a daemon restart must not stop the screens
    # WantedBy=multi-user.target plus After=graphical.target would be an ordering cycle.
    assert "graphical.target" not in unit["Unit"].get("After", "")


# -------------------------------------------------------------- sd_notify, live
def test_the_daemon_speaks_sd_notify_as_the_unit_expects(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nid = "s"\ndevice = "d"\n[storage]\npath = "{tmp_path}/e.db"\n'
                      'min_free_mb = 0\n')
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMO_EDGE_", "JOURNAL"))}
        env.update(NOTIFY_SOCKET=address, WATCHDOG_USEC="30000000")
        proc = subprocess.Popen([str(VENV_BIN / "omo-edge"), "run", "--config", str(config)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            seen: list[str] = []

            def until(word: str) -> None:
                while not any(word in m for m in seen):
                    seen.append(sock.recv(4096).decode())

            until("READY=1")
            until("WATCHDOG=1")
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            until("STOPPING=1")
            assert proc.wait(timeout=10) == 0
            assert time.monotonic() - started < 5.0  # TimeoutStopSec=10 leaves room
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()
    assert seen[0].startswith("READY=1")


# ------------------------------------------- under the unit's system call filter
# Builds the seccomp filters systemd builds from the unit's SystemCallFilter= lines and
# MemoryDenyWriteExecute=yes (the rules of systemd's seccomp-util.c), then runs argv[2:].
SANDBOX = r"""
import errno, mmap, os, subprocess, sys
import seccomp

def expand(name):
    if not name.startswith("@"):
        return {name}
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True).stdout
    return set().union(*(expand(w.strip()) for w in out.splitlines()[1:]
                         if w.strip() and not w.strip().startswith("#")))

allowed = set()
for line in sys.argv[1].splitlines():
    deny = line.startswith("~")
    names = set().union(*map(expand, line.lstrip("~").split()))
    allowed = allowed - names if deny else allowed | names
wx = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
eperm = seccomp.ERRNO(errno.EPERM)
both = mmap.PROT_EXEC | mmap.PROT_WRITE
wx.add_rule(eperm, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, both, both))
for call in ("mprotect", "pkey_mprotect"):
    wx.add_rule(eperm, call, seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC))
wx.add_rule(eperm, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, 0o100000, 0o100000))
calls = seccomp.SyscallFilter(defaction=eperm)
for name in allowed:
    try:
        calls.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError):
        pass  # not a call on this architecture
wx.load()
calls.load()
os.execv(sys.argv[2], sys.argv[2:])
"""
SYSTEM_PYTHON = "/usr/bin/python3"


def sandboxed(*argv: str) -> list[str]:
    """argv under the daemon unit's system call filter and W^X, as systemd would run it."""
    unit = (SYSTEMD / "omo-edge.service").read_text()
    lines = re.findall(r"^SystemCallFilter=(.+)$", unit, re.M)
    assert re.search(r"^SystemCallErrorNumber=EPERM$", unit, re.M)
    assert re.search(r"^MemoryDenyWriteExecute=yes$", unit, re.M)
    return [SYSTEM_PYTHON, "-c", SANDBOX, "\n".join(lines), *argv]


def _has_seccomp() -> bool:
    if not (shutil.which("systemd-analyze") and os.path.exists(SYSTEM_PYTHON)):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"],
                          capture_output=True).returncode == 0


needs_seccomp = pytest.mark.skipif(not _has_seccomp(),
                                   reason="no python3-seccomp for /usr/bin/python3")


@needs_seccomp
def test_numpy_opencv_onnxruntime_work_under_the_units_filter() -> None:
    code = ("import mmap, numpy, cv2, onnxruntime\n"
            "img = numpy.zeros((480, 640, 3), numpy.uint8)\n"
            "ok, jpg = cv2.imencode('.jpg', img); assert cv2.imdecode(jpg, 1).shape == img.shape\n"
            "onnxruntime.SessionOptions()\n"
            "try:\n"
            "    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
            "except PermissionError:\n"
            "    print('W^X holds')\n")
    r = subprocess.run(sandboxed(sys.executable, "-c", code), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "W^X holds" in r.stdout, r.stderr


@needs_seccomp
def test_the_daemon_runs_under_the_units_filter(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nid = "s"\ndevice = "d"\n[storage]\npath = "{tmp_path}/e.db"\n'
                      f'state_dir = "{tmp_path}"\nmin_free_mb = 0\n'
                      f'[broker]\nhost = "127.0.0.1"\nport = {_free_port()}\n')
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMO_EDGE_", "JOURNAL"))}
        env.update(NOTIFY_SOCKET=address, WATCHDOG_USEC="30000000")
        proc = subprocess.Popen(sandboxed(str(VENV_BIN / "omo-edge"), "run", "--config",
                                          str(config)),
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            seen: list[str] = []
            while not any("WATCHDOG=1" in m for m in seen):
                seen.append(sock.recv(4096).decode())
            deadline = time.monotonic() + 20
            while not all((tmp_path / n).exists() for n in ("status.json", "commands.db")):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            status = subprocess.run([str(VENV_BIN / "omo-edge"), "status", "--config",
                                     str(config)], capture_output=True, text=True, timeout=30)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
    assert any(m.startswith("READY=1") for m in seen)
    assert "running" in status.stdout, status.stdout + status.stderr
    assert "Traceback" not in err and "Operation not permitted" not in err, err


# ------------------------------------------------------------------ file modes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("umask", ["unit", 0o022])
def test_state_files_are_group_readable_and_never_world_readable(
        tmp_path: Path, umask: str | int) -> None:
    """Under the unit's UMask= and when started by hand with a loose umask: the state dir
    0750, the event log, command store and status file 0640 (an operator in the service's
    group can run `omo-edge status`), the recording socket 0600, nothing for the world."""
    if umask == "unit":
        umask = int(sections("omo-edge.service")["Service"]["UMask"], 8)
    assert isinstance(umask, int)
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nid = "s"\ndevice = "d"\n[storage]\npath = "{state}/events.db"\n'
                      f'state_dir = "{state}"\nmin_free_mb = 0\n'
                      f'[broker]\nhost = "127.0.0.1"\nport = {_free_port()}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMO_EDGE_", "NOTIFY"))}
    wanted = ["events.db", "commands.db", "status.json", "record.sock"]
    proc = subprocess.Popen([str(VENV_BIN / "omo-edge"), "run", "--config", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: os.umask(umask))  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 30
        while not all((state / n).exists() for n in wanted):
            assert proc.poll() is None and time.monotonic() < deadline, "daemon did not start"
            time.sleep(0.1)
        time.sleep(0.5)  # the socket's chmod follows its bind
        modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in state.rglob("*")}
        modes["."] = stat.S_IMODE(state.stat().st_mode)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert modes["."] == 0o750
    for name in ("events.db", "commands.db", "status.json"):
        assert modes[name] == 0o640, (name, oct(modes[name]))
    assert modes["record.sock"] == 0o600
    loose = {n: oct(m) for n, m in modes.items() if m & 0o007 or m & 0o020}
    assert not loose, f"world-accessible or group-writable: {loose}"


# ---------------------------------------------------------------------- installer
def install(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMO_EDGE_")}
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_the_installer_is_strict_bash() -> None:
    text = INSTALL.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert subprocess.run(["bash", "-n", str(INSTALL)]).returncode == 0
    assert INSTALL.stat().st_mode & stat.S_IXUSR


def test_installer_dry_run_changes_nothing(tmp_path: Path) -> None:
    r = install("--dry-run", "--prefix", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (f"+ install -m 0644 {ROOT}/edge/example-config.toml "
            f"{tmp_path}/etc/omo-edge/config.toml") in r.stdout
    assert f"+ create {tmp_path}/etc/omo-edge/env (mode 0600)" in r.stdout
    assert f"{tmp_path}/opt/omo-edge/.venv/bin/pip install" in r.stdout
    assert "systemctl" not in r.stdout and "useradd" not in r.stdout  # not under a prefix
    assert not any(tmp_path.iterdir()), "a dry run changes nothing"


def test_installer_dry_run_for_the_real_system() -> None:
    r = install("--dry-run")
    assert r.returncode == 0, r.stderr
    for step in ("+ systemctl daemon-reload", "+ systemctl enable omo-edge.service",
                 "+ install -m 0644", "/etc/systemd/system/"):
        assert step in r.stdout
    if subprocess.run(["id", "omo-edge"], capture_output=True).returncode != 0:
        assert "+ useradd --system --user-group" in r.stdout


def test_installer_rejects_unknown_options() -> None:
    r = install("--frobnicate")
    assert r.returncode == 2 and "unknown option --frobnicate" in r.stderr


def test_installer_into_a_prefix_twice_keeps_config_and_secrets(tmp_path: Path) -> None:
    r = install("--prefix", str(tmp_path), "--no-venv")
    assert r.returncode == 0, r.stderr
    etc = tmp_path / "etc" / "omo-edge"
    assert (etc / "config.toml").read_text() == (ROOT / "edge" / "example-config.toml").read_text()
    assert stat.S_IMODE((etc / "env").stat().st_mode) == 0o600
    for name in UNITS:
        installed = tmp_path / "etc" / "systemd" / "system" / name
        assert installed.read_text() == (SYSTEMD / name).read_text()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    src = tmp_path / "opt" / "omo-edge" / "src"
    assert (src / "edge" / "doctor.py").is_file() and (src / "pyproject.toml").is_file()
    assert not list(src.rglob("__pycache__"))

    (etc / "config.toml").write_text("# edited by the store\n")
    (etc / "env").write_text("OMO_EDGE_BROKER_PASSWORD=s3cret\n")
    (etc / "env").chmod(0o644)
    (src / "edge" / "stale_module.py").write_text("")
    r = install("--prefix", str(tmp_path), "--no-venv")
    assert r.returncode == 0, r.stderr
    assert f"kept {etc}/config.toml" in r.stdout
    assert (etc / "config.toml").read_text() == "# edited by the store\n"
    assert (etc / "env").read_text() == "OMO_EDGE_BROKER_PASSWORD=s3cret\n"
    assert stat.S_IMODE((etc / "env").stat().st_mode) == 0o600, "mode drift is repaired"
    assert not (src / "edge" / "stale_module.py").exists(), "an upgrade drops removed files"


def test_installer_checks_the_config_with_the_new_code(tmp_path: Path) -> None:
    venv_bin = tmp_path / "opt" / "omo-edge" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "omo-edge").symlink_to(VENV_BIN / "omo-edge")
    r = install("--prefix", str(tmp_path), "--no-venv")
    assert r.returncode == 0 and "WARNING" not in r.stdout, r.stdout + r.stderr
    config = tmp_path / "etc" / "omo-edge" / "config.toml"
    config.write_text(config.read_text().replace("max_mb = 1024", "max_megabytes = 1024"))
    r = install("--prefix", str(tmp_path), "--no-venv")
    assert r.returncode == 0
    assert "storage.max_megabytes: unknown key" in r.stderr
    assert f"WARNING: {config} does not pass this version's check" in r.stdout
    assert "was not restarted" in r.stdout


def test_installer_check_loads_secrets_like_systemd_without_running_them(tmp_path: Path) -> None:
    venv_bin = tmp_path / "opt" / "omo-edge" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "omo-edge").symlink_to(VENV_BIN / "omo-edge")
    etc = tmp_path / "etc" / "omo-edge"
    etc.mkdir(parents=True)
    marker = tmp_path / "ran"
    (etc / "config.toml").write_text(
        '[store]\nid = "s"\ndevice = "d"\n[broker]\nhost = "h"\n'
        'password_env = "OMO_EDGE_BROKER_PASSWORD"\n')
    (etc / "env").write_text("# secrets\n  OMO_EDGE_OTHER=x\n"
                             f"OMO_EDGE_BROKER_PASSWORD='pw with spaces $(touch {marker})'\n")
    r = install("--prefix", str(tmp_path), "--no-venv")
    assert r.returncode == 0 and "WARNING" not in r.stdout, r.stdout + r.stderr
    assert not marker.exists(), "the env file must not be run as shell"
    (etc / "env").write_text("OMO_EDGE_OTHER=x\n")
    r = install("--prefix", str(tmp_path), "--no-venv")
    assert "WARNING" in r.stdout and "that environment variable is not set" in r.stderr
