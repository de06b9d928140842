"""README stays true: it documents every event type in the catalogue."""

from __future__ import annotations

from pathlib import Path

from edge.catalogue import PRIORITY_NAMES, catalogue

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_lists_every_event_type_with_its_priority() -> None:
    for event_type, spec in catalogue().items():
        row = f"| `{event_type}` | {PRIORITY_NAMES[spec.priority]} |"
        assert row in README, f"README's catalogue lacks {event_type}"


def test_readme_keeps_exactly_the_two_setup_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.splitlines()
                if line.startswith("make ")]
    assert commands == ["make demo", "make test"]
