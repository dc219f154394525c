from typing import Any

from podpilot.flannel.api.reports import merge_patch, node_report_body


def _apply(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge, as the API server applies it."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _apply(result[key], value)
        else:
            result[key] = value
    return result


def test_merge_patch_removes_keys_that_went_away_at_any_depth() -> None:
    old = {"netConf": {"valid": False, "error": "bad json"}, "free": 3, "findings": [{"id": "x"}]}
    new = {"netConf": {"valid": True, "network": "10.0.0.0/16"}, "findings": []}
    patch = merge_patch(old, new)
    assert patch == {
        "netConf": {"valid": True, "network": "10.0.0.0/16", "error": None},
        "free": None,
        "findings": [],
    }
    assert _apply(old, patch) == new


def test_merge_patch_of_unchanged_content_is_empty() -> None:
    status = {"a": {"b": [1, 2]}, "c": "d"}
    assert merge_patch(status, dict(status)) == {}


def test_merge_patch_from_nothing_is_the_whole_status() -> None:
    assert merge_patch(None, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_node_report_is_owned_by_its_node_only_when_the_uid_is_known() -> None:
    owned = node_report_body("n1", "uid-1")
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "uid-1"}
    ]
    assert "ownerReferences" not in node_report_body("n1", None)["metadata"]
