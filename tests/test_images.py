"""Image references as users write them, and as Rancher stores them."""

from __future__ import annotations

import pytest

from rancher_deploy.images import ImageRef, ImageReferenceError, parse_image_uuid

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", None, "nginx", None, None),
        ("nginx:1.25", None, "nginx", "1.25", None),
        ("docker:nginx:1.25", None, "nginx", "1.25", None),
        ("library/nginx:latest", None, "library/nginx", "latest", None),
        ("registry.example.com:5000/shop/web:2.1", "registry.example.com:5000", "shop/web", "2.1", None),
        ("registry:5000/app", "registry:5000", "app", None, None),
        ("localhost/app:dev", "localhost", "app", "dev", None),
        ("ghcr.io/acme/app@" + DIGEST, "ghcr.io", "acme/app", None, DIGEST),
        ("ghcr.io/acme/app:2.1@" + DIGEST, "ghcr.io", "acme/app", "2.1", DIGEST),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        ("a/b-c__d.e/f:V1_2.3-rc", None, "a/b-c__d.e/f", "V1_2.3-rc", None),
    ],
)
def test_parses_the_parts_of_a_reference(text: str, registry: str | None, repository: str,
                                         tag: str | None, digest: str | None) -> None:
    image = ImageRef.parse(text)
    assert (image.registry, image.repository, image.tag, image.digest) == (registry, repository, tag, digest)
    assert str(image) == text.removeprefix("docker:")
    assert image.image_uuid == "docker:" + str(image)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        ("docker:", "empty"),
        ("Nginx:1", "invalid repository part 'Nginx'"),
        ("nginx:1 2", "whitespace"),
        ("nginx:", "invalid tag ''"),
        ("nginx:-1", "invalid tag '-1'"),
        ("nginx@sha256:123", "invalid digest"),
        ("registry.example.com:5000/", "no repository name"),
        ("reg_istry.com/app", "invalid registry"),
        ("a//b", "invalid repository part ''"),
        ("app:" + "x" * 129, "invalid tag"),
    ],
)
def test_rejects_malformed_references_saying_which_part(text: str, complaint: str) -> None:
    with pytest.raises(ImageReferenceError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        ImageRef.parse(text)


def test_repository_comparison_ignores_tags_and_docker_hub_spellings() -> None:
    assert ImageRef.parse("nginx:1").same_repository(ImageRef.parse("docker.io/library/nginx:2"))
    assert ImageRef.parse("index.docker.io/acme/app").same_repository(ImageRef.parse("acme/app:3"))
    assert not ImageRef.parse("acme/app").same_repository(ImageRef.parse("ghcr.io/acme/app"))
    assert not ImageRef.parse("registry:5000/app").same_repository(ImageRef.parse("registry:5001/app"))
    # A host name is case-insensitive (RFC 4343): the same registry, written lower-case.
    assert ImageRef.parse("REGISTRY.EXAMPLE.COM/shop/web:1").same_repository(
        ImageRef.parse("registry.example.com/shop/web"))
    assert ImageRef.parse("Index.Docker.IO/acme/app").canonical_name() == "docker.io/acme/app"


def test_image_uuid_that_is_not_an_image_reads_as_none() -> None:
    assert parse_image_uuid("docker:registry:5000/app:1") == ImageRef("registry:5000", "app", "1")
    assert parse_image_uuid("rancher/none") is not None  # a valid reference Rancher treats specially
    assert parse_image_uuid("") is None


def test_a_dotted_first_part_is_a_registry_and_must_be_a_valid_host() -> None:
    # Docker's grammar: "0_0.0/app" names registry "0_0.0", which is not a host name.
    with pytest.raises(ImageReferenceError, match="invalid registry '0_0.0'"):
        ImageRef.parse("0_0.0/app")


@pytest.mark.parametrize(("first", "second", "same"), [
    ("docker:nginx:1.25", "docker.io/library/nginx:1.25", True),
    ("nginx", "nginx:latest", True),
    ("nginx:1.25", "nginx:1.26", False),
    ("nginx@" + DIGEST, "nginx:latest", False),
    ("ghcr.io/acme/app:1", "acme/app:1", False),
])
def test_same_image_reads_references_as_docker_does(first: str, second: str, same: bool) -> None:
    from rancher_deploy.images import same_image

    assert same_image(first, second) is same


