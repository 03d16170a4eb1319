"""API Gateway path rules (issue 9, item 1): the pure rule, the ASGI middleware, and the app's
wiring of both (in-process ASGI app, no Kafka: only routes that need no broker are called)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pinlake.config import ApiSettings, Settings
from pinlake.ingest_api import create_app
from pinlake.ingest_api.errors import AMZ_JSON, KAFKA_V2
from pinlake.ingest_api.paths import PathRulesMiddleware, misplaced_stage, normalise_path

#: No example database on disk, no per-example deadline (a loaded machine must not flake).
FAST = settings(database=None, deadline=None)

#: a path segment: any text without "/" (unicode, dots, spaces, "%" included)
segments = st.text(st.characters(blacklist_characters="/"), min_size=1, max_size=12)
stages = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
slash_runs = st.integers(1, 4).map(lambda n: "/" * n)


def join(segs: list[str]) -> str:
    return "/" + "/".join(segs)


@st.composite
def sloppy(draw, segs: list[str]) -> str:
    """``segs`` written with 1-4 slashes before each segment and 0-4 after the last one."""
    out = "".join(draw(slash_runs) + s for s in segs)
    return (out or draw(slash_runs)) + "/" * draw(st.integers(0, 4))


# ---- the rule, as a pure function ----------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "stage", "expected"),
    [
        ("//streams/streaming-0a1b.pin/record", "", "/streams/streaming-0a1b.pin/record"),
        ("//topics/0a1b2c3d4e5f.pin", "", "/topics/0a1b2c3d4e5f.pin"),
        ("/test/topics/0a1b2c3d4e5f.pin", "test", "/topics/0a1b2c3d4e5f.pin"),
        ("/test//topics/t/", "test", "/topics/t"),
        ("//test/topics/t", "test", "/topics/t"),
        ("/streams/s/record/", "test", "/streams/s/record"),
        ("/topics/t", "test", "/topics/t"),
        ("/test", "test", "/"),
        ("/test/", "test", "/"),
        ("/", "test", "/"),
        ("//", "", "/"),
        ("/test/test/topics/t", "test", "/test/topics/t"),  # the stage is one segment, once
        ("/testing/topics/t", "test", "/testing/topics/t"),  # whole segment only
        ("/Test/topics/t", "test", "/Test/topics/t"),  # stage names are case-sensitive
        ("/dev/topics/t", "test", "/dev/topics/t"),  # another stage is just a path
        ("/test/topics/t", "", "/test/topics/t"),  # no stage configured
        ("*", "test", "*"),
        ("", "test", ""),
    ],
)
def test_examples(path, stage, expected):
    assert normalise_path(path, stage) == expected


@FAST
@given(st.lists(segments, max_size=6), st.one_of(st.just(""), stages), st.data())
def test_result_is_canonical(segs, stage, data):
    out = normalise_path(data.draw(sloppy(segs)), stage)
    assert out.startswith("/")
    assert "//" not in out
    assert out == "/" or not out.endswith("/")


@FAST
@given(st.lists(segments, max_size=6), st.data())
def test_runs_of_slashes_and_a_trailing_slash_change_nothing_else(segs, data):
    assert normalise_path(data.draw(sloppy(segs))) == join(segs)


@FAST
@given(st.lists(segments, max_size=6), stages, st.data())
def test_the_stage_segment_is_removed_once(segs, stage, data):
    plain = data.draw(sloppy(segs))
    staged = data.draw(sloppy([stage])) + plain
    assert normalise_path(staged, stage) == normalise_path(plain)
    if not segs or segs[0] != stage:  # a path not under the stage is served as it is
        assert normalise_path(plain, stage) == join(segs)


@FAST
@given(st.lists(segments, min_size=1, max_size=6), stages)
def test_a_segment_that_only_starts_like_the_stage_is_kept(segs, stage):
    segs[0] = stage + segs[0]
    assert normalise_path(join(segs), stage) == join(segs)


@FAST
@given(st.text(max_size=30), st.one_of(st.just(""), stages))
def test_without_a_stage_the_rule_is_idempotent_and_total(path, stage):
    once = normalise_path(path)
    assert normalise_path(once) == once
    if not path.startswith("/"):
        assert normalise_path(path, stage) == path


# ---- the middleware --------------------------------------------------------------------------
def _seen(scope: dict, stage: str = "test") -> dict:
    """The scope the wrapped app receives for ``scope``."""
    seen: dict = {}

    async def inner(scope, _receive, _send):
        seen.update(scope)

    asyncio.run(PathRulesMiddleware(inner, stage=stage)(scope, None, None))
    return seen


def test_middleware_rewrites_path_and_raw_path():
    scope = {"type": "http", "path": "/test//streams/a%2Fb/record/", "root_path": ""}
    scope["raw_path"] = b"/test//streams/a%252Fb/record/"
    seen = _seen(scope)
    assert seen["path"] == "/streams/a%2Fb/record"
    assert seen["raw_path"] == b"/streams/a%252Fb/record"
    assert scope["path"] == "/test//streams/a%2Fb/record/"  # the caller's scope is not changed


def test_middleware_normalises_only_below_the_root_path():
    seen = _seen({"type": "http", "path": "/api//test/topics/t/", "root_path": "/api"})
    assert seen["path"] == "/api/topics/t"
    seen = _seen({"type": "websocket", "path": "//topics/t", "root_path": "/api"})
    assert seen["path"] == "/topics/t"  # path outside root_path: normalised whole


def test_middleware_passes_other_scopes_unchanged():
    scope = {"type": "lifespan", "path": "//x/"}
    assert _seen(scope) == scope


# ---- the app -----------------------------------------------------------------------------
#: Requests name the whole URL: httpx would read a relative "//x" as a host, and a client's
#: base URL drops a path's leading slashes.
U = "http://testserver"


def _client(**api) -> TestClient:
    """The real app without its lifespan (no Kafka backend): only broker-free routes work."""
    return TestClient(create_app(Settings(api=ApiSettings(**api))), follow_redirects=False)


def test_stage_setting_default_and_validation():
    assert ApiSettings.model_fields["stage"].default == "test"
    assert ApiSettings(stage="/prod/").stage == "prod"
    assert ApiSettings(stage="").invoke_url == ApiSettings(stage="").url
    assert ApiSettings(stage="v1_x-2").invoke_url.endswith(":8082/v1_x-2")
    for bad in ("a b", "a/b", "ü", "x" * 129):
        with pytest.raises(ValidationError):
            ApiSettings(stage=bad)
    for taken in ("topics", "streams", "healthz", "docs"):
        with pytest.raises(ValueError, match="also a path"):
            create_app(Settings(api=ApiSettings(stage=taken)))


@pytest.mark.parametrize(
    "path", ["/openapi.json", "//openapi.json", "/test/openapi.json", "/test//openapi.json/"]
)
def test_every_spelling_is_served_directly(path):
    resp = _client().get(U + path)
    assert resp.status_code == 200, resp.text
    assert resp.json()["info"]["title"] == "pinlake ingestion API"


def test_trailing_slash_is_not_redirected():
    resp = _client().get(U + "/docs/")
    assert resp.status_code == 200 and "swagger" in resp.text.lower()


def test_other_or_disabled_stage_is_an_unknown_path():
    assert _client(stage="prod").get(U + "/test/openapi.json").status_code == 404
    assert _client(stage="prod").get(U + "/prod/openapi.json").status_code == 200
    assert _client(stage="").get(U + "/test/openapi.json").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/streams/s/nope", 404),
        ("PUT", "/test//streams/s/record/extra/", 404),
        ("POST", "/streams/s/record", 405),
        ("PATCH", "/streams", 405),
    ],
)
def test_unknown_kinesis_resources_answer_in_kinesis_shape(method, path, status):
    resp = _client().request(method, U + path)
    assert resp.status_code == status
    assert resp.headers["content-type"] == AMZ_JSON
    body = resp.json()
    assert set(body) == {"__type", "message"}
    assert body["__type"] == "UnknownOperationException"
    if status == 405:
        assert resp.headers["allow"] and method not in resp.headers["allow"]


@pytest.mark.parametrize("path", ["/no/such/route", "/streamsx/s", "/test/topics/t/extra"])
def test_unknown_paths_elsewhere_keep_the_kafka_rest_shape(path):
    resp = _client().get(U + path)
    assert resp.status_code == 404
    assert resp.headers["content-type"] == KAFKA_V2
    assert resp.json() == {"error_code": 404, "message": f"HTTP 404 Not Found: GET {path}."}


@pytest.mark.parametrize(
    ("stage", "path", "hint"),
    [
        ("test", "/dev/topics/t", "'dev' is not this API's stage: use /test/topics/t or /topics/t"),
        ("test", "/prod//topics/t/", "'prod' is not this API's stage: use /test/topics/t or"),
        ("", "/test/topics/t", "This API has no stage 'test': use /topics/t."),
    ],
)
def test_a_wrong_stage_is_named_with_the_right_one(stage, path, hint):
    """A path under a stage the API does not have is a 404 that says which stage it has (API
    Gateway's 403 "Missing Authentication Token" says nothing)."""
    resp = _client(stage=stage).post(U + path)
    assert resp.status_code == 404 and resp.headers["content-type"] == KAFKA_V2
    assert resp.json()["error_code"] == 404
    assert resp.json()["message"].startswith("HTTP 404 Not Found: POST ")
    assert hint in resp.json()["message"]


def test_a_wrong_stage_on_a_kinesis_path_answers_in_kinesis_shape():
    resp = _client(stage="test").put(U + "/dev/streams/s/record")
    assert resp.status_code == 404 and resp.headers["content-type"] == AMZ_JSON
    body = resp.json()
    assert body["__type"] == "UnknownOperationException"
    assert body["message"] == (
        "The Kinesis proxy has no resource /dev/streams/s/record. 'dev' is not this API's "
        "stage: use /test/streams/s/record or /streams/s/record."
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/dev/topics/t", ("dev", "/topics/t")),
        ("/dev/streams", ("dev", "/streams")),
        ("/topics/t", None),
        ("/test/topics/t", None),
        ("/no/such/route", None),
        ("/dev", None),
        ("/", None),
    ],
)
def test_misplaced_stage(path, expected):
    assert misplaced_stage(path, "test", {"topics", "streams", "consumers", "brokers"}) == expected


def test_api_key_sees_the_normalised_path():
    client = _client(api_key="s3cret", stage="prod")
    for open_path in ("/prod/openapi.json", "//openapi.json/", "/prod//docs/"):
        assert client.get(U + open_path).status_code == 200, open_path
    for closed in ("/prod/topics/t", "//topics/t", "/streams/s/record/", "/prod/openapi.json/x"):
        resp = client.post(U + closed)
        assert resp.status_code == 403 and resp.json() == {"message": "Forbidden"}, closed
    # with the key, the request reaches routing (an unknown path: 404, not 403)
    resp = client.get(U + "/prod//streams/s/nope/", headers={"x-api-key": "s3cret"})
    assert resp.status_code == 404 and resp.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("stage", ["", "prod"])
def test_stage_reaches_the_api_process(monkeypatch, stage):
    """The API runs in a child process that reads its settings from ``child_env()``."""
    env = Settings(api=ApiSettings(stage=stage)).child_env()
    for name, value in env.items():
        if name.startswith("PINLAKE_"):
            monkeypatch.setenv(name, value)
    assert Settings().api.stage == stage
