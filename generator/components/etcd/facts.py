"""etcd facts by etcd release (components.etcd.version), as data.

Sources (etcd CHANGELOG-3.4 and the "Upgrade etcd from 3.3 to 3.4" guide on etcd.io):
- `etcd --logger` exists since 3.4 (`capnslog` is the 3.4 default and prints a deprecation warning;
  `zap` is the default from 3.5 and the only logger left in 3.6), so `--logger=zap` is right from 3.4 on.
- etcdctl speaks the v3 API by default since 3.4; before that `ETCDCTL_API=3` must be set, or
  `endpoint health` is an unknown command of the v2 etcdctl.
- etcdutl (below): etcdctl/ctlv3/command/snapshot_command.go of go.etcd.io/etcd/etcdctl/v3 v3.5.15, v3.6.8 and
  v3.7.0 (from 3.6 only `snapshot save` is left in etcdctl).
- Of the flags the generator writes none changes from 3.2 to 3.7: 3.6 removed `--enable-v2` and the v2 proxy
  flags, 3.7 the `--experimental-*` spellings and v2 discovery (etcdmain/config.go and embed/config.go of
  go.etcd.io/etcd/server/v3 v3.5.15, v3.6.8, v3.7.0), and `--logger=zap` stays valid (zap is 3.6's only logger).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from generator.versions import ETCD_PAIRED, every_minor

OLDEST = (3, 2)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")

Value = TypeVar("Value")


def parse(version: str) -> tuple[int, int]:
    """(major, minor) of an etcd release such as "3.5.15"; ValueError for anything else or older than 3.2."""
    match = _VERSION.match(version.strip())
    if not match or (int(match[1]), int(match[2])) < OLDEST:
        raise ValueError(f"components.etcd.version {version!r}: expected an etcd release 3.2.0 or later, "
                         'such as "3.5.15"')
    return int(match[1]), int(match[2])


class EtcdTimeline(Generic[Value]):
    """Like versions.Timeline, but over etcd's own minor releases (3.2, 3.3, ...)."""

    def __init__(self, *changes: tuple[tuple[int, int], Value]) -> None:
        minors = [minor for minor, _ in changes]
        assert minors[0] == OLDEST and minors == sorted(minors)
        self.changes = changes

    def at(self, minor_version: tuple[int, int]) -> Value:
        value = self.changes[0][1]
        for minor, candidate in self.changes:
            if minor <= minor_version:
                value = candidate
        return value


# Extra flags for the server's logging: none before 3.4 (the flag does not exist), zap from 3.4.
LOGGER_FLAGS: EtcdTimeline[tuple[str, ...]] = EtcdTimeline(((3, 2), ()), ((3, 4), ("--logger=zap",)))
# etcdutl, the offline tool for a member's files (snapshot status and restore, defragmenting a stopped member), is
# in the release from 3.5; `etcdctl snapshot status|restore` were deprecated then and are gone in 3.6.
ETCDUTL: EtcdTimeline[bool] = EtcdTimeline(((3, 2), False), ((3, 5), True))
# The column rule of etcdctl's and etcdutl's `-w table` output: ASCII until 3.6, box-drawing from 3.7 (seen in the
# lab's 1.37.2 deploy with etcd 3.7.0: `│ started │ k8s-master-01 │`, where the health check looked for `|`).
TABLE_RULE: EtcdTimeline[str] = EtcdTimeline(((3, 2), "|"), ((3, 7), "\u2502"))
# Environment etcdctl needs to speak the v3 API.
ETCDCTL_ENV: EtcdTimeline[tuple[str, ...]] = EtcdTimeline(((3, 2), ("ETCDCTL_API=3",)), ((3, 4), ()))


@dataclass(frozen=True)
class EtcdFacts:
    version: str
    logger_flags: tuple[str, ...]
    etcdctl_env: tuple[str, ...]
    etcdutl: bool
    table_rule: str


def facts(version: str) -> EtcdFacts:
    minor = parse(version)
    return EtcdFacts(version=version, logger_flags=LOGGER_FLAGS.at(minor), etcdctl_env=ETCDCTL_ENV.at(minor),
                     etcdutl=ETCDUTL.at(minor), table_rule=TABLE_RULE.at(minor))


# Every release's default etcd (versions.ETCD_PAIRED) is one these facts cover (parse() refuses anything older).
assert all(parse(ETCD_PAIRED.at(release)) for release in every_minor())
