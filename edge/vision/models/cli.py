"""`omo-edge models list | fetch NAME | verify`: which models this device has, downloading
the listed ones, and checking every present file against the manifest's sha256."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HELP = "list, fetch and verify the vision models"
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="each model: kind, licence, shipped/fetched/missing")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    fe = sub.add_parser("fetch", help="download a listed model and check its pinned sha256")
    fe.add_argument("name", help="a model name from `omo-edge models list`")
    fe.add_argument("--base-url", metavar="URL",
                    help="fetch <URL>/<file> instead of the upstream address (a mirror); "
                         "default $OMO_EDGE_MODELS_URL, else the manifest's address")
    fe.add_argument("--quiet", action="store_true", help="no progress line")
    ve = sub.add_parser("verify", help="check every present model file's sha256; exit 1 if "
                                       "any is damaged")
    for p in (ls, fe, ve):
        p.add_argument("--models-dir", metavar="DIR", type=Path,
                       help="where fetched models live; default $OMO_EDGE_MODELS_DIR, else "
                            "<storage.state_dir>/models from the config, else "
                            "/var/lib/omo-edge/models")
        p.add_argument("--config", "-c", metavar="PATH",
                       help="store config, for storage.state_dir (optional)")


def models_dir(args: argparse.Namespace) -> Path:
    from edge.vision.models.manifest import MODELS_DIR_ENV, default_models_dir

    if args.models_dir is not None:
        return Path(args.models_dir)
    if os.environ.get(MODELS_DIR_ENV):
        return default_models_dir()
    from edge.cli import _config_path, load_config_or_exit

    if _config_path(args).exists():
        return default_models_dir(load_config_or_exit(args, require_secrets=False)
                                  .storage.state_dir)
    return default_models_dir()


def _list(args: argparse.Namespace) -> int:
    from edge.vision.models.manifest import Status, load_manifest

    man = load_manifest()
    where = models_dir(args)
    rows = []
    for spec in man.detectors.values():
        files = [man.files[f] for f in spec.files.values()]
        states = {man.status(f, where) for f in files}
        state = next((s for s in (Status.DAMAGED, Status.MISSING, Status.FETCHED)
                      if s in states), Status.SHIPPED)
        rows.append({"name": spec.name, "kind": spec.kind.value, "format": spec.format.value,
                     "version": spec.version, "licence": spec.licence, "status": state.value,
                     "bytes": sum(f.size for f in files),
                     "path": str(man.path(files[0], where).parent)})
    if args.json:
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
        return EXIT_OK
    print(f"{'name':<12} {'kind':<7} {'licence':<13} {'status':<8} {'size':>10}  where")
    for r in rows:
        print(f"{r['name']:<12} {r['kind']:<7} {r['licence']:<13} {r['status']:<8} "
              f"{r['bytes']:>10,}  {r['path']}")
    if any(r["status"] == Status.MISSING.value for r in rows):
        print("fetch a missing one with: omo-edge models fetch NAME")
    return EXIT_OK


def _fetch(args: argparse.Namespace) -> int:
    from edge.vision.models.errors import ModelError
    from edge.vision.models.fetch import fetch, url_for
    from edge.vision.models.manifest import load_manifest

    man = load_manifest()
    try:
        spec = man.detector(args.name)
        files = [man.files[f] for f in spec.files.values()]
        if all(f.shipped for f in files):
            print(f"{spec.name} ships with omo-edge: nothing to fetch")
            return EXIT_OK
        where = models_dir(args)
        for mf in files:
            if mf.shipped:
                continue
            show = not args.quiet and sys.stderr.isatty()

            def progress(got: int, total: int, name: str = mf.file, show: bool = show) -> None:
                if show:
                    print(f"\r{name}: {got / 1e6:.2f} of {total / 1e6:.2f} MB "
                          f"({100 * got / max(total, 1):.0f}%)", end="", file=sys.stderr)

            if not args.quiet:
                print(f"fetching {url_for(mf, args.base_url)}", file=sys.stderr)
            path = fetch(mf, where, base_url=args.base_url, progress=progress)
            if show:
                print(file=sys.stderr)
            print(f"{spec.name}: {path} ({mf.size:,} bytes, sha256 ok)")
        return EXIT_OK
    except ModelError as exc:
        if not args.quiet and sys.stderr.isatty():
            print(file=sys.stderr)
        print(f"omo-edge: models fetch {args.name}: {exc}", file=sys.stderr)
        return EXIT_FAIL


def _verify(args: argparse.Namespace) -> int:
    from edge.vision.models.manifest import Status, load_manifest

    man = load_manifest()
    where = models_dir(args)
    bad = 0
    for mf in man.files.values():
        state = man.status(mf, where)
        path = man.path(mf, where)
        if state is Status.DAMAGED:
            bad += 1
            print(f"FAIL {mf.name}: {path}: sha256 does not match the manifest "
                  + ("(reinstall omo-edge)" if mf.shipped else "(fetch it again)"))
        elif state is Status.MISSING:
            if mf.shipped:
                bad += 1
                print(f"FAIL {mf.name}: {path} is missing (reinstall omo-edge)")
            else:
                print(f"skip {mf.name}: not fetched")
        else:
            print(f"ok   {mf.name}: {path}")
    return EXIT_FAIL if bad else EXIT_OK


def main(args: argparse.Namespace) -> int:
    from edge.vision.models.errors import ModelError

    actions = {"list": _list, "fetch": _fetch, "verify": _verify}
    try:
        return actions[args.models_command](args)
    except ModelError as exc:
        print(f"omo-edge: models {args.models_command}: {exc}", file=sys.stderr)
        return EXIT_FAIL
