"""build/<cluster>/lab-state.json: what lab-up started and made."""

from __future__ import annotations

import json
from pathlib import Path

from generator.artifacts import write_atomic
from generator.lab.layout import Lab


def load_state(the_lab: Lab) -> dict:
    try:
        return json.loads(the_lab.state_file.read_text())
    except (OSError, ValueError):
        return {}


def save_state(the_lab: Lab, state: dict) -> None:
    write_atomic(the_lab.state_file, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode(), 0o644)


def remember(state: dict, path: Path) -> None:
    made = state.setdefault("made", [])
    if str(path) not in made:
        made.append(str(path))
