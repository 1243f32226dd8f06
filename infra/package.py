"""Build the Lambda artifacts: ``function.zip`` (jobgate + your handlers) and ``layer.zip``.

    python infra/package.py [--out build/lambda] [--include myapp] [--arch x86_64|arm64]

The layer holds jobgate's runtime dependencies (the core ones and the ``aws`` extra, without
uvicorn: Lambda serves through Mangum) as wheels for the Lambda platform (manylinux, CPython
3.11), installed under ``python/`` as Lambda expects. The function zip holds ``jobgate`` and any
``--include`` package or module, so a code change redeploys a few hundred KB, not the layer.

Both zips carry bytecode for the runtime's Python (``__pycache__/*.cpython-311.pyc``, compiled
with ``UNCHECKED_HASH`` invalidation): Lambda's code folders are read-only, so without it every
cold start would compile every module it imports, and a timestamp-checked ``.pyc`` would never
match the zip's fixed timestamps. The build must run on that Python (3.11) to make them; on
another it says so and ships sources only.

Both zips are reproducible: sorted entries, fixed timestamps, so an unchanged build hashes the
same and Terraform's ``source_code_hash`` does not redeploy. The layer is rebuilt only when the
dependency list changes. Sizes are printed as JSON, and the build fails past Lambda's limits:
50 MB for a zip uploaded directly, 250 MB unzipped for a function with all its layers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
#: Lambda's quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
ZIPPED_LIMIT = 50 * MB
UNZIPPED_LIMIT = 250 * MB
#: not needed on Lambda: the API runs through Mangum, not a server
EXCLUDED = {"uvicorn"}
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
RUNTIME = (3, 11)  # the functions' runtime (python3.11): the bytecode is for it
CACHE_TAG = f"cpython-{RUNTIME[0]}{RUNTIME[1]}"


def requirements() -> list[str]:
    """jobgate's runtime requirements: core + the ``aws`` extra, minus what Lambda needs not."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["aws"]]
    return [r for r in wanted if _name(r) not in EXCLUDED]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    return match.group(0).lower() if match else requirement


def write_zip(target: Path, files: list[tuple[Path, str]]) -> int:
    """Write ``files`` (path, name in the zip) reproducibly; return the unzipped size."""
    unzipped = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path, name in sorted(files, key=lambda pair: pair[1]):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data)
    return unzipped


def _tree(base: Path, prefix: str = "") -> list[tuple[Path, str]]:
    return [
        (path, prefix + path.relative_to(base.parent).as_posix())
        for path in base.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def with_bytecode(files: list[tuple[Path, str]], work: Path, root: str) -> list[tuple[Path, str]]:
    """``files`` plus, for each ``.py``, its bytecode as ``__pycache__/<name>.cpython-311.pyc``
    (hash-based, unchecked: valid whatever the files' timestamps), compiled under ``work``;
    tracebacks name ``<root>/<name>`` (``/var/task``, ``/opt/python``: where Lambda puts them)."""
    if sys.version_info[:2] != RUNTIME:
        print(f"warning: building on Python {sys.version.split()[0]}, not "
              f"{RUNTIME[0]}.{RUNTIME[1]}: no bytecode in the zips (cold starts compile)",
              file=sys.stderr)  # fmt: skip
        return files
    import py_compile

    compiled = []
    for path, name in files:
        if not name.endswith(".py"):
            continue
        folder, _, module = name.rpartition("/")
        cached = f"{folder + '/' if folder else ''}__pycache__/{module[:-3]}.{CACHE_TAG}.pyc"
        target = work / cached
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            py_compile.compile(
                str(path), cfile=str(target), dfile=f"{root}/{name}", doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )  # fmt: skip
        except py_compile.PyCompileError:
            continue  # a file that is not Python 3.11 (a vendored py2 shim): Lambda skips it too
        compiled.append((target, cached))
    return files + compiled


def build_function(out: Path, includes: list[Path]) -> tuple[Path, int]:
    files = _tree(ROOT / "src" / "jobgate")
    for extra in includes:
        files += _tree(extra) if extra.is_dir() else [(extra, extra.name)]
    work = out / "function-bytecode"
    shutil.rmtree(work, ignore_errors=True)
    target = out / "function.zip"
    return target, write_zip(target, with_bytecode(files, work, "/var/task"))


def build_layer(out: Path, arch: str) -> tuple[Path, int]:
    """pip-install the requirements for the Lambda platform into ``python/`` and zip them."""
    wanted = requirements()
    stamp = hashlib.sha256(
        json.dumps([wanted, arch, sys.version_info[:2], "bytecode-1"]).encode()
    ).hexdigest()
    target, stamp_file, staging = out / "layer.zip", out / "layer.stamp", out / "layer"
    if target.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        with zipfile.ZipFile(target) as archive:
            return target, sum(i.file_size for i in archive.infolist())
    shutil.rmtree(staging, ignore_errors=True)
    print(f"installing {len(wanted)} requirements for {PLATFORMS[arch]} ...", file=sys.stderr)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(staging / "python"), "--platform", PLATFORMS[arch],
            "--implementation", "cp", "--python-version", "3.11", "--only-binary=:all:",
            "--upgrade", *wanted,
        ],
        check=True,
    )  # fmt: skip
    files = [
        (path, name)
        for path, name in _tree(staging / "python")
        if "/bin/" not in name  # console scripts point at this machine's interpreter
    ]
    work = out / "layer-bytecode"
    shutil.rmtree(work, ignore_errors=True)
    size = write_zip(target, with_bytecode(files, work, "/opt"))
    stamp_file.write_text(stamp)
    return target, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda", help="output folder")
    parser.add_argument(
        "--include",
        type=Path,
        action="append",
        default=[],
        help="a package folder or module to add to the function zip (your handlers); repeatable",
    )
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument("--no-layer", action="store_true", help="build only function.zip")
    parser.add_argument("--zipped-limit-mb", type=float, default=ZIPPED_LIMIT / MB)
    parser.add_argument("--unzipped-limit-mb", type=float, default=UNZIPPED_LIMIT / MB)
    args = parser.parse_args(argv)
    for extra in args.include:
        if not extra.exists():
            parser.error(f"--include {extra}: no such file or folder")
    args.out.mkdir(parents=True, exist_ok=True)

    artifacts = {"function": build_function(args.out, args.include)}
    if not args.no_layer:
        artifacts["layer"] = build_layer(args.out, args.arch)
    report: dict[str, object] = {
        name: {"path": str(path), "zipped_bytes": path.stat().st_size, "unzipped_bytes": size}
        for name, (path, size) in artifacts.items()
    }
    problems = [
        f"{name}.zip is {path.stat().st_size / MB:.1f} MB zipped (limit {args.zipped_limit_mb:g})"
        for name, (path, _) in artifacts.items()
        if path.stat().st_size > args.zipped_limit_mb * MB
    ]
    total = sum(size for _, size in artifacts.values())
    report["unzipped_total_bytes"] = total
    if total > args.unzipped_limit_mb * MB:
        problems.append(
            f"function + layer unzip to {total / MB:.1f} MB (limit {args.unzipped_limit_mb:g})"
        )
    report["ok"] = not problems
    print(json.dumps(report, indent=2))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
