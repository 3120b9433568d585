"""The overview's topology: workstation → API endpoint → every node with what listens on it, as inline SVG."""

from __future__ import annotations

import html

from generator import daemons
from generator.model import Cluster, Node
from generator.site.words import WORDS

# Drawn at its natural size (CSS keeps it there and scrolls if needed): with 7 masters the text stays 13 px
# instead of shrinking to fit one row. Three nodes per row fit Material's content column at 1280 px.
PER_ROW = 3
BOX_W, GAP, LINE, FONT = 200, 20, 16, 13
TOP = 180  # first row of nodes


def node_lines(cluster: Cluster, node: Node) -> list[str]:
    """What listens on the node: each service with ports, and its ports."""
    listening = daemons.ports_on(cluster, node)
    return [" ".join([unit, *(f":{port}" for port in ports)]) for unit, ports in listening.items()]


def topology_svg(cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    nodes = cluster.spec.nodes
    columns = min(PER_ROW, len(nodes))
    width = max(640, columns * (BOX_W + GAP) + GAP)
    mid = width // 2
    shapes: list[str] = []
    links: list[str] = []  # drawn first, so boxes of an upper row cover the links to a lower one

    def box(x: int, y: int, box_w: int, lines: list[str], fill: str) -> int:
        height = 8 + LINE * len(lines) + 8
        shapes.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{height}" rx="8" fill="{fill}" stroke="#555"/>')
        for i, line in enumerate(lines):
            shapes.append(f'<text x="{x + box_w // 2}" y="{y + 20 + LINE * i}" text-anchor="middle" '
                          f'font-size="{FONT}">{html.escape(line)}</text>')
        return height

    box(mid - 110, 10, 220, [w["workstation_box"], "kubectl · ssh · invoke"], "#e8f0fe")
    kind = cluster.spec.load_balancer.kind if cluster.load_balanced else "none"
    lb = {"haproxy-keepalived": "keepalived VIP", "external": w["external_lb"], "none": w["no_lb"]}[kind]
    box(mid - 130, 90, 260, [f"API {cluster.api_endpoint.removeprefix('https://')}", lb], "#fff4e5")
    links.append(f'<line x1="{mid}" y1="54" x2="{mid}" y2="90" stroke="#555"/>')
    row_height = 8 + LINE * max(len(node_lines(cluster, n)) + 2 for n in nodes) + 8 + GAP
    for i, node in enumerate(nodes):
        row, column = divmod(i, columns)
        in_row = min(columns, len(nodes) - row * columns)
        left = mid - (in_row * (BOX_W + GAP) - GAP) // 2  # each row centred under the endpoint
        x, y = left + column * (BOX_W + GAP), TOP + row * row_height
        if "master" in node.roles:
            links.append(f'<line x1="{mid}" y1="134" x2="{x + BOX_W // 2}" y2="{y}" stroke="#bbb"/>')
        box(x, y, BOX_W, [node.name, node.ip, *node_lines(cluster, node)], "#e6f4ea")
    rows = -(-len(nodes) // columns)
    height = TOP + rows * row_height
    label = html.escape(w["topology"])
    return (f'<div class="runbook-topology"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="topology"><title>{label}</title>'
            + "".join(links + shapes) + "</svg></div>")
