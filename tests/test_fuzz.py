"""Every input fuzzed: invalid values exit 2 before any request, valid ones round-trip into Settings.

Valid values are built from each input's grammar and must come back exactly; invalid ones are
anything the grammar rejects, and the CLI must answer them with exit 2, one line naming the setting,
no traceback and no request to Rancher (a module-wide simulator counts them).
"""

from __future__ import annotations

import io
import re
import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rancher_deploy import cli
from rancher_deploy.images import ImageRef, ImageReferenceError
from rancher_deploy.errors import ConfigError
from rancher_deploy.settings import FALSE_WORDS, OPTIONS_BY_NAME, TRUE_WORDS, Command, Settings
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, NEW_IMAGE, SECRET_KEY

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Through the whole CLI each example costs a parser and a log; fewer of them keep the suite fast.
FUZZ_CLI = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"


@pytest.fixture(scope="module")
def rancher() -> Iterator[Simulator]:
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast()) as simulator:
        yield simulator


def environment(url: str, **overrides: str) -> dict[str, str]:
    return {"CATTLE_URL": url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
            "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, **overrides}


def load(**overrides: str) -> Settings:
    return Settings.load(Command.UPGRADE, {}, environment("https://rancher.example.com", **overrides))


def assert_refused(rancher: Simulator, setting: str, **overrides: str) -> str:
    """The CLI refuses the value: exit 2, the setting named, nothing sent, nothing secret shown."""
    before = rancher.count()
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([], environ=environment(rancher.url, **overrides), dotenv_path=None, stdout=out, stderr=err)
    text = out.getvalue() + err.getvalue()
    assert code == 2, text
    assert f"error: {setting}" in text
    assert "Traceback" not in text
    assert SECRET_KEY not in text
    assert rancher.count() == before, "a request was sent for an invalid setting"
    return text


def padded(word: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """CI systems and people add spaces around values; they never change the meaning."""
    return st.tuples(st.sampled_from(["", " ", "  ", "\t"]), word, st.sampled_from(["", " ", "\t"])).map("".join)


# -- booleans in their CI spellings ------------------------------------------------------------------

def any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(word, upper)))


@FUZZ
@given(st.sampled_from(sorted(TRUE_WORDS | FALSE_WORDS)).flatmap(any_case).flatmap(lambda w: padded(st.just(w))))
def test_booleans_in_every_ci_spelling_round_trip(text: str) -> None:
    assert load(RANCHER_DRY_RUN=text).dry_run is (text.strip().lower() in TRUE_WORDS)


@FUZZ_CLI
@given(st.text(min_size=1, max_size=12).filter(
    lambda t: t.strip() != "" and t.strip().lower() not in TRUE_WORDS | FALSE_WORDS and "\x00" not in t))
def test_anything_else_as_a_boolean_exits_2(rancher: Simulator, text: str) -> None:
    assert_refused(rancher, "RANCHER_DRY_RUN", RANCHER_DRY_RUN=text)


# -- numbers ----------------------------------------------------------------------------------------

@FUZZ
@given(st.floats(min_value=1, max_value=OPTIONS_BY_NAME["timeout"].maximum, allow_nan=False), st.sampled_from(["", "s"]))
def test_seconds_round_trip(value: float, suffix: str) -> None:
    assert load(RANCHER_TIMEOUT=f"{value!r}{suffix}").timeout_seconds == value


@FUZZ
@given(st.integers(min_value=0, max_value=int(OPTIONS_BY_NAME["retries"].maximum or 0)))
def test_counts_round_trip(value: int) -> None:
    assert load(RANCHER_RETRIES=str(value)).retries == value


@FUZZ
@given(st.one_of(st.floats(min_value=OPTIONS_BY_NAME["timeout"].maximum, exclude_min=True, allow_nan=False,
                           allow_infinity=False).map(repr),
                 st.integers(min_value=int(OPTIONS_BY_NAME["timeout"].maximum or 0) + 1).map(str)))
