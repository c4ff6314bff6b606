"""A Rancher 1.6 environment (API type ``project``) and its JSON."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from rancher_deploy.simulator.cattle.models.resource import JSON, iso_time, millis


@dataclass
class Project:
    """A Rancher environment (API type ``project``)."""

    id: str
    name: str
    created: float
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    description: str | None = None

    def to_resource(self, base_url: str, api_version: str, collections: Iterable[str]) -> JSON:
        scoped = f"{base_url}/projects/{self.id}"
        links: JSON = {"self": scoped}
        for name in collections:
            links[name] = f"{scoped}/{name}"
        doc: JSON = {
            "id": self.id,
            "type": "project",
            "links": links,
            "actions": {},
        }
        if api_version != "v1":
            doc["baseType"] = "project"
        doc.update(
            {
                "name": self.name,
                "state": "active",
                "accountId": None,
                "created": iso_time(self.created),
                "createdTS": millis(self.created),
                "description": self.description,
                "kind": "project",
                "members": [],
                "orchestration": "cattle",
                "removed": None,
                "transitioning": "no",
                "transitioningMessage": None,
                "transitioningProgress": None,
                "uuid": self.uuid,
            }
        )
        return doc
