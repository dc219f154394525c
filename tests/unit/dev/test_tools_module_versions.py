"""The tools modules that share Go's build cache require each common module at one version."""

from __future__ import annotations

import re
from collections import defaultdict

from podpilot_dev import toolchain

REQUIREMENT = re.compile(r"^\s*(?:require\s+)?(\S+\.\S+)\s+(v\S+)(?:\s*//.*)?$", re.MULTILINE)


def required_versions(module_name: str) -> dict[str, str]:
    go_mod = (toolchain.component(module_name).module_dir / "go.mod").read_text()
    return dict(REQUIREMENT.findall(go_mod))


def test_the_requirement_pattern_reads_requires_and_skips_replacements() -> None:
    go_mod = (
        "module example.com/tools\n\nrequire k8s.io/kubernetes v1.36.3\n\n"
        "require (\n\tgoogle.golang.org/grpc v1.82.1 // indirect\n)\n\n"
        "replace (\n\tk8s.io/api => k8s.io/api v0.36.3\n)\n"
    )
    assert dict(REQUIREMENT.findall(go_mod)) == {
        "k8s.io/kubernetes": "v1.36.3",
        "google.golang.org/grpc": "v1.82.1",
    }


def test_modules_sharing_the_build_cache_agree_on_every_common_version() -> None:
    versions_by_module: dict[str, dict[str, str]] = defaultdict(dict)
    for name in toolchain.BUILD_CACHE_SHARING_MODULES:
        for module, version in required_versions(name).items():
            versions_by_module[module][name] = version
    disagreements = {
        module: by_tools_module
        for module, by_tools_module in versions_by_module.items()
        if len(set(by_tools_module.values())) > 1
    }
    assert "k8s.io/client-go" in versions_by_module
    assert disagreements == {}
