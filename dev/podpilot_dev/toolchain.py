"""Build the dev cluster's upstream binaries from pinned Go modules, cached by content.

Every component is a small Go "tools module" under ``tools/<name>/`` whose ``go.mod`` and
``go.sum`` pin the upstream version. A build lands in
``<cache>/bin/<name>-<key>/`` where the key hashes the tools module, the Go version, the
platform and the link flags; a stamp file written last marks a complete build, so a cache
hit costs nothing and an interrupted build is redone.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from podpilot_dev.paths import cache_root, repo_root

KUBERNETES_VERSION = "v1.36.3"
HELM_VERSION = "v3.21.4"
FLANNEL_VERSION = "v0.28.10"
KIND_VERSION = "v0.33.0"
COREDNS_VERSION = "v1.14.2"
MIN_FREE_DISK_BYTES = 12 * 1024**3
STAMP_FILE = ".complete"


class ToolchainError(RuntimeError):
    """A build cannot start or did not finish; the message says what to do."""


@dataclass(frozen=True)
class GoComponent:
    """One tools module and the binaries built from it."""

    name: str
    binaries: tuple[tuple[str, str], ...]  # (binary name, Go package path)
    ldflags: Callable[[], str] = lambda: "-s -w"
    cgo: bool = False  # flanneld's udp backend is cgo; everything else links statically
    tags: tuple[str, ...] = ()  # Go build tags (e.g. Prometheus' service discovery choice)

    @property
    def tag_flags(self) -> list[str]:
        return ["-tags", ",".join(self.tags)] if self.tags else []

    @property
    def module_dir(self) -> Path:
        return repo_root() / "tools" / self.name


def _kubernetes_ldflags() -> str:
    # Without these stamps /version reports v0.0.0, which breaks helm's kubeVersion checks
    # and every client that parses the server version.
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={KUBERNETES_VERSION}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.gitCommit=0000000000000000000000000000000000000000",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def _helm_ldflags() -> str:
    # helm otherwise believes it talks to Kubernetes 1.20 when linting and templating.
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"]
    for package in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
        flags += [f"-X {package}.k8sVersionMajor={major}", f"-X {package}.k8sVersionMinor={minor}"]
    return " ".join(flags)


COMPONENTS: tuple[GoComponent, ...] = (
    GoComponent("etcd", (("etcd", "go.etcd.io/etcd/server/v3"),)),
    GoComponent(
        "k8s",
        (
            ("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"),
            ("kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"),
            ("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"),
            ("kubectl", "k8s.io/kubernetes/cmd/kubectl"),
            ("kubelet", "k8s.io/kubernetes/cmd/kubelet"),
        ),
        _kubernetes_ldflags,
    ),
    GoComponent("kwok", (("kwok", "sigs.k8s.io/kwok/cmd/kwok"),)),
    GoComponent(
        "metrics-server", (("metrics-server", "sigs.k8s.io/metrics-server/cmd/metrics-server"),)
    ),
    GoComponent(
        "prometheus-adapter",
        (("prometheus-adapter", "sigs.k8s.io/prometheus-adapter/cmd/adapter"),),
    ),
    GoComponent("helm", (("helm", "helm.sh/helm/v3/cmd/helm"),), _helm_ldflags),
    # Generates helm/podpilot/README.md from values.yaml; a unit test checks it is current.
    GoComponent("helm-docs", (("helm-docs", "github.com/norwoodj/helm-docs/cmd/helm-docs"),)),
    # Real nodes only (podpilot-dev cluster up --real-nodes N).
    GoComponent(
        "flannel",
        (("flanneld", "github.com/flannel-io/flannel"),),
        lambda: f"-s -w -X github.com/flannel-io/flannel/pkg/version.Version={FLANNEL_VERSION}",
        cgo=True,
    ),
)


# Built only for the kind cluster (podpilot-dev kind build), never by 'cluster build'.
KIND_COMPONENTS: tuple[GoComponent, ...] = (
    GoComponent("kind", (("kind", "sigs.k8s.io/kind"),)),
    GoComponent(
        "kubeadm",
        (
            ("kubeadm", "k8s.io/kubernetes/cmd/kubeadm"),
            ("kube-proxy", "k8s.io/kubernetes/cmd/kube-proxy"),
        ),
        _kubernetes_ldflags,
    ),
    # CoreDNS carries its version in its source (coremain.CoreVersion).
    GoComponent("coredns", (("coredns", "github.com/coredns/coredns"),)),
)


# These tools modules select one version of every module they have in common, so that Go's
# build cache compiles client-go, apiserver, grpc and the rest once for all of them: a package's
# cache key holds the version its module is required at, so a mere `replace` would not share.
# Bumping one means `go get` of the same versions in the others (docs/dev-cluster.md).
BUILD_CACHE_SHARING_MODULES = ("etcd", "k8s", "kubeadm", "metrics-server", "kwok", "helm")


def component(name: str) -> GoComponent:
    for candidate in (*COMPONENTS, *KIND_COMPONENTS):
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def go_executable() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError(
            "Go is not installed or not on PATH; the dev cluster builds Kubernetes from Go "
            "modules and needs Go >= 1.26 (https://go.dev/doc/install)."
        )
    return go


def go_version(go: str) -> str:
    return subprocess.run(
        [go, "env", "GOVERSION"], check=True, capture_output=True, text=True
    ).stdout.strip()


def cache_key(comp: GoComponent, go_version_text: str) -> str:
    digest = hashlib.sha256()
    for file_name in ("go.mod", "go.sum", "tools.go"):
        path = comp.module_dir / file_name
        if path.exists():
            digest.update(file_name.encode() + b"\0" + path.read_bytes() + b"\0")
    # Local replacements (tools/flannel's stub module) are part of the build too.
    for path in sorted(comp.module_dir.rglob("*")):
        relative = path.relative_to(comp.module_dir).as_posix()
        if path.is_file() and relative not in ("go.mod", "go.sum", "tools.go"):
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    if comp.cgo:
        digest.update(b"cgo")
    if comp.tags:
        digest.update(("tags:" + ",".join(comp.tags)).encode())
    digest.update(go_version_text.encode())
    digest.update(f"{sys.platform}/{platform.machine()}".encode())
    digest.update(comp.ldflags().encode())
    return digest.hexdigest()[:16]


def output_dir(comp: GoComponent, go_version_text: str) -> Path:
    return cache_root() / "bin" / f"{comp.name}-{cache_key(comp, go_version_text)}"


def is_built(comp: GoComponent, go_version_text: str) -> bool:
    return (output_dir(comp, go_version_text) / STAMP_FILE).exists()


def _check_free_disk(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_DISK_BYTES:
        raise ToolchainError(
            f"only {free / 1024**3:.1f} GiB free under {path}; building the dev cluster needs "
            f"about {MIN_FREE_DISK_BYTES / 1024**3:.0f} GiB (Go module and build caches). "
            "Free some space or point PODPILOT_CACHE_DIR elsewhere."
        )


def _go_environment(comp: GoComponent | None = None) -> dict[str, str]:
    environment = dict(os.environ)
    cgo = "1" if comp is not None and comp.cgo else "0"
    environment.update(CGO_ENABLED=cgo, GOFLAGS="-modcacherw -mod=mod", GOTOOLCHAIN="local")
    return environment


def download_modules(go: str, name: str, report: Callable[[str], None]) -> None:
    """Fetch the Go modules component ``name`` builds from into the module cache."""
    _download_modules(go, component(name), report)


def _download_modules(go: str, comp: GoComponent, report: Callable[[str], None]) -> None:
    for attempt in range(1, 4):
        result = subprocess.run(
            [go, "mod", "download"],
            cwd=comp.module_dir,
            env=_go_environment(),
            capture_output=True,
            text=True,
        )
        if result.returncode == 0:
            return
        report(f"[{comp.name}] go mod download failed (attempt {attempt}/3)")
        time.sleep(2 * attempt)
    raise ToolchainError(
        f"could not download the Go modules of {comp.name} (tools/{comp.name}); "
        f"is the Go module proxy reachable? go said:\n{result.stderr.strip()[-2000:]}"
    )


def _count_packages(go: str, comp: GoComponent) -> int:
    result = subprocess.run(
        [go, "list", "-deps", *comp.tag_flags, *[package for _, package in comp.binaries]],
        cwd=comp.module_dir,
        env=_go_environment(),
        capture_output=True,
        text=True,
    )
    return len(result.stdout.splitlines()) if result.returncode == 0 else 0


class ModulePrefetch:
    """Downloads (and counts the packages of) the components still to build, in build order,
    on one thread: each download from the Go module proxy overlaps the compile before it,
    which a fresh machine would otherwise wait for, component after component."""

    def __init__(
        self, go: str, components: Sequence[GoComponent], report: Callable[[str], None]
    ) -> None:
        self._go = go
        self._report = report
        self._queue = list(components)
        self._ready = {comp.name: threading.Event() for comp in components}
        self._outcome: dict[str, int | ToolchainError] = {}
        if components:
            threading.Thread(target=self._run, name="go-module-prefetch", daemon=True).start()

    def _run(self) -> None:
        for comp in self._queue:
            try:
                _download_modules(self._go, comp, self._report)
                self._outcome[comp.name] = _count_packages(self._go, comp)
            except Exception as error:  # any failure reaches the waiting build, never a hang
                self._outcome[comp.name] = (
                    error
                    if isinstance(error, ToolchainError)
                    else ToolchainError(f"preparing {comp.name} failed: {error!r}")
                )
            finally:
                self._ready[comp.name].set()

    def package_count(self, comp: GoComponent) -> int:
        """Wait for the component's modules; its package count (0 when go list failed)."""
        ready = self._ready.get(comp.name)
        if ready is None:
            _download_modules(self._go, comp, self._report)
            return _count_packages(self._go, comp)
        ready.wait()
        outcome = self._outcome.get(comp.name, ToolchainError(f"preparing {comp.name} failed"))
        if isinstance(outcome, ToolchainError):
            raise outcome
        return outcome


