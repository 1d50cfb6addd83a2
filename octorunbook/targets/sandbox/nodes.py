"""The sandbox's Octopus Server node resource: drain state, the node API and the load balancer's ping.

An HA Octopus cluster drains a node through its REST API (``PUT /api/octopusservernodes/{id}`` with
``IsInMaintenanceMode``; ``octopus.server node --drain=true`` does the same locally) and the load balancer
polls ``GET /api/octopusservernodes/ping``: **200** while the node is online and not draining, **418 I'm a
teapot** while it is online but draining, anything else when it is down (Octopus docs, "Load balancers").
The stand-in keeps its one node in ``node.json`` in the sandbox folder, so a drained node stays drained
across the portal restart 03 makes — exactly the window during which the load balancer must keep it out.

The node API wants an API key (``X-Octopus-ApiKey``, ``API-…``) as Octopus does; ping is anonymous.
"""

from __future__ import annotations

import json
from typing import Any

from .host import Sandbox

PING_PATH = "/api/octopusservernodes/ping"
NODES_PATH = "/api/octopusservernodes"
API_KEY_HEADER = "X-Octopus-ApiKey"


def node_path(sandbox: Sandbox) -> Any:
    return sandbox.root / "node.json"


def read_node(sandbox: Sandbox) -> dict[str, Any]:
    """The node resource (created on first read): name = the sandbox folder's name, as a machine name."""
    node = sandbox.read_json(node_path(sandbox), None)
    if isinstance(node, dict) and node.get("Id"):
        return node
    name = sandbox.root.name
    return {
        "Id": f"OctopusServerNodes-{name}",
        "Name": name,
        "MaxConcurrentTasks": 5,
        "IsInMaintenanceMode": False,
        "LastModifiedBy": None,
        "LastModifiedOn": None,
        "Links": {"Self": f"{NODES_PATH}/OctopusServerNodes-{name}"},
    }


def ping(sandbox: Sandbox) -> tuple[int, bytes]:
    """What the load balancer's health check gets: 418 while draining, 200 otherwise, the node as JSON."""
    node = read_node(sandbox)
    return (418 if node.get("IsInMaintenanceMode") else 200), json.dumps(node).encode()


def handle(sandbox: Sandbox, method: str, path: str, api_key: str | None, body: bytes) -> tuple[int, bytes]:
    """Answer ``GET/PUT /api/octopusservernodes[/{id}]`` as Octopus would, for the one node of the sandbox."""
    if not (api_key or "").startswith("API-"):
        return 401, json.dumps({"ErrorMessage": "You must be logged in to perform this action."}).encode()
    node = read_node(sandbox)
    rest = path[len(NODES_PATH) :].strip("/")
    if method == "GET" and not rest:
        page = {"ItemType": "OctopusServerNode", "TotalResults": 1, "ItemsPerPage": 30, "Items": [node]}
        return 200, json.dumps(page).encode()
    if rest != node["Id"]:
        return 404, json.dumps({"ErrorMessage": f"The resource '{rest}' was not found."}).encode()
    if method == "GET":
        return 200, json.dumps(node).encode()
    try:
        sent = json.loads(body or b"{}")
    except ValueError:
        return 400, json.dumps({"ErrorMessage": "The request body is not JSON."}).encode()
    if not isinstance(sent, dict) or not isinstance(sent.get("IsInMaintenanceMode"), bool):
        return 400, json.dumps({"ErrorMessage": "IsInMaintenanceMode must be true or false."}).encode()
    with sandbox.locked():
        node["IsInMaintenanceMode"] = sent["IsInMaintenanceMode"]
        node["LastModifiedBy"] = "sandbox-api-key"
        sandbox.write_json(node_path(sandbox), node)
    return 200, json.dumps(node).encode()
