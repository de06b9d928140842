"""The example config and the docs' reference: generated from the declarations in
edge/config/model.py; the example is valid as shipped, shows every key, and `omo-edge config
check` accepts it (exit 0) and rejects a broken copy (exit 2, naming the key)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge.config import ConfigError, load, parse
from edge.config.render import DOCS_BEGIN, docs_with_reference, example_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "edge" / "example-config.toml"
GUIDE = ROOT / "docs" / "operations.md"
REGENERATE = "out of date: run .venv/bin/python -m edge.config.render --write"
SECRET_KEYS = {"password", "pseudonym_key"}  # known to config.py only to be refused
COMMENTED_KEY = re.compile(r"^# (?=\[[a-z_.]+\]\s*(#.*)?$|[a-z_]+ = )")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OMO_EDGE_")}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**clean, **(env or {})})


def known_keys() -> dict[str, set[str]]:
    """Every table's allowed keys, read from config.py's own unknown-key messages."""
    odd = {"zzz_odd": 1}
    raw: dict[str, Any] = {
        **odd, "store": dict(odd), "storage": dict(odd), "logging": dict(odd),
        "privacy": dict(odd), "zones": [dict(odd)], "shelves": [{**odd, "plates": [dict(odd)]}],
        "cameras": [dict(odd)],
        "ble": {**odd, "receivers": [dict(odd)], "mqtt": {**odd, "nodes": [dict(odd)]}},
        "screens": [{**odd, "schedule": [dict(odd)]}], "broker": {**odd, "tls": dict(odd)},
    }
    with pytest.raises(ConfigError) as info:
        parse(raw, env={})
    found: dict[str, set[str]] = {}
    for problem in info.value.problems:
        m = re.fullmatch(r"(.*)zzz_odd: unknown key.*; allowed: (.*)", problem)
        if m:
            table = re.sub(r"\[\d+\]", "", m.group(1)).rstrip(".")
            found[table] = set(m.group(2).split(", "))
    assert len(found) == 17, sorted(found)
    return found


def keys_in(doc: dict[str, Any], table: str = "") -> dict[str, set[str]]:
    out: dict[str, set[str]] = {table: set()}
    for key, value in doc.items():
        out[table].add(key)
        sub = f"{table}.{key}" if table else key
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                for t, ks in keys_in(item, sub).items():
                    out.setdefault(t, set()).update(ks)
    return out


def uncommented(text: str, tmp: Path) -> str:
    """The example with every commented-out key switched on, TLS files pointing at tmp."""
    lines = [COMMENTED_KEY.sub("", line) for line in text.splitlines()]
    out = "\n".join(lines) + "\n"
    for name in ("ca.pem", "device.pem", "device.key"):
        (tmp / name).write_text("placeholder\n")
        out = out.replace(f"/etc/omo-edge/tls/{name}", str(tmp / name))
    return out


def test_the_example_loads_as_shipped_without_secrets_in_the_environment() -> None:
    config = load(EXAMPLE, env={})
    assert config.store == "tokyo-shibuya-01" and config.broker.enabled
    assert config.broker.tls is None and config.broker.password is None
    assert [s.id for s in config.shelves] == ["shelf-a"]
    assert {z.id for z in config.zones} >= {c.zone for c in config.cameras}


def test_the_example_shows_every_key(tmp_path: Path) -> None:
    full = uncommented(EXAMPLE.read_text(), tmp_path)
    shown = keys_in(tomllib.loads(full))
    for table, allowed in known_keys().items():
        missing = allowed - SECRET_KEYS - shown.get(table, set())
        assert not missing, f"{table or 'top level'}: keys missing from the example: {missing}"


def test_every_commented_out_key_is_valid_when_switched_on(tmp_path: Path) -> None:
    path = tmp_path / "full.toml"
    path.write_text(uncommented(EXAMPLE.read_text(), tmp_path))
    env = {"OMO_EDGE_BROKER_PASSWORD": "pw", "OMO_EDGE_PSEUDONYM_KEY": "k",
           "OMO_EDGE_BLE_MQTT_PASSWORD": "pw", "OMO_EDGE_POS_MQTT_PASSWORD": "pw"}
    config = load(path, env=env)
    assert config.broker.tls is not None and config.broker.tls.cert is not None
    assert config.broker.password == "pw" and config.privacy.pseudonym_key == "k"
    assert config.broker.port == 1883 and config.storage.state_dir == Path("/var/lib/omo-edge")
    assert config.insight.pos_mqtt is not None and config.insight.pos_mqtt.password == "pw"


def test_config_check_accepts_the_example_and_rejects_a_broken_copy(tmp_path: Path) -> None:
    r = cli("config", "check", "--config", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert "ok (store tokyo-shibuya-01, device edge-01; 3 zones, 1 shelves" in r.stdout

    broken = tmp_path / "broken.toml"
    text = EXAMPLE.read_text()
    for old, new in (("baudrate = 115200", "baudrate = 1234"),
                     ('host = "mqtt.example.com"', 'hots = "mqtt.example.com"')):
        assert old in text
        text = text.replace(old, new)
    broken.write_text(text)
    r = cli("config", "check", "--config", str(broken))
    assert r.returncode == 2
    assert "shelves[0].baudrate = 1234: expected a standard baud rate" in r.stderr
    assert "broker.hots: unknown key (did you mean 'host'?)" in r.stderr


def test_config_example_prints_the_file_and_it_is_packaged() -> None:
    r = cli("config", "example")
    assert r.returncode == 0 and r.stdout == EXAMPLE.read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "example-config.toml" in pyproject["tool"]["setuptools"]["package-data"]["edge"]


# Fixed in edge/config.py while writing the example.
@pytest.mark.parametrize(("source", "expected"), [(0, "0"), (2, "2"), ("0", "0"),
                                                  ("rtsp://cam/1", "rtsp://cam/1")])
def test_camera_sources_that_are_valid(source: object, expected: str) -> None:
    config = parse({"store": {"id": "s", "device": "d"}, "zones": [{"id": "z"}],
                    "cameras": [{"id": "c", "source": source, "zone": "z"}]}, env={})
    assert config.cameras[0].source == expected


@pytest.mark.parametrize("raw", [
    {"cameras": [{"id": "c", "source": True, "zone": "z"}]},
    {"cameras": [{"id": "c", "source": -1, "zone": "z"}]},
    {"cameras": [{"id": "c", "source": " ", "zone": "z"}]},
    {"storage": {"path": ""}},
    {"storage": {"state_dir": ""}},
])
def test_values_that_used_to_slip_through(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"store": {"id": "s", "device": "d"}, "zones": [{"id": "z"}], **raw}, env={})
    [problem] = info.value.problems
    assert re.match(r"(cameras\[0\]\.source|storage\.path|storage\.state_dir) = ", problem)


def test_the_operations_guide_documents_every_key() -> None:
    guide = GUIDE.read_text()
    reference = guide.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    sections = {}
    for chunk in reference.split("\n### ")[1:]:
        heading, _, body = chunk.partition("\n")
        for marker in re.findall(r"`\[\[?([a-z.]+)\]\]?`", heading):
            sections[marker] = body
    known = known_keys()
    for table, keys in known.items():
        if not table:
            continue
        keys = {k for k in keys if f"{table}.{k}" not in known}  # sub-tables have sections
        assert table in sections, f"no section for [{table}] in docs/operations.md"
        last = table.rsplit(".", 1)[-1]
        for key in keys:
            assert f"`{key}`" in sections[table] or f"`{last}.{key}`" in sections[table], \
                f"docs/operations.md: [{table}] does not document {key}"


def test_the_packaged_example_is_what_the_declarations_generate() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == example_config(), REGENERATE


def test_the_guides_reference_is_what_the_declarations_generate() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    assert guide.count(DOCS_BEGIN) == 1
    assert docs_with_reference(guide) == guide, REGENERATE
    stale = guide.replace("| `keepalive` | `30` |", "| `keepalive` | `60` |")
    assert docs_with_reference(stale) == guide  # what --write would do to a hand edit

