"""``octorunbook node drain|undrain|wait``: take one Octopus Server node out of (and back into) the cluster.

``drain`` puts the node in drain mode through the REST API and waits until its load-balancer ping answers
418; ``undrain`` takes it out of drain mode and waits for 200; ``wait`` only polls the ping (after a restart:
the node is back when it answers again, still 418 while drained). Each prints one JSON line for scripts
(the Ansible role reads ``was_drained`` so it never un-drains a node someone else drained).
Exit 0 done, 1 the node or the API did not answer as expected, 2 bad arguments.
"""

from __future__ import annotations

import argparse
from typing import Any

from octorunbook.emit import json_document


def _server_args(parser: argparse.ArgumentParser, api: bool) -> None:
    parser.add_argument(
        "--ping-url",
        required=not api,
        help="this node's own base URL, where its /api/octopusservernodes/ping is polled"
        + (" (default: --server)" if api else ""),
    )
    parser.add_argument("--ca-bundle", metavar="FILE", help="PEM of the CA(s) to trust for https URLs")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the ping (default 300)"
    )
    if not api:
        return
    parser.add_argument("--server", required=True, help="Octopus Server base URL whose API changes the node")
    parser.add_argument("--node", required=True, help="the node's Name (Configuration ▸ Nodes)")
    parser.add_argument(
        "--api-key-env",
        default="OCTOPUS_API_KEY",
        metavar="NAME",
        help="NAME of the environment variable holding the API key (default OCTOPUS_API_KEY); "
        "the key itself is never an argument",
    )


def register(sub: Any) -> None:
    node = sub.add_parser(
        "node",
        help="drain / undrain an Octopus Server node and wait for its load-balancer ping",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    actions = node.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    drain = actions.add_parser("drain", help="drain mode on, then wait until ping answers 418")
    _server_args(drain, api=True)
    drain.set_defaults(func=_drain, drained=True, expect=418)
    undrain = actions.add_parser("undrain", help="drain mode off, then wait until ping answers 200")
    _server_args(undrain, api=True)
    undrain.add_argument(
        "--wait-first",
        type=int,
        choices=(200, 418),
        metavar="STATUS",
        help="first wait (up to --timeout) until the ping answers STATUS: 418 after a restart of a drained "
        "node, whose API does not answer while it starts (one call instead of `node wait` + `node undrain`)",
    )
    undrain.set_defaults(func=_drain, drained=False, expect=200)
    wait = actions.add_parser("wait", help="wait until the node's ping answers --status")
    _server_args(wait, api=False)
    wait.add_argument(
        "--status", type=int, choices=(200, 418), required=True, help="200 online, 418 draining"
    )
    wait.set_defaults(func=_wait)


def _drain(args: argparse.Namespace) -> int:
    from octorunbook.ops.node_drain import Server, api_key_from, set_drain, wait_for

    key = api_key_from(args.api_key_env)
    server = Server(args.server, args.ca_bundle)
    pinged = Server(args.ping_url or args.server, args.ca_bundle)
    first = getattr(args, "wait_first", None)
    waited_first = {"waited_first_seconds": round(wait_for(pinged, first, args.timeout), 2)} if first else {}
    node, before = set_drain(server, args.node, key, args.drained)
    seconds = wait_for(pinged, args.expect, args.timeout)
    print(
        json_document(
            {
                "node": node.get("Name"),
                "id": node.get("Id"),
                "drained": args.drained,
                "was_drained": before,
                **waited_first,
                "ping": args.expect,
                "waited_seconds": round(seconds, 2),
            },
            indent=None,
        )
    )
    return 0


def _wait(args: argparse.Namespace) -> int:
    from octorunbook.ops.node_drain import Server, wait_for

    seconds = wait_for(Server(args.ping_url, args.ca_bundle), args.status, args.timeout)
    print(json_document({"ping": args.status, "waited_seconds": round(seconds, 2)}, indent=None))
    return 0
