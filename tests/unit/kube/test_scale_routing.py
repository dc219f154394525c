"""GroupRoutedScaleApi: the core group's ``/scale`` (ReplicationControllers, under ``/api/v1``)
goes through CoreV1Api, every other group's through CustomObjectsApi's scale subresource calls,
which build ``/apis/{group}/{version}`` paths only. Both generated APIs are recording fakes, so
nothing is sent; the ApiClient is real, for its conversion of CoreV1Api's typed answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import kubernetes
import pytest
from tests.unit.kube.fake_custom_objects import FakeCustomObjectsApi

from podpilot.kube.scale import GroupRoutedScaleApi

# What CustomObjectsApi answers: already the plain mapping ScaleClient reads.
PLAIN_SCALE = {
    "metadata": {"name": "web", "namespace": "team", "resourceVersion": "4711"},
    "spec": {"replicas": 3},
    "status": {"replicas": 2, "selector": "app=web"},
}
# What CoreV1Api answers for the same scale: a typed object.
TYPED_SCALE = kubernetes.client.V1Scale(
    metadata=kubernetes.client.V1ObjectMeta(name="web", namespace="team", resource_version="4711"),
    spec=kubernetes.client.V1ScaleSpec(replicas=3),
    status=kubernetes.client.V1ScaleStatus(replicas=2, selector="app=web"),
)
BODY = {"spec": {"replicas": 5}, "metadata": {"resourceVersion": "4711"}}
OPTIONS = {"field_manager": "podpilot", "_content_type": "application/merge-patch+json"}


@dataclass
class Routed:
    api: GroupRoutedScaleApi
    custom: FakeCustomObjectsApi
    core: FakeCustomObjectsApi  # records whichever method is called, CoreV1Api's too
    client: kubernetes.client.ApiClient
    built_with: list[object]  # the client each generated API was built on


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Routed]:
    client = kubernetes.client.ApiClient()
    custom = FakeCustomObjectsApi(answer=PLAIN_SCALE)
    core = FakeCustomObjectsApi(answer=TYPED_SCALE)
    built_with: list[object] = []

    def constructor_of(fake: FakeCustomObjectsApi) -> Callable[[object], FakeCustomObjectsApi]:
        def construct(api_client: object) -> FakeCustomObjectsApi:
            built_with.append(api_client)
            return fake

        return construct

    monkeypatch.setattr(kubernetes.client, "CustomObjectsApi", constructor_of(custom))
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", constructor_of(core))
    try:
        yield Routed(GroupRoutedScaleApi(client), custom, core, client, built_with)
    finally:
        client.close()


def test_both_apis_are_built_on_the_client_given(routed: Routed) -> None:
    assert routed.built_with == [routed.client, routed.client]


NAMED_GROUPS = [
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("argoproj.io", "v1alpha1", "rollouts"),
]


@pytest.mark.parametrize(("group", "version", "plural"), NAMED_GROUPS)
def test_a_named_groups_scale_is_read_through_the_custom_objects_scale_call(
    routed: Routed, group: str, version: str, plural: str
) -> None:
    answer = routed.api.get_namespaced_custom_object_scale(group, version, "team", plural, "web")
    assert routed.custom.calls == [
        ("get_namespaced_custom_object_scale", (group, version, "team", plural, "web"), {})
    ]
    assert routed.core.calls == []
    assert answer is PLAIN_SCALE  # passed on as answered


@pytest.mark.parametrize(("group", "version", "plural"), NAMED_GROUPS)
def test_a_named_groups_scale_is_patched_through_the_custom_objects_scale_call(
    routed: Routed, group: str, version: str, plural: str
) -> None:
    routed.api.patch_namespaced_custom_object_scale(
        group, version, "team", plural, "web", BODY, **OPTIONS
    )
    assert routed.custom.calls == [
        (
            "patch_namespaced_custom_object_scale",
            (group, version, "team", plural, "web", BODY),
            OPTIONS,
        )
    ]
    assert routed.core.calls == []


def test_the_core_groups_scale_is_read_through_core_v1_as_a_plain_mapping(
    routed: Routed,
) -> None:
    answer = routed.api.get_namespaced_custom_object_scale(
        "", "v1", "team", "replicationcontrollers", "web"
    )
    assert routed.core.calls == [
        ("read_namespaced_replication_controller_scale", ("web", "team"), {})
    ]
    assert routed.custom.calls == []
    # The same mapping, with the API's field names, as a named group's answer.
    assert answer == PLAIN_SCALE


def test_the_core_groups_scale_is_patched_through_core_v1_with_the_same_body_and_options(
    routed: Routed,
) -> None:
    answer = routed.api.patch_namespaced_custom_object_scale(
        "", "v1", "team", "replicationcontrollers", "web", BODY, **OPTIONS
    )
    assert routed.core.calls == [
        ("patch_namespaced_replication_controller_scale", ("web", "team", BODY), OPTIONS)
    ]
    assert routed.custom.calls == []
    assert answer == PLAIN_SCALE