def test_seconds_past_the_bound_are_refused_naming_it(text: str) -> None:
    # 1e20 seconds ended the run in an OverflowError from the socket timeout, as an internal error.
    with pytest.raises(ConfigError) as caught:
        load(RANCHER_TIMEOUT=text)
    assert str(caught.value) == f"RANCHER_TIMEOUT: must be at most 86400, got {text!r}"


@FUZZ_CLI
@given(st.one_of(
    st.floats(max_value=0.999, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "ten", "1,5", "5m", "0x10", "--1"]),
    st.text(alphabet=string.ascii_letters + " -_", min_size=1, max_size=8).filter(lambda t: t.strip() != ""),
))
def test_invalid_seconds_exit_2(rancher: Simulator, text: str) -> None:
    assert_refused(rancher, "RANCHER_TIMEOUT", RANCHER_TIMEOUT=text)


@FUZZ_CLI
@given(st.one_of(
    st.integers(max_value=-1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()).map(repr),
    st.sampled_from(["three", "1e3", "", "0.5", "--2"]).filter(bool),
))
def test_invalid_counts_exit_2(rancher: Simulator, text: str) -> None:
    assert_refused(rancher, "RANCHER_RETRIES", RANCHER_RETRIES=text)


# -- names ------------------------------------------------------------------------------------------

names = st.from_regex(NAME, fullmatch=True)


@FUZZ
@given(names, names)
def test_stack_and_service_names_round_trip(stack: str, service: str) -> None:
    (target,) = load(RANCHER_SERVICE=f"{stack}/{service}").services
    assert (target.stack, target.name) == (stack, service)
    (target,) = load(RANCHER_SERVICE=service, RANCHER_STACK=stack).services
    assert (target.stack, target.name) == (stack, service)


@FUZZ_CLI
@given(st.text(min_size=1, max_size=20).filter(
    lambda t: t.strip() != "" and not re.fullmatch(NAME, t.strip()) and "\x00" not in t))
def test_invalid_stack_names_exit_2(rancher: Simulator, text: str) -> None:
    assert_refused(rancher, "RANCHER_STACK", RANCHER_STACK=text, RANCHER_SERVICE="web")


@FUZZ_CLI
@given(st.text(min_size=1, max_size=20).filter(
    lambda t: t.strip() != "" and "\x00" not in t
    and not all(re.fullmatch(NAME, part.strip()) for item in t.split(",") for part in item.split("/"))))
def test_invalid_service_names_exit_2(rancher: Simulator, text: str) -> None:
    assert_refused(rancher, "RANCHER_SERVICE", RANCHER_SERVICE=text)


# -- image references -------------------------------------------------------------------------------

component = st.from_regex(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", fullmatch=True).filter(lambda c: len(c) <= 30)
label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
registry = st.one_of(
    st.just(None),
    st.just("localhost"),
    st.tuples(st.lists(label, min_size=2, max_size=3).map(".".join), st.one_of(st.just(""), st.integers(1, 65535).map(
        lambda port: f":{port}"))).map("".join),
    st.tuples(label, st.integers(1, 65535)).map(lambda pair: f"{pair[0]}:{pair[1]}"),
)
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)
digest = st.from_regex(r"[0-9a-f]{64}", fullmatch=True).map(lambda hexes: f"sha256:{hexes}")


@st.composite
def image_references(draw: st.DrawFn) -> str:
    host = draw(registry)
    parts = draw(st.lists(component, min_size=1, max_size=3))
    # Docker reads a first part with a dot (or `localhost`) as a registry host, and a host may not
    # hold `_`: without a registry, such a first part makes the whole reference invalid.
    assume(host or len(parts) == 1 or ("." not in parts[0] and parts[0] != "localhost"))
    path = "/".join(parts)
    text = f"{host}/{path}" if host else path
    assume(len(text) <= 255)
    if draw(st.booleans()):
        text += ":" + draw(tag)
    if draw(st.booleans()):
        text += "@" + draw(digest)
    return text


