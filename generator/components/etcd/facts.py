"""etcd facts by etcd release (components.etcd.version), as data.

Sources (etcd CHANGELOG-3.4 and the "Upgrade etcd from 3.3 to 3.4" guide on etcd.io):
- `etcd --logger` exists since 3.4 (`capnslog` is the 3.4 default and prints a deprecation warning;
  `zap` is the default from 3.5 and the only logger left in 3.6), so `--logger=zap` is right from 3.4 on.
- etcdctl speaks the v3 API by default since 3.4; before that `ETCDCTL_API=3` must be set, or
  `endpoint health` is an unknown command of the v2 etcdctl.
- `etcdutl` (offline tool for snapshots and data directories) ships in the release tarball from 3.5, which
  deprecated `etcdctl snapshot status` and `snapshot restore` for it; 3.6 removed both from etcdctl
  (etcdctl/ctlv3/command/snapshot_command.go of go.etcd.io/etcd/etcdctl/v3 v3.5.15, v3.6.8 and v3.7.0: only `save`
  is left). `snapshot save` needs a live member and stays etcdctl's.
- Of the flags the generator writes none changes from 3.2 to 3.7: 3.6 removed `--enable-v2` and the v2 proxy
  flags, 3.7 the `--experimental-*` spellings and v2 discovery (etcdmain/config.go and embed/config.go of
  go.etcd.io/etcd/server/v3 v3.5.15, v3.6.8, v3.7.0), and `--logger=zap` stays valid (zap is 3.6's only logger).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.versions import ETCD_PAIRED, EtcdTimeline, every_minor, parse_etcd

# Extra flags for the server's logging: none before 3.4 (the flag does not exist), zap from 3.4.
LOGGER_FLAGS: EtcdTimeline[tuple[str, ...]] = EtcdTimeline(((3, 2), ()), ((3, 4), ("--logger=zap",)))
# Environment etcdctl needs to speak the v3 API.
ETCDCTL_ENV: EtcdTimeline[tuple[str, ...]] = EtcdTimeline(((3, 2), ("ETCDCTL_API=3",)), ((3, 4), ()))
# What reads and restores a snapshot file (etcdutl, where it exists, needs no endpoint nor certificate; the
# prerequisites chapter installs it: prerequisites/facts.py ETCD_BINARIES).
SNAPSHOT_TOOL: EtcdTimeline[str] = EtcdTimeline(((3, 2), "etcdctl"), ((3, 5), "etcdutl"))


@dataclass(frozen=True)
class EtcdFacts:
    version: str
    logger_flags: tuple[str, ...]
    etcdctl_env: tuple[str, ...]
    snapshot_tool: str


def facts(version: str) -> EtcdFacts:
    minor = parse_etcd(version)
    return EtcdFacts(version=version, logger_flags=LOGGER_FLAGS.at(minor), etcdctl_env=ETCDCTL_ENV.at(minor),
                     snapshot_tool=SNAPSHOT_TOOL.at(minor))


# Every release's default etcd (versions.ETCD_PAIRED) is one these facts cover (parse_etcd refuses anything older).
assert all(parse_etcd(ETCD_PAIRED.at(release)) for release in every_minor())
