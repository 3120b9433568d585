"""Running the machine's `go`: one environment for every call, errors as one clear line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

# go's line for a module version the proxy will not serve, e.g. "k8s.io/endpointslice@v0.32.13: reading
# https://proxy.golang.org/k8s.io/endpointslice/@v/v0.32.13.zip: 403 Forbidden"
REFUSED = re.compile(r"(\S+@v[^\s:]+): reading \S+: (?:403 Forbidden|404 Not Found|410 Gone)")


class Unavailable(Exception):
    """Go, the module proxy or a module version the build needs is not there: the kube steps are skipped with this
    reason, never passed."""


class BuildFailed(Exception):
    """Go is there but the build did not succeed; the message names the step and the log."""


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class GoRunner:
    def __init__(self, cwd: Path, extra_env: dict[str, str] | None = None) -> None:
        """`cwd` is the consumer module's directory; downloads run in its parent, outside any module."""
        found = shutil.which("go")
        if not found:
            raise Unavailable("Go is not installed (no `go` on PATH): the kube binaries cannot be built here")
        self.go = found
        self.cwd = cwd
        cwd.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        # Server binaries are static like upstream's (CGO off); builds never stamp VCS data of the cache dir.
        self.env.update({"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false", "GOWORK": "off"})
        self.env.update(extra_env or {})

    def version(self) -> str:
        proc = subprocess.run([self.go, "env", "GOVERSION"], capture_output=True, text=True, env=self.env,
                              cwd=self.cwd, check=False)
        return proc.stdout.strip()

    def proxy(self) -> str:
        proc = subprocess.run([self.go, "env", "GOPROXY"], capture_output=True, text=True, env=self.env,
                              cwd=self.cwd, check=False)
        return proc.stdout.strip()

    def run(self, args: list[str], what: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([self.go, *args], capture_output=True, text=True, cwd=cwd or self.cwd,
                              env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            message = tail(f"{proc.stderr}\n{proc.stdout}")
            if refusal := self.refusal(message):
                raise refusal
            if what == "download":
                raise Unavailable(f"the Go module proxy ({self.proxy()}) did not serve it: "
                                  f"{first_error(message)}")
            raise BuildFailed(f"`go {' '.join(args[:3])} …` ({what}) failed:\n{message}")
        return proc

    def refusal(self, message: str) -> Unavailable | None:
        """One line for a go error that says the proxy refused a module version, else None."""
        match = REFUSED.search(message)
        if not match:
            return None
        return Unavailable(f"the Go module proxy ({self.proxy()}) does not serve {match[1]}, which this build needs "
                           "(an older patch release may be served whole)")

    def download(self, target: str) -> dict:
        """`go mod download -json module@version`: where the module's files and go.mod are."""
        return json.loads(self.run(["mod", "download", "-json", target], what="download", cwd=self.cwd.parent).stdout)

    def stream(self, args: list[str], cwd: Path) -> subprocess.Popen[str]:
        """`go` with stderr merged into a line-buffered text stdout (go build -v prints packages there)."""
        return subprocess.Popen([self.go, *args], cwd=cwd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, stdin=subprocess.DEVNULL)



def first_error(message: str) -> str:
    """The most telling line of a go error: the JSON "Error" field or the last line."""
    match = re.search(r'"Error":\s*"([^"]+)"', message)
    return match[1] if match else (message.splitlines()[-1] if message else "no output")