def build_component(
    comp: GoComponent,
    go: str,
    go_version_text: str,
    report: Callable[[str], None],
    prefetch: ModulePrefetch | None = None,
) -> Path:
    """Build one component into its cache directory, printing progress, and return it."""
    target = output_dir(comp, go_version_text)
    if (target / STAMP_FILE).exists():
        report(f"[{comp.name}] cached in {target}")
        return target
    _check_free_disk(cache_root())
    started = time.monotonic()
    report(f"[{comp.name}] downloading Go modules")
    total = (prefetch or ModulePrefetch(go, (), report)).package_count(comp)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    report(f"[{comp.name}] compiling {total or '?'} packages (2 cores: this is the slow part)")
    _go_build(go, comp, partial, total, started, report)
    (partial / STAMP_FILE).write_text(datetime.now(UTC).isoformat() + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    report(f"[{comp.name}] built in {time.monotonic() - started:.0f}s -> {target}")
    return target


def go_default_binary_name(package: str) -> str:
    """The file name ``go build -o DIR/`` gives a main package: its last path element, or the
    one before a major-version suffix (go.etcd.io/etcd/server/v3 -> server)."""
    elements = package.split("/")
    last = elements[-1]
    major = last.startswith("v") and last[1:].isdigit() and not last[1:].startswith("0")
    if len(elements) > 1 and major and last != "v1":
        return elements[-2]
    return last


def _go_build(
    go: str,
    comp: GoComponent,
    destination: Path,
    total_packages: int,
    started: float,
    report: Callable[[str], None],
) -> None:
    # One go build for all of a component's binaries: their links run beside the compiles
    # instead of one after another (kube-apiserver's link alone keeps one core busy).
    command = [go, "build", "-v", "-trimpath", *comp.tag_flags, "-ldflags", comp.ldflags()]
    linked = destination / ".linked"
    linked.mkdir(exist_ok=True)
    command += ["-o", f"{linked}/"]
    compiled = 0
    tail: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(20):
            with lock:
                count = compiled
            of_total = f"/{total_packages}" if total_packages else ""
            report(
                f"[{comp.name}] {count}{of_total} packages compiled, "
                f"{time.monotonic() - started:.0f}s elapsed"
            )

    threading.Thread(target=heartbeat, daemon=True).start()
    packages = [package for _, package in comp.binaries]
    # The context manager closes the stderr pipe and reaps the process on every path; an
    # unclosed pipe is a ResourceWarning, which the test run treats as an error.
    with subprocess.Popen(
        [*command, *packages],
        cwd=comp.module_dir,
        env=_go_environment(comp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        try:
            for line in process.stderr:
                with lock:
                    compiled += 1
                tail = [*tail[-40:], line.rstrip()]
        finally:
            done.set()
        returncode = process.wait()
    if returncode != 0:
        raise ToolchainError(
            f"go build of {' '.join(packages)} failed (tools/{comp.name}):\n" + "\n".join(tail)
        )
    for binary, package in comp.binaries:
        built = linked / go_default_binary_name(package)
        if not built.is_file():
            raise ToolchainError(
                f"go build of {package} (tools/{comp.name}) left no {built.name} in {linked}"
            )
        built.rename(destination / binary)
    linked.rmdir()


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_all(
    names: Sequence[str] | None = None,
    report: Callable[[str], None] = _print_progress,
    components: Sequence[GoComponent] = COMPONENTS,
) -> dict[str, Path]:
    """Build (or find cached) every requested component; return binary name -> path."""
    go = go_executable()
    version = go_version(go)
    wanted = [comp for comp in components if names is None or comp.name in names]
    prefetch = ModulePrefetch(go, [c for c in wanted if not is_built(c, version)], report)
    binaries: dict[str, Path] = {}
    for comp in wanted:
        directory = build_component(comp, go, version, report, prefetch)
        for binary, _ in comp.binaries:
            binaries[binary] = directory / binary
    return binaries


def locate_all() -> dict[str, Path]:
    """Return the cached binaries without building; missing components are left out."""
    go = go_executable()
    version = go_version(go)
    binaries: dict[str, Path] = {}
    for comp in COMPONENTS:
        directory = output_dir(comp, version)
        if (directory / STAMP_FILE).exists():
            for binary, _ in comp.binaries:
                binaries[binary] = directory / binary
    return binaries


def main() -> int:
    """``python3 -m podpilot_dev.toolchain``: build the dev cluster's binaries with nothing but
    Go and the standard library, so ``scripts/dev test`` starts them before the venv exists."""
    try:
        build_all()
    except ToolchainError as error:
        print(f"dev: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
