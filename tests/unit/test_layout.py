"""Guards on the project layout that a refactoring could silently break."""

import importlib
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_standard_library_operator_module_is_not_shadowed() -> None:
    import operator

    assert operator.itemgetter(1)([0, 42]) == 42
    assert not (REPO_ROOT / "operator" / "__init__.py").exists()


def test_podpilot_is_imported_from_the_operator_source_root() -> None:
    podpilot = importlib.import_module("podpilot")
    assert pathlib.Path(podpilot.__file__).parent == REPO_ROOT / "operator" / "podpilot"
