"""The operator image for the dev cluster's real nodes, built without Docker or a registry.

Two layers: Debian's Python 3.11 runtime (``apt-get download`` of the interpreter and the
shared libraries it and the dependencies' extension modules link against, unpacked with
``dpkg-deb -x``), and podpilot's wheel with its dependencies installed by pip into
``/usr/local/lib/python3.11/dist-packages`` (where Debian's Python looks by default). No pip,
compiler, shell or package manager ends up in the image. It runs as uid 10001 with the
entrypoint ``podpilot`` and the command ``run``.

The archive is cached under ``<cache>/operator-image/``, keyed by a hash of the operator's
source and this recipe, and tagged with that hash, so a changed operator gets a new tag.

``python -m podpilot_dev.operator_image`` builds it (or finds it cached) and prints its
reference and archive path, for ``kind load image-archive`` and the chart's ``image.*`` values.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from podpilot_dev import filelock, ocilayout
from podpilot_dev.paths import cache_root, repo_root

REPOSITORY = "podpilot.dev/podpilot"
UID = 10001
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"
# A cold build takes a minute or two; a waiter gives up on a holder far slower than that.
BUILD_LOCK_TIMEOUT = 900.0
RECIPE_VERSION = "1"  # bump when the image changes without a source change
# python3.11-minimal + libpython3.11-stdlib and their Depends closure on bookworm, without the
# tools in it (dpkg, tar, perl, install-info, mailcap): only interpreters' shared libraries.
RUNTIME_DEBS = (
    "gcc-12-base",
    "libbz2-1.0",
    "libc6",
    "libcom-err2",
    "libcrypt1",
    "libdb5.3",
    "libexpat1",
    "libffi8",
    "libgcc-s1",
    "libgdbm6",
    "libgssapi-krb5-2",
    "libk5crypto3",
    "libkeyutils1",
    "libkrb5-3",
    "libkrb5support0",
    "liblzma5",
    "libncursesw6",
    "libnsl2",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libreadline8",
    "libsqlite3-0",
    "libssl3",
    "libstdc++6",  # google-re2's extension module
    "libtinfo6",
    "libtirpc-common",
    "libtirpc3",
    "libuuid1",
    "media-types",
    "python3.11-minimal",
    "zlib1g",
)
DOCUMENTATION = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/lintian")
ENTRYPOINT_SCRIPT = b"""#!/usr/bin/python3.11
import sys

from podpilot.cli import main

sys.exit(main())
"""
PASSWD = (
    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    f"podpilot:x:{UID}:{UID}::/nonexistent:/usr/sbin/nologin\n"
)
GROUP = f"root:x:0:\npodpilot:x:{UID}:\n"

Reporter = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """A build step failed; the message names the step and carries its error output."""


@dataclass(frozen=True)
class BuiltImage:
    reference: str
    archive: Path


def source_key(repo: Path) -> str:
    """A hash of everything that ends up in the image."""
    digest = hashlib.sha256(f"{RECIPE_VERSION}\n{' '.join(RUNTIME_DEBS)}\n".encode())
    paths = [repo / "pyproject.toml", repo / "README.md"]
    paths += sorted(
        p
        for p in (repo / "operator" / "podpilot").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    for path in paths:
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_config() -> dict[str, object]:
    return {
        "User": f"{UID}:{UID}",
        "Entrypoint": ["podpilot"],
        "Cmd": ["run"],
        "Env": [
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE=1",
            "PYTHONUNBUFFERED=1",
        ],
        "WorkingDir": "/tmp",
        "ExposedPorts": {"8080/tcp": {}, "9808/tcp": {}},
    }


def run_step(step: str, command: list[str], cwd: Path | None = None, timeout: float = 900) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise ImageBuildError(f"{step} did not finish within {timeout:.0f}s") from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise ImageBuildError(f"{step} failed (exit {result.returncode}): {output}")


def build_wheel(repo: Path, work: Path) -> Path:
    """Build from a copy, so setuptools' build/ and egg-info never land in the checkout."""
    source = work / "src"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, source / name)
    shutil.copytree(
        repo / "operator",
        source / "operator",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run_step("pip wheel", [*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)])
    return next(wheels.glob("podpilot-*.whl"))


