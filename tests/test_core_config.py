"""Config: every problem named with key, value and what is allowed; exit status 2."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.config import Config, ConfigError, load, parse
from edge.config.reader import Reader
from edge.config.render import docs_reference, example_config
from edge.config.schema import NO_EXAMPLE, REQUIRED, Group, Kind, Spec, key, layout

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


# ------------------------------------------------------------ declaring a key is enough
@dataclass(frozen=True)
class Toy:
    name: str = key("a name", pattern=r"[a-z]+", allowed="lower-case letters",
                    example="abc")
    count: int = key("how many", 3, range=(1, 9))
    ratio: float = key("a ratio", 0.5, range=(0, 1), unit="a fraction")
    mode: str = key("the mode", "a", choices=("a", "b"))
    label: str = key("shown", derive=lambda v, raw: (v.get("name") or "").upper(),
                     default_doc="the name in capitals", example="ABC")
    token: str | None = key("a token", None, secret=True, example="OMO_TOY_TOKEN")
    tags: tuple[str, ...] = key("tags", (), pattern=r"[a-z]+", allowed="a lower-case tag")


@dataclass(frozen=True)
class ToyRoot:
    toy: Toy = key("Toy things.")
    toys: tuple[Toy, ...] = key("More toys, one table each.",
                                example=[{"name": "one"}, {"name": "two", "count": 2}])


def test_a_declared_key_is_read_defaulted_and_built_with_no_other_code() -> None:
    r = Reader(env={"T": "tok"})
    toy = r.section(Toy, {"name": "abc", "ratio": 1, "token_env": "T", "tags": ["x"]}, "toy.")
    assert not r.problems
    assert toy == Toy(name="abc", count=3, ratio=1.0, mode="a", label="ABC", token="tok",
                      tags=("x",))
    assert isinstance(toy.ratio, float) and "tok" not in repr(toy)


def test_a_declared_key_gets_the_key_naming_messages() -> None:
    r = Reader(env={})
    r.section(Toy, {"nmae": "abc", "count": 10, "ratio": "x", "mode": "c", "token": "t",
                    "tags": ["ok", "Bad"]}, "toy.")
    assert r.problems == [
        "toy.nmae: unknown key (did you mean 'name'?); allowed: count, label, mode, name, "
        "ratio, tags, token, token_env",
        "toy.name: missing; expected lower-case letters",
        "toy.count = 10: expected an integer from 1 to 9",
        "toy.ratio = 'x': expected a fraction from 0 to 1",
        "toy.mode = 'c': expected one of a, b",
        "toy.token: secrets are not read from the config file; put it in an environment "
        "variable and name it with toy.token_env",
        "toy.tags[] = 'Bad': expected a lower-case tag",
    ]


def test_a_declared_key_shows_up_in_the_example_and_the_docs() -> None:
    example = example_config(ToyRoot)
    assert "\n# Toy things.\n[toy]\n" in example
    assert "\ncount = 3 " in example and "how many; an integer from 1 to 9; default 3" in example
    assert '\n# token_env = "OMO_TOY_TOKEN"' in example  # secrets are commented out
    assert '[[toys]]\nname = "one"' in example and '[[toys]]\nname = "two"\ncount = 2\n' in example
    assert tomllib.loads(example)["toys"][1] == {"name": "two", "count": 2}
    docs = docs_reference(ToyRoot)
    assert "### `[toy]`\n\nToy things." in docs and "### `[[toys]]`" in docs
    assert "| `count` | `3` | an integer from 1 to 9 | how many |" in docs
    assert "| `label` | the name in capitals | a string | shown |" in docs
    assert "| `token_env` | none |" in docs and "`token` itself is refused" in docs


@dataclass(frozen=True)
class Bare:
    where: str = key("no default, no example")


@dataclass(frozen=True)
class BareRoot:
    bare: Bare = key("A table.")


def test_the_example_needs_an_example_value_for_a_required_key() -> None:
    with pytest.raises(ValueError, match=r"bare\.where: declare an example="):
        example_config(BareRoot)


def _declared(cls: type, path: str = "") -> list[tuple[str, Spec]]:
    out = []
    for entry in layout(cls).entries:
        if isinstance(entry, Group):
            out += [(f"{path}{entry.name}.{s.toml}", s) for s in entry.table.specs()]
        elif entry.kind in (Kind.TABLE, Kind.TABLES):
            out += _declared(entry.type, f"{path}{entry.toml}.")
        else:
            out.append((path + entry.toml, entry))
    return out


def test_every_declared_default_and_example_passes_its_own_rules() -> None:
    declared = _declared(Config)
    assert len(declared) > 50
    for name, spec in declared:
        for value in (spec.key.default, spec.key.example):
            if value in (REQUIRED, NO_EXAMPLE, None) or spec.key.secret:
                continue
            items = value if spec.kind is Kind.LIST else [value]
            for item in items:
                raw = str(item) if isinstance(item, Path) else item
                assert spec.key.valid(raw), f"{name}: {value!r} breaks its own rules"


def test_a_section_at_its_declared_defaults_equals_the_parsed_one() -> None:
    from edge.config import defaults
    from edge.config.model import Insight, Journey

    parsed = parse({"store": {"id": "s", "device": "d"}}, env={})
    assert defaults(Journey) == parsed.journey
    assert defaults(Insight) == parsed.insight
    with pytest.raises(ConfigError, match=r"store\.id: missing"):
        defaults(Config)
