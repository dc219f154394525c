"""The Prometheus metric source's pure parts and its once-per-tick query sharing."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
import requests

from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.prometheus import PrometheusQuery, PrometheusSource, classify
from podpilot.autoscaler.sources.prometheus_connection import (
    REDACTED,
    Connection,
    ConnectionSettings,
    Credentials,
    redact,
)
from podpilot.autoscaler.sources.prometheus_servers import (
    SecretKey,
    parse_server_spec,
    secret_value,
)
from podpilot.autoscaler.sources.promql_result import (
    EmptyResult,
    Reduction,
    ResultError,
    reduce_samples,
    samples_of,
)

VECTOR = [
    {"metric": {"pod": "a"}, "value": [100.0, "1.5"]},
    {"metric": {"pod": "b"}, "value": [101.0, "4"]},
    {"metric": {"pod": "c"}, "value": [99.0, "0.5"]},
]


@pytest.mark.parametrize(
    ("reduction", "milli"),
    [
        (Reduction.SUM, 6000),
        (Reduction.MAX, 4000),
        (Reduction.MIN, 500),
        (Reduction.AVERAGE, 2000),
    ],
)
def test_a_vector_is_reduced_as_asked(reduction: Reduction, milli: int) -> None:
    reduced = reduce_samples(samples_of(VECTOR), reduction, EmptyResult.ERROR)
    assert (reduced.milli, reduced.series, reduced.timestamp) == (milli, 3, 101.0)


def test_a_scalar_is_one_sample() -> None:
    assert samples_of([100.0, "7"]) == [(100.0, 7.0)]


def test_milli_units_round_up_without_binary_noise() -> None:
    assert reduce_samples([(0.0, 0.3)], Reduction.SUM, EmptyResult.ERROR).milli == 300
    assert reduce_samples([(0.0, 0.0001)], Reduction.SUM, EmptyResult.ERROR).milli == 1


def test_an_empty_result_is_an_error_by_default_and_zero_on_request() -> None:
    with pytest.raises(ResultError) as raised:
        reduce_samples([], Reduction.SUM, EmptyResult.ERROR)
    assert raised.value.kind == "empty_result"
    assert "emptyResult: Zero" in str(raised.value)
    assert reduce_samples([], Reduction.SUM, EmptyResult.ZERO).milli == 0


@pytest.mark.parametrize(
    "result",
    [
        [{"metric": {}, "value": [1.0, "NaN"]}],
        [{"metric": {}, "value": [1.0, "+Inf"]}],
        [{"metric": {}, "values": [[1.0, "1"]]}],  # a range vector
        "text",
    ],
)
def test_unusable_results_are_bad_responses(result: Any) -> None:
    with pytest.raises(ResultError) as raised:
        samples_of(result)
    assert raised.value.kind == "bad_response"


def test_server_spec_defaults_the_secret_keys() -> None:
    spec = parse_server_spec(
        {
            "url": "https://prom:9090",
            "tls": {"caSecretRef": {"name": "ca"}, "clientCertSecretRef": {"name": "mtls"}},
            "auth": {"basicAuthSecretRef": {"name": "basic", "passwordKey": "pw"}},
        }
    )
    assert spec.timeout == 5.0
    assert spec.secret_keys() == {
        "ca_pem": SecretKey("ca", "ca.crt"),
        "client_cert_pem": SecretKey("mtls", "tls.crt"),
        "client_key_pem": SecretKey("mtls", "tls.key"),
        "username": SecretKey("basic", "username"),
        "password": SecretKey("basic", "pw"),
    }


def test_a_missing_secret_key_is_named_without_the_other_values() -> None:
    data = {"token": base64.b64encode(b"s3cr3t-token").decode()}
    assert secret_value(data, SecretKey("auth", "token")) == "s3cr3t-token"
    with pytest.raises(KeyError) as raised:
        secret_value(data, SecretKey("auth", "other"))
    assert "other" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_credentials_never_print_their_values() -> None:
    credentials = Credentials(bearer_token="tok-123456", username="alice", password="pw-98765")
    shown = repr(credentials)
    assert "tok-123456" not in shown and "pw-98765" not in shown and "alice" not in shown


def test_redact_hides_every_secret_in_a_message() -> None:
    secrets = Credentials(bearer_token="tok-123456\n", password="pw-98765").secret_values()
    message = "401 for Bearer tok-123456 with password pw-98765"
    cleaned = redact(message, secrets)
    assert "tok-123456" not in cleaned and "pw-98765" not in cleaned
    assert cleaned.count(REDACTED) == 2


def test_classify_gives_bounded_kinds_and_fixed_messages() -> None:
    assert classify(requests.ConnectTimeout("x"))[0] == "timeout"
    assert classify(TimeoutError())[0] == "timeout"
    unreachable = classify(requests.ConnectionError("refused by http://10.1.2.3/secret-path"))
    assert unreachable[0] == "unreachable" and "10.1.2.3" not in unreachable[1]
    assert classify(ResultError("unauthorized", "refused"))[0] == "unauthorized"
    assert classify(ValueError("Expecting value: <html>x</html>")) == (
        "bad_response",
        "the answer is not JSON",
    )


class FakeConnection(Connection):
    def __init__(self, result: Any, error: Exception | None = None, delay: float = 0.05) -> None:
        super().__init__(ConnectionSettings("http://127.0.0.1:9", 2.0), Credentials())
        self.secrets = ("tok-123456",)
        self.result, self.error, self.delay, self.calls = result, error, delay, 0

    def query(self, promql: str) -> Any:
        import time

        self.calls += 1
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.result


class FakeResolver:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection_object = connection

    async def connection(self, namespace: str, name: str) -> Connection:
        return self.connection_object

    def close(self) -> None:
        self.connection_object.close()


def source_with(connection: FakeConnection, max_age: float = 1.0) -> PrometheusSource:
    return PrometheusSource(None, max_age=max_age, resolver=FakeResolver(connection))  # type: ignore[arg-type]


def test_the_same_query_to_the_same_server_is_made_once_per_tick() -> None:
    connection = FakeConnection(VECTOR)
    source = source_with(connection)
    query = PrometheusQuery("ns", "main", "sum(x)")
    other = PrometheusQuery("ns", "main", "sum(y)")

    async def scenario() -> list[int]:
        readings = await asyncio.gather(*(source.read(q) for q in (query, query, query, other)))
        again = await source.read(query)
        return [reading.milli for reading in (*readings, again)]

    assert asyncio.run(scenario()) == [6000] * 5
    assert connection.calls == 2 and source.requests_made == 2
    source.close()


def test_a_caller_with_a_short_period_asks_again_sooner() -> None:
    connection = FakeConnection(VECTOR, delay=0.0)
    source = source_with(connection, max_age=5.0)
    young = PrometheusQuery("ns", "main", "sum(x)", max_age=0.05)

    async def scenario() -> None:
        await source.read(young)
        await asyncio.sleep(0.1)
        await source.read(young)
        await source.read(PrometheusQuery("ns", "main", "sum(x)"))  # shares the second result

    asyncio.run(scenario())
    assert connection.calls == 2
    source.close()


def test_a_failure_names_the_server_and_hides_the_token() -> None:
    error = ResultError("unauthorized", "refused tok-123456")
    source = source_with(FakeConnection(None, error))
    with pytest.raises(MetricSourceError) as raised:
        asyncio.run(source.read(PrometheusQuery("ns", "main", "up")))
    text = str(raised.value)
    assert "Prometheus server ns/main" in text
    assert "tok-123456" not in text
    assert raised.value.kind == "unauthorized"
    source.close()


def test_a_slow_server_times_out_instead_of_stalling() -> None:
    connection = FakeConnection(VECTOR, delay=4.0)
    connection.settings = ConnectionSettings("http://127.0.0.1:9", 0.2)
    source = source_with(connection)
    with pytest.raises(MetricSourceError) as raised:
        asyncio.run(source.read(PrometheusQuery("ns", "main", "up")))
    assert raised.value.kind == "timeout"
    source.close()


def test_tls_material_is_written_privately_and_removed_on_close() -> None:
    credentials = Credentials(
        ca_pem="-----CA-----",
        client_cert_pem="-----CERT-----",
        client_key_pem="-----KEY-----",
        bearer_token="tok-123456",
    )
    connection = Connection(ConnectionSettings("https://127.0.0.1:9", 2.0), credentials)
    session = connection.client._session
    ca, (cert, key) = session.verify, session.cert
    assert Path(ca).read_text() == "-----CA-----"
    assert Path(key).read_text() == "-----KEY-----"
    assert {oct(Path(p).stat().st_mode & 0o777) for p in (ca, cert, key)} == {"0o600"}
    assert connection.client.headers == {"Authorization": "Bearer tok-123456"}
    connection.close()
    assert not Path(key).exists() and not Path(ca).parent.exists()


def test_insecure_skip_verify_ignores_the_ca() -> None:
    settings = ConnectionSettings("https://127.0.0.1:9", 2.0, insecure_skip_verify=True)
    connection = Connection(settings, Credentials(ca_pem="-----CA-----"))
    assert connection.client._session.verify is False
    connection.close()
