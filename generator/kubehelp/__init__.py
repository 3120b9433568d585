"""What each release's kube daemons accept, measured on the binaries `invoke kube-binaries` builds, kept as names only
in `accepted.json`, and the generator and its version facts checked against it (`invoke release-check`).

- `parse.py`: a daemon's `--help`: its flags, and kube-apiserver's feature gates and admission plugins.
- `probe.py`: what `--help` hides (deprecated flags, GA and deprecated gates), asked of the binary itself.
- `data.py`: `accepted.json`, per name the releases that accept it.
- `written.py`: every flag, gate and admission plugin the generator writes for a release.
- `record.py`: one release measured (`--help`, then the probes) into `accepted.json`.
- `check.py`: both compared, and each removal the facts do not know.
- `verb.py`: `invoke release-check` (record built releases, then report).
"""
