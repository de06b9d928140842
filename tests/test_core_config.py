"""Config: every problem named with key, value and what is allowed; exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, load, parse

GOOD = """
[store]
id = "tokyo-01"
device = "edge-01"
timezone = "Asia/Tokyo"

[storage]
path = "{tmp}/events.db"

[[zones]]
id = "entrance"
kind = "entrance"

[[zones]]
id = "snacks"
kind = "shelf"

[[shelves]]
id = "shelf-a"
port = "/dev/ttyUSB0"
zone = "snacks"
[[shelves.plates]]
id = "p1"
sku = "4901234567890"
unit_grams = 120

[broker]
host = "mqtt.example.com"
username = "edge-01"
password_env = "OMO_TEST_BROKER_PASSWORD"
"""


def write(tmp: Path, text: str) -> Path:
    p = tmp / "config.toml"
    p.write_text(text.replace("{tmp}", str(tmp)))
    return p


def test_a_good_config_loads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, GOOD), env={"OMO_TEST_BROKER_PASSWORD": "s3cret"})
    assert cfg.store == "tokyo-01" and cfg.broker.enabled
    assert cfg.broker.password == "s3cret"
    assert "s3cret" not in repr(cfg)  # secrets never show up in logs or reprs
    assert cfg.shelves[0].plates[0].unit_grams == 120.0
    assert cfg.broker.prefix == "omo/v1" and cfg.broker.port == 1883


@pytest.mark.parametrize(("patch", "expected"), [
    (("port = \"/dev/ttyUSB0\"", "port = 5"), "shelves[0].port = 5: expected a serial device"),
    (("zone = \"snacks\"\n[[shelves.plates]]", "zone = \"dairy\"\n[[shelves.plates]]"),
     "shelves[0].zone = 'dairy': no such zone; defined zones: entrance, snacks"),
    (("unit_grams = 120", "unit_grams = -3"), "unit_grams = -3.0: expected a weight in grams"),
    (("timezone = \"Asia/Tokyo\"", "timezone = \"Mars/Base\""),
     "store.timezone = 'Mars/Base': expected an IANA time zone"),
    (("host = ", "hots = "), "broker.hots: unknown key (did you mean 'host'?)"),
    (("id = \"snacks\"", "id = \"entrance\""), "zones[].id: 'entrance' is used twice"),
    (("password_env = \"OMO_TEST_BROKER_PASSWORD\"", "password = \"plain\""),
     "broker.password: secrets are not read from the config file"),
])
def test_each_problem_names_the_key_the_value_and_what_is_allowed(
        tmp_path: Path, patch: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*patch, 1)
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, text), env={"OMO_TEST_BROKER_PASSWORD": "x"})
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse({"store": {"id": "bad id!"}, "broker": {"port": 0, "tls": {"cert": "/nope.pem"}}},
              env={})
    text = "\n".join(err.value.problems)
    for fragment in ("store.id = 'bad id!'", "store.device: missing", "broker.port = 0",
                     "broker.tls.cert = '/nope.pem': no such file", "cert and key go together"):
        assert fragment in text


def test_a_missing_environment_secret_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"OMO_TEST_BROKER_PASSWORD.*not set"):
        load(write(tmp_path, GOOD), env={})


def run_cli(*args: str, env_extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_cli_config_check_exits_2_with_every_problem(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("unit_grams = 120", "unit_grams = \"heavy\""))
    r = run_cli("config", "check", "--config", str(bad),
                env_extra={"OMO_TEST_BROKER_PASSWORD": "x"})
    assert r.returncode == 2
    assert "shelves[0].plates[0].unit_grams = 'heavy': expected a weight in grams" in r.stderr
    ok = write(tmp_path, GOOD)
    r = run_cli("config", "check", "--config", str(ok), env_extra={"OMO_TEST_BROKER_PASSWORD": "x"})
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_cli_rejects_malformed_toml_and_a_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\nid = 1")
    r = run_cli("run", "--config", str(broken))
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    r = run_cli("run", "--config", str(tmp_path / "absent.toml"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_read_only_commands_do_not_need_the_secrets(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD)  # names OMO_TEST_BROKER_PASSWORD, which is not set here
    assert load(cfg, env={}, require_secrets=False).broker.password is None
    status = run_cli("status", "--config", str(cfg))
    assert status.returncode == 1 and "not running" in status.stdout  # not a config error
    events = run_cli("events", "--config", str(cfg))
    assert "no event log" in events.stderr
    doctor = run_cli("doctor", "--config", str(cfg), "--timeout", "0.5")
    assert "FAIL secrets: broker.password_env = 'OMO_TEST_BROKER_PASSWORD'" in doctor.stdout
    assert doctor.returncode == 1
