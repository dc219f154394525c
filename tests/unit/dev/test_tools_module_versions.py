"""The tools modules that share Go's build cache require each common module at one version."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict

from podpilot_dev import toolchain


def required_versions(module_name: str) -> dict[str, str]:
    """The module's requirements as Go reads its go.mod (replacements are not requirements)."""
    go_mod = toolchain.component(module_name).module_dir / "go.mod"
    edit = subprocess.run(
        [toolchain.go_executable(), "mod", "edit", "-json", str(go_mod)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {item["Path"]: item["Version"] for item in json.loads(edit.stdout)["Require"]}


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
