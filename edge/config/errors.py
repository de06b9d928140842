"""The one error a config raises."""

from __future__ import annotations


class ConfigError(ValueError):
    """One or more problems in a config; `problems` lists them, one line each."""

    def __init__(self, problems: list[str], path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f" in {path}" if path else ""
        super().__init__(f"{len(problems)} problem(s){where}:\n  " + "\n  ".join(problems))
