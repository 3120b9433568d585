"""YAML the generator writes (kubeconfigs, component configs) and reads back from its own files, through libyaml.

PyYAML's pure-Python emitter and scanner were a third of a re-render's CPU (a kubeconfig carries ~5 KB of base64);
libyaml's emit the same bytes (checked on every config of clusters/*.yaml). The cluster file itself is read by
generator/loader.py's size-limited loader, not here.
"""

from __future__ import annotations

from typing import Any

import yaml

DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump(body: dict[str, Any]) -> bytes:
    """`body` as a YAML document, keys in the order given."""
    return yaml.dump(body, Dumper=DUMPER, sort_keys=False).encode()


def load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=LOADER)
