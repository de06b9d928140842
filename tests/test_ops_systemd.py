"""The systemd units pass `systemd-analyze verify` without warnings; the installer's dry run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = ["omo-edge.service", "omo-edge-signage.service"]
BAD = ("unknown key", "unknown section", "invalid", "failed to parse", "ignoring",
       "not executable", "no such file")


def verify(unit: Path) -> str:
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    return r.stdout + r.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
@pytest.mark.parametrize("name", UNITS)
def test_unit_verifies_clean(tmp_path: Path, name: str) -> None:
    venv_bin = Path(sys.executable).parent
    text = (ROOT / "systemd" / name).read_text().replace("/opt/omo-edge/.venv/bin", str(venv_bin))
    unit = tmp_path / name
    unit.write_text(text)
    out = verify(unit)
    ours = [line for line in out.splitlines() if str(unit) in line]
    assert not [line for line in ours if any(b in line.lower() for b in BAD)], out


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_verify_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    text = (ROOT / "systemd" / UNITS[0]).read_text().replace("/opt/omo-edge/.venv/bin",
                                                             str(venv_bin))
    unit = tmp_path / UNITS[0]
    unit.write_text(text.replace("RestartSec=5", "RestartSec=5\nRestartt=no"))
    assert "Unknown key 'Restartt'" in verify(unit)


def test_units_match_what_the_daemon_does() -> None:
    text = (ROOT / "systemd" / "omo-edge.service").read_text()
    assert "Type=notify" in text  # edge/sdnotify.py sends READY=1 and WATCHDOG=1
    assert "RestartPreventExitStatus=2" in text  # exit 2 = bad config
    assert "omo-edge run --config /etc/omo-edge/config.toml" in text


def test_installer_dry_run(tmp_path: Path) -> None:
    r = subprocess.run(["bash", str(ROOT / "systemd" / "install.sh"), "--dry-run", "--prefix",
                        str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"cp {ROOT}/edge/example-config.toml {tmp_path}/etc/omo-edge/config.toml" in r.stdout
    assert "(mode 0600)" in r.stdout
    assert not any(tmp_path.iterdir()), "a dry run changes nothing"