def install_site_packages(wheel: Path, target: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run_step(
        "pip install --target",
        [*pip, "install", "--no-compile", "--target", str(target), str(wheel)],
    )
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts with the venv's shebang
    _compile(target, "/" + SITE_PACKAGES)


def _compile(tree: Path, installed_as: str) -> None:
    """Byte-compile in place, recording the path the files will have in the image; the root
    file system is read-only, so Python could never write these at run time."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "-s",
            str(tree),
            "-p",
            installed_as,
            str(tree),
        ],
        capture_output=True,
    )  # a few test files in the stdlib do not compile by design; their exit code is ignored


def download_debs(directory: Path, names: tuple[str, ...] = RUNTIME_DEBS) -> list[Path]:
    """``apt-get download`` the packages not already in ``directory``; their newest files."""
    directory.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if not list(directory.glob(f"{name}_*.deb"))]
    if missing:
        run_step("apt-get download", ["apt-get", "download", *missing], cwd=directory)
    return [sorted(directory.glob(f"{name}_*.deb"))[-1] for name in names]


def unpack_runtime(debs: list[Path], rootfs: Path) -> None:
    rootfs.mkdir(parents=True)
    for deb in debs:
        run_step(f"dpkg-deb -x {deb.name}", ["dpkg-deb", "-x", str(deb), str(rootfs)])
    _compile(rootfs / "usr" / "lib" / "python3.11", "/usr/lib/python3.11")


def _is_documentation(name: str) -> bool:
    return any(name == d or name.startswith(d + "/") for d in DOCUMENTATION)


def build(report: Reporter = print, directory: Path | None = None) -> BuiltImage:
    """Build the image archive, or return the cached one for this source."""
    repo = repo_root()
    key = source_key(repo)
    directory = directory or cache_root() / "operator-image"
    directory.mkdir(parents=True, exist_ok=True)
    reference = f"{REPOSITORY}:{key[:12]}"
    archive = directory / f"podpilot-{key[:12]}.oci.tar"
    try:
        with filelock.exclusive(directory / "build.lock", BUILD_LOCK_TIMEOUT):
            if archive.exists():
                report(f"image {reference}: cached {archive}")
                return BuiltImage(reference, archive)
            _build_archive(repo, reference, archive, report)
    except filelock.LockTimeoutError as error:
        raise ImageBuildError(f"waiting for another build of the operator image: {error}") from None
    report(f"image {reference}: built {archive} ({archive.stat().st_size >> 20} MiB)")
    return BuiltImage(reference, archive)


def _build_archive(repo: Path, reference: str, archive: Path, report: Reporter) -> None:
    directory = archive.parent
    with tempfile.TemporaryDirectory(dir=directory, prefix="build-") as temporary:
        work = Path(temporary)
        report("image: building the wheel and installing it with its dependencies")
        install_site_packages(build_wheel(repo, work), work / "site")
        report("image: downloading and unpacking the Python runtime's Debian packages")
        unpack_runtime(download_debs(directory / "debs"), work / "rootfs")
        runtime_layer, app_layer = work / "runtime.tar", work / "app.tar"
        ocilayout.directory_layer(
            work / "rootfs",
            runtime_layer,
            extra={
                "etc/passwd": ocilayout.ExtraFile(PASSWD.encode()),
                "etc/group": ocilayout.ExtraFile(GROUP.encode()),
            },
            extra_directories={"tmp": 0o1777},
            skip=_is_documentation,
        )
        ocilayout.directory_layer(
            work / "site",
            app_layer,
            extra={"usr/local/bin/podpilot": ocilayout.ExtraFile(ENTRYPOINT_SCRIPT, 0o755)},
            extra_directories={
                **{str(parent): 0o755 for parent in Path(SITE_PACKAGES).parents if parent.name},
                "usr/local/bin": 0o755,
                SITE_PACKAGES: 0o755,
            },
            prefix=SITE_PACKAGES,
        )
        ocilayout.write_archive(reference, [runtime_layer, app_layer], image_config(), archive)
    for old in directory.glob("podpilot-*.oci.tar"):
        if old != archive:
            old.unlink()


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m podpilot_dev.operator_image",
        description="Build the operator image as an OCI archive (or find it cached) and print "
        "REFERENCE<TAB>ARCHIVE on stdout; progress goes to stderr.",
    )
    parser.add_argument(
        "--directory",
        type=Path,
        metavar="DIR",
        default=None,
        help="where archives are cached (default: <cache>/operator-image)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        image = build(
            report=lambda line: print(line, file=sys.stderr, flush=True),
            directory=arguments.directory,
        )
    except ImageBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{image.reference}\t{image.archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
