"""A request sent straight through the official client's pool, against an apiserver stand-in
on 127.0.0.1 that answers 401 to any other token: the refused token is told to the token's
source, as the client's own calls tell it, unless the answer may be another server's."""

from __future__ import annotations

import kubernetes
import pytest
from tests.local_http import serving

from podpilot.kube.clients import send_through_pool

PATH = "/api/v1/namespaces"


class RecordedToken:
    def __init__(self) -> None:
        self.refused: list[str | None] = []

    def authorization(self) -> str:
        return "Bearer old"

    def unauthorized(self, authorization: str | None) -> None:
        self.refused.append(authorization)


@pytest.mark.parametrize("answers_for_the_token", [True, False])
def test_a_401_is_told_to_the_token_source_unless_the_answer_is_relayed(
    answers_for_the_token: bool,
) -> None:
    with serving({PATH: (200, b"{}")}, authorization=lambda: "Bearer new") as url:
        configuration = kubernetes.client.Configuration(host=url)
        configuration.api_key["authorization"] = "Bearer old"
        with kubernetes.client.ApiClient(configuration) as client:
            client.rest_client.token = token = RecordedToken()
            response = send_through_pool(
                client, "GET", PATH, {}, answers_for_the_token=answers_for_the_token
            )
    assert response.status == 401
    assert token.refused == (["Bearer old"] if answers_for_the_token else [])