@FUZZ
@given(image_references(), st.sampled_from(["", "docker:"]))
def test_image_references_round_trip(text: str, prefix: str) -> None:
    image = load(RANCHER_IMAGE=prefix + text).image
    assert image is not None
    assert str(image) == text
    assert image.image_uuid == f"docker:{text}"
    assert ImageRef.parse(image.image_uuid) == image


def rejected_image(text: str) -> bool:
    try:
        ImageRef.parse(text)
    except ImageReferenceError:
        return True
    return False


@FUZZ_CLI
@given(st.one_of(
    image_references().map(lambda t: t.upper()).filter(lambda t: t != t.lower()),
    image_references().map(lambda t: t + ":"),
    image_references().map(lambda t: t.replace("/", " /", 1)),
    image_references().map(lambda t: t + "@sha256:short"),
    st.text(min_size=1, max_size=30),
).filter(lambda t: t.strip() not in ("", "docker:") and "\x00" not in t and rejected_image(t)))
def test_invalid_image_references_exit_2(rancher: Simulator, text: str) -> None:
    assert_refused(rancher, "RANCHER_IMAGE", RANCHER_IMAGE=text)


# -- URLs -------------------------------------------------------------------------------------------

hosts = st.one_of(st.lists(label, min_size=1, max_size=3).map(".".join), st.just("127.0.0.1"), st.just("[::1]"))
api_paths = st.sampled_from(["", "/", "/v1", "/v2-beta", "/v2-beta/", "/v2-beta/projects/1a5", "/rancher/v2-beta"])


@FUZZ
@given(st.sampled_from(["http", "https"]), hosts, st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
       api_paths)
def test_urls_round_trip_without_their_trailing_slash(scheme: str, host: str, port: str, path: str) -> None:
    assert load(CATTLE_URL=f"{scheme}://{host}{port}{path}").url == f"{scheme}://{host}{port}{path.rstrip('/')}"


secret_words = st.text(alphabet=string.ascii_letters + string.digits + "-_.~+/=", min_size=12, max_size=30)


@FUZZ
@given(hosts, secret_words)
def test_credentials_in_a_url_are_taken_out_of_it(host: str, secret: str) -> None:
    from urllib.parse import quote

    loaded = Settings.load(Command.UPGRADE, {}, {"CATTLE_URL": f"https://AKURL:{quote(secret, safe='')}@{host}/v2-beta",
                                           "RANCHER_SERVICE": "web", "RANCHER_IMAGE": NEW_IMAGE})
    assert (loaded.access_key, loaded.secret_key, loaded.url) == ("AKURL", secret, f"https://{host}/v2-beta")
    assert secret not in loaded.url


@FUZZ_CLI
@given(st.one_of(
    st.tuples(st.sampled_from(["ftp", "file", "ws", "rancher", "htp"]), hosts).map(lambda p: f"{p[0]}://{p[1]}"),
    hosts,
    st.tuples(hosts, st.integers(65536, 10**6)).map(lambda p: f"https://{p[0]}:{p[1]}"),
    st.tuples(hosts, st.sampled_from(["?a=1", "#top", "/v2-beta?x"])).map(lambda p: f"https://{p[0]}{p[1]}"),
    st.just("https://"),
    st.just("https:///v2-beta"),
))
def test_invalid_urls_exit_2(rancher: Simulator, url: str) -> None:
    assert_refused(rancher, "CATTLE_URL", CATTLE_URL=url)


@FUZZ_CLI
@given(secret_words.filter(lambda s: "/" not in s and "+" not in s))
def test_an_invalid_url_with_credentials_never_shows_the_password(rancher: Simulator, secret: str) -> None:
    text = assert_refused(rancher, "CATTLE_URL", CATTLE_URL=f"ftp://AK:{secret}@rancher.example.com/v2-beta")
    assert secret not in text
