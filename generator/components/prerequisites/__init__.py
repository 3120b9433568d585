"""Before any component: environment.sh, clocks, swap, directories and the release binaries on every node."""

from generator.components.prerequisites.chapter import chapter
from generator.components.prerequisites.files import ID, artifacts

__all__ = ["ID", "artifacts", "chapter"]
