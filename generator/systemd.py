"""systemd service units, one template for every component."""

from __future__ import annotations

from pathlib import Path

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)


def unit(description: str, documentation: str, binary: str, flags: list[str], service_type: str = "",
         after: tuple[str, ...] = ()) -> bytes:
    """A unit whose ExecStart continues with a single backslash and nothing after it on each line.

    `service_type` "notify" is for daemons that tell systemd when they are ready (etcd, kube-apiserver). `after`
    names the units of this node it starts after when both start together (at boot): ordering only, no dependency,
    so a node without one of them (no etcd member, say) still starts the rest.
    """
    for flag in flags:
        # A real check, not an assert (python -O drops those): a newline here would start a new unit directive.
        if not flag.startswith("--") or any(c.isspace() or not c.isprintable() for c in flag):
            raise ValueError(f"refusing to write the unit for {binary}: bad flag {flag!r}")
    text = _ENV.get_template("unit.service.j2").render(
        description=description, documentation=documentation, binary=binary, flags=flags,
        service_type=service_type, after=" ".join(("network-online.target", *after)),
    )
    return text.encode()
