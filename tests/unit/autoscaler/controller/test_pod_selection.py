"""Selecting a target's pods through the label-keyed pod cache."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podpilot.apimachinery.selectors import format_selector, parse_selector, selector_from_object
from podpilot.autoscaler.api.pods import CachedPod, PodKey, select_pods
from podpilot.autoscaler.controller.watched_objects import PodCache, ScaleCache, WatchedObjects
from podpilot.autoscaler.engine import PodInfo
from podpilot.kube.scale import Scale


def cache_of(pods: dict[str, tuple[str, dict[str, str]]]) -> PodCache:
    cache = PodCache()
    for name, (namespace, labels) in pods.items():
        cache.put((namespace, name), CachedPod(labels, PodInfo(name)))
    return cache


def names(pods: list[CachedPod]) -> set[str]:
    return {pod.info.name for pod in pods}


PODS = {
    "web-1": ("shop", {"app": "web", "track": "stable"}),
    "web-2": ("shop", {"app": "web", "track": "canary"}),
    "api-1": ("shop", {"app": "api", "track": "stable"}),
    "web-x": ("other", {"app": "web", "track": "stable"}),
    "bare": ("shop", {}),
}


def test_equality_selector_reads_one_label_bucket() -> None:
    cache = cache_of(PODS)
    asked: list[PodKey] = []

    def bucket(key: PodKey) -> list[CachedPod]:
        asked.append(key)
        return list(cache.bucket(key))

    selected = select_pods(bucket, "shop", parse_selector("app=web,track=stable"))
    assert names(selected) == {"web-1"}
    assert ("shop", "app", "web") in asked or ("shop", "track", "stable") in asked


def test_selector_without_equalities_scans_the_namespace() -> None:
    cache = cache_of(PODS)
    selector = parse_selector("!track")
    assert names(select_pods(cache.bucket, "shop", selector)) == {"bare"}


def test_label_missing_from_every_pod_selects_nothing() -> None:
    cache = cache_of(PODS)
    selector = parse_selector("app=web,team=red")
    assert select_pods(cache.bucket, "shop", selector) == []


def test_empty_selector_selects_the_whole_namespace() -> None:
    cache = cache_of(PODS)
    selected = select_pods(cache.bucket, "shop", parse_selector(""))
    assert names(selected) == {"web-1", "web-2", "api-1", "bare"}


LABEL_KEYS = st.sampled_from(["app", "track", "tier"])
LABEL_VALUES = st.sampled_from(["a", "b", "c"])
LABEL_SETS = st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=3)
EXPRESSIONS = st.lists(
    st.fixed_dictionaries(
        {
            "key": LABEL_KEYS,
            "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
            "values": st.lists(LABEL_VALUES, min_size=1, max_size=2, unique=True),
        }
    ),
    max_size=2,
)


@given(
    pods=st.lists(st.tuples(st.sampled_from(["shop", "other"]), LABEL_SETS), max_size=12),
    match_labels=st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2),
    expressions=EXPRESSIONS,
)
def test_selection_equals_testing_every_pod_of_the_namespace(
    pods: list[tuple[str, dict[str, str]]],
    match_labels: dict[str, str],
    expressions: list[dict[str, object]],
) -> None:
    for expression in expressions:
        if expression["operator"] in ("Exists", "DoesNotExist"):
            expression["values"] = []
    selector = parse_selector(
        format_selector(
            selector_from_object({"matchLabels": match_labels, "matchExpressions": expressions})
        )
    )
    named = {f"pod-{i}": pod for i, pod in enumerate(pods)}
    cache = cache_of(named)
    expected = {
        name
        for name, (namespace, labels) in named.items()
        if namespace == "shop" and selector.matches(labels)
    }
    assert names(select_pods(cache.bucket, "shop", selector)) == expected


def test_relabelled_pod_moves_between_buckets() -> None:
    cache = cache_of(PODS)
    cache.put(("shop", "web-1"), CachedPod({"app": "api"}, PodInfo("web-1")))
    assert names(select_pods(cache.bucket, "shop", parse_selector("app=web"))) == {"web-2"}
    assert names(select_pods(cache.bucket, "shop", parse_selector("app=api"))) == {
        "api-1",
        "web-1",
    }
    assert names(select_pods(cache.bucket, "shop", parse_selector("track=stable"))) == {"api-1"}
    assert len(cache) == len(PODS)


def test_removed_pod_leaves_every_bucket() -> None:
    cache = cache_of(PODS)
    cache.remove(("shop", "web-1"))
    cache.remove(("shop", "never-seen"))
    assert names(select_pods(cache.bucket, "shop", parse_selector(""))) == {
        "web-2",
        "api-1",
        "bare",
    }
    assert names(list(cache.bucket(("shop", "track", "stable")))) == {"api-1"}
    cache.remove(("shop", "api-1"))
    assert list(cache.bucket(("shop", "track", "stable"))) == []


def test_watched_objects_answer_for_deployments_only() -> None:
    scales = ScaleCache()
    scales.put(("shop", "web"), Scale(3, 3, "app=web"))
    watched = WatchedObjects(cache_of(PODS), scales)
    assert watched.scale("shop", "apps/v1", "Deployment", "web") == Scale(3, 3, "app=web")
    assert watched.scale("shop", "apps/v1", "StatefulSet", "web") is None
    assert watched.scale("shop", "apps/v1", "Deployment", "gone") is None
    scales.remove(("shop", "web"))
    assert watched.scale("shop", "apps/v1", "Deployment", "web") is None
    assert names(list(watched.pods(("other", "", "")))) == {"web-x"}
