"""Load balancer: the rendered haproxy.cfg and keepalived.conf are accepted by the real Debian haproxy and
keepalived, say what the cluster file says, keep the stats password secret; and a real haproxy + keepalived
pair, run in a network namespace this test creates, answers the chapter's own commands.

The only stand-in is the kube-apiserver behind haproxy: a tiny Python HTTPS server answering the health path
haproxy checks (labelled as such below), so haproxy and keepalived are tested without a control plane; the lab
test (test_lab_deploy.py) puts the real kube-apiserver behind them. Traffic stays inside namespaces made here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from generator import catalog
from generator.components.kube_apiserver.facts import facts as apiserver_facts
from generator.model import load
from generator.site.scripts_page import calls
from generator.steps import Command
from tests.conftest import REPO, page_sources, run_invoke

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
os.environ["PATH"] = SBIN  # haproxy, keepalived and ip live in sbin, often missing from a user's PATH
pytestmark = pytest.mark.skipif(
    not (shutil.which("haproxy") and shutil.which("keepalived") and shutil.which("ip")),
    reason="needs Debian haproxy, keepalived and iproute2 (.ci/system-packages installs them)",
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

TAG = uuid.uuid4().hex[:6]
NAME = f"lbtest-{TAG}"
EXTERNAL = f"lbext-{TAG}"
# What the test cluster file says, written here and never read back from the generator.
MASTERS = [("lb-m1", "10.231.7.11"), ("lb-m2", "10.231.7.12"), ("lb-m3", "10.231.7.13")]
VIP = "10.231.7.100"
IFACE = "ens192"
VRID = 68
TOP_PRIORITY = 120
API_PORT = 8443
SECURE_PORT = 6443
STATS_PORT = 10080
SEED_004 = Path("/work/shared/seeds/004_5c0d9860805cdf38.txt")


def cluster_yaml(name: str, external: bool = False) -> dict:
    data = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    data["name"] = name
    data["nodes"] = [{"name": n, "ip": ip} for n, ip in MASTERS]
    data["ssh"] = {"user": "root"}
    if external:
        data["api_server"] = {"external_address": "apiserver.lb.example.com", "port": API_PORT}
        data["load_balancer"] = {"kind": "external"}
    else:
        data["api_server"] = {"vip": VIP, "port": API_PORT, "secure_port": SECURE_PORT}
        data["load_balancer"] = {"interface": IFACE, "virtual_router_id": VRID, "priority": TOP_PRIORITY,
                                 "stats_port": STATS_PORT}
    return data


@pytest.fixture(scope="module")
def cluster_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("lb") / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(cluster_yaml(NAME)))
    yield path
    shutil.rmtree(REPO / "build" / NAME, ignore_errors=True)


@pytest.fixture(scope="module")
def build(cluster_file: Path) -> Path:
    run_invoke("render", "--cluster", str(cluster_file))
    return REPO / "build" / NAME


def node_file(build: Path, node: str, absolute: str) -> Path:
    return build / "nodes" / node / absolute.lstrip("/")


def haproxy_cfgs(build: Path) -> dict[str, Path]:
    return {n: node_file(build, n, "/etc/haproxy/haproxy.cfg") for n, _ in MASTERS}


def keepalived_confs(build: Path) -> dict[str, Path]:
    return {n: node_file(build, n, "/etc/keepalived/keepalived.conf") for n, _ in MASTERS}


# ---------------------------------------------------------------- network namespaces (made and removed here)

class Netns:
    """A network namespace with one veth end named like the cluster's interface, and loopback up."""

    def __init__(self, iface: str, addresses: list[str]) -> None:
        self.name = f"lbt-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.ip("link", "set", "lo", "up")
            self.ip("link", "add", iface, "type", "veth", "peer", "name", f"{iface[:10]}p")
            self.ip("link", "set", iface, "up")
            self.ip("link", "set", f"{iface[:10]}p", "up")
            for address in addresses:
                self.ip("addr", "add", f"{address}/24", "dev", iface)
        except BaseException:
            self.delete()
            raise

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.name, *args], check=True, capture_output=True)

    def run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True, **kw)

    def popen(self, *argv: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kw)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


@pytest.fixture
def netns() -> Iterator[Netns]:
    ns = Netns(IFACE, [MASTERS[0][1]])
    try:
        yield ns
    finally:
        ns.delete()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(check, seconds: float = 20.0) -> bool:
    """Poll `check` until it is true or `seconds` pass (a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return bool(check())


# ---------------------------------------------------------------- haproxy.cfg

def test_every_haproxy_cfg_is_valid_for_real_haproxy(build: Path) -> None:
    for node, cfg in haproxy_cfgs(build).items():
        proc = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{node}: {out}"
        assert "Configuration file is valid" in out, f"{node}: {out}"
        assert "[WARNING]" not in out and "[ALERT]" not in out, f"{node}: {out}"


def test_haproxy_rejects_a_broken_config(build: Path, tmp_path: Path) -> None:
    """Negative control: the same check fails on a config with a typo, so the test above can fail."""
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(haproxy_cfgs(build)["lb-m1"].read_text().replace("balance leastconn", "balance leastconnn"))
    broken.chmod(0o600)
    proc = subprocess.run(["haproxy", "-c", "-f", str(broken)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Configuration file is valid" not in proc.stdout + proc.stderr


def test_seed_004_haproxy_config_fails_on_haproxy_2_5_and_later(tmp_path: Path) -> None:
    """The chapter warns that seed 004's `nbproc 1` stops haproxy >= 2.5; the real haproxy agrees."""
    if not SEED_004.exists():
        pytest.skip("seed 004 not available")
    text = SEED_004.read_text(encoding="utf-8")
    block = text[text.index("global\n"):text.index("haproxy 在 10080")]
    block = block.replace("\t", "    ")
    seed = tmp_path / "seed.cfg"
    seed.write_text(block)
    proc = subprocess.run(["haproxy", "-c", "-f", str(seed)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "nbproc" in proc.stdout + proc.stderr


def test_backends_are_every_master_on_the_secure_port_and_frontend_on_the_api_port(build: Path) -> None:
    want = {f"{ip}:{SECURE_PORT}" for _, ip in MASTERS}
    for node, cfg in haproxy_cfgs(build).items():
        text = cfg.read_text()
        servers = re.findall(r"^\s*server\s+\S+\s+(\S+)", text, re.MULTILINE)
        assert set(servers) == want and len(servers) == len(MASTERS), node
        binds = re.findall(r"^\s*bind\s+(\S+)", text, re.MULTILINE)
        assert any(b.endswith(f":{API_PORT}") for b in binds), (node, binds)
        assert any(b.endswith(f":{STATS_PORT}") for b in binds), (node, binds)
        assert not any(b.startswith(VIP) for b in binds), "binding the VIP fails on masters that lack it"
        assert re.search(r"^\s*mode\s+tcp\s*$", text, re.MULTILINE)
        assert "nbproc" not in text


def stats_auth(cfg: Path) -> tuple[str, str]:
    match = re.search(r"^\s*stats auth (\S+):(\S+)\s*$", cfg.read_text(), re.MULTILINE)
    assert match, f"no stats auth in {cfg}"
    return match[1], match[2]


def test_stats_password_is_random_secret_and_stable(build: Path, cluster_file: Path) -> None:
    secret = build / "pki" / "haproxy-stats-password"
    password = secret.read_text().strip()
    assert password not in ("admin", "123456", "")
    assert len(password) >= 16
    assert len(set(password)) >= 10, "too few distinct characters for a random password"
    assert re.fullmatch(r"[A-Za-z0-9]+", password), "haproxy and shell safe characters only"
    assert secret.stat().st_mode & 0o777 == 0o600
    for node, cfg in haproxy_cfgs(build).items():
        user, used = stats_auth(cfg)
        assert used == password, node
        assert (user, used) != ("admin", "123456")
        assert cfg.stat().st_mode & 0o777 == 0o600, f"{node}: haproxy.cfg holds the password"
    before = {p: p.read_bytes() for p in [secret, *haproxy_cfgs(build).values(), *keepalived_confs(build).values()]}
    out = run_invoke("render", "--cluster", str(cluster_file)).stdout
    assert "haproxy-stats-password: generated" not in out
    after = {p: p.read_bytes() for p in before}
    assert after == before, "re-rendering changed the password or the configs"


def test_another_cluster_gets_another_password(build: Path, tmp_path: Path) -> None:
    other = f"lbpw-{TAG}"
    path = tmp_path / f"{other}.yaml"
    path.write_text(yaml.safe_dump(cluster_yaml(other)))
    try:
        run_invoke("render", "--cluster", str(path), "--component", "load-balancer")
        theirs = (REPO / "build" / other / "pki" / "haproxy-stats-password").read_text()
    finally:
        shutil.rmtree(REPO / "build" / other, ignore_errors=True)
    assert theirs != (build / "pki" / "haproxy-stats-password").read_text()


# ---------------------------------------------------------------- keepalived.conf

def parse_keepalived(text: str) -> dict:
    """The few values this test checks, read with regexes from the real file."""
    def one(key: str) -> str:
        found = re.findall(rf"^\s*{key}\s+(\S+)\s*$", text, re.MULTILINE)
        assert len(found) == 1, f"{key}: {found}"
        return found[0]
    vips = re.search(r"virtual_ipaddress\s*\{([^}]*)\}", text)
    assert vips
    return {
        "priority": int(one("priority")),
        "state": one("state"),
        "interface": one("interface"),
        "vrid": int(one("virtual_router_id")),
        "nopreempt": bool(re.search(r"^\s*nopreempt\s*$", text, re.MULTILINE)),
        "vips": [line.split()[0] for line in vips[1].strip().splitlines()],
        "auth_pass": re.findall(r"auth_pass\s+(\S+)", text),
        "track": re.findall(r"track_script\s*\{\s*(\S+)\s*\}", text),
        "scripts": re.findall(r'^\s*vrrp_script\s+(\S+)\s*\{[^}]*script\s+"([^"]+)"', text, re.MULTILINE),
    }


def test_priorities_descend_and_only_the_highest_has_nopreempt(build: Path) -> None:
    parsed = [parse_keepalived(keepalived_confs(build)[n].read_text()) for n, _ in MASTERS]
    priorities = [p["priority"] for p in parsed]
    assert priorities[0] == TOP_PRIORITY
    assert all(a > b for a, b in zip(priorities, priorities[1:], strict=False)), priorities
    assert all(1 <= p <= 254 for p in priorities)
    assert [p["nopreempt"] for p in parsed] == [True] + [False] * (len(MASTERS) - 1)
    for p in parsed:
        assert p["state"] == "BACKUP", "nopreempt works only when the initial state is BACKUP"
        assert p["interface"] == IFACE
        assert p["vrid"] == VRID
        assert [v.split("/")[0] for v in p["vips"]] == [VIP]
        assert p["auth_pass"] == [] or "1111" not in p["auth_pass"]
        names = [name for name, _ in p["scripts"]]
        assert p["track"] and set(p["track"]) <= set(names), "the track script must be defined"
        assert any("haproxy" in name or str(API_PORT) in script for name, script in p["scripts"])


def test_unicast_peers_are_the_other_masters(build: Path) -> None:
    for name, ip in MASTERS:
        text = keepalived_confs(build)[name].read_text()
        assert re.search(rf"^\s*unicast_src_ip\s+{re.escape(ip)}\s*$", text, re.MULTILINE)
        peers = re.search(r"unicast_peer\s*\{([^}]*)\}", text)
        assert peers
        assert sorted(peers[1].split()) == sorted(i for n, i in MASTERS if n != name)


def keepalived_test(ns: Netns, conf: Path) -> subprocess.CompletedProcess:
    return ns.run("keepalived", "-t", "-f", str(conf), timeout=60)


@needs_root
def test_every_keepalived_conf_is_valid_for_real_keepalived(build: Path) -> None:
    for name, ip in MASTERS:
        ns = Netns(IFACE, [ip])
        try:
            proc = keepalived_test(ns, keepalived_confs(build)[name])
        finally:
            ns.delete()
        assert proc.returncode == 0, f"{name}: rc {proc.returncode}\n{proc.stdout}{proc.stderr}"


@needs_root
def test_keepalived_rejects_broken_configs(build: Path, netns: Netns, tmp_path: Path) -> None:
    good = keepalived_confs(build)["lb-m1"].read_text()
    # Seed 004's full-width spaces and comment after nopreempt: keepalived reads one unknown keyword.
    seed_style = tmp_path / "seed-style.conf"
    seed_style.write_text(good.replace("    nopreempt\n", "    nopreempt\u3000\u3000\u3000\u3000#设置不抢占\n"))
    typo = tmp_path / "typo.conf"
    typo.write_text(good.replace("virtual_router_id", "virtual_routerid"))
    wrong_iface = tmp_path / "wrong-iface.conf"
    wrong_iface.write_text(good.replace(f"interface {IFACE}", "interface nosuch0"))
    for conf in (seed_style, typo, wrong_iface):
        proc = keepalived_test(netns, conf)
        assert proc.returncode != 0, f"{conf.name} was accepted:\n{conf.read_text()}"
    assert keepalived_test(netns, keepalived_confs(build)["lb-m1"]).returncode == 0


# ---------------------------------------------------------------- the chapter

def test_chapter_steps_and_commands_come_from_the_model(cluster_file: Path) -> None:
    cluster = load(str(cluster_file))
    chapter = next(ch for ch in catalog.chapters(cluster) if ch.id == "load-balancer")
    assert chapter.number == 3
    runs = [c.run for s in chapter.steps for c in s.local] + [
        c.run for s in chapter.steps for _, cmds in s.per_node for c in cmds]
    # what runs: the commands and the named scripts they call (the VIP check is vip-holders.sh's)
    called = calls(cluster, tuple(Command(run) for run in runs))
    text = "\n".join(runs + [script.body for script in called])
    assert "haproxy -c -f /etc/haproxy/haproxy.cfg" in text
    assert "keepalived -t -f /etc/keepalived/keepalived.conf" in text
    assert f"dev {IFACE} to {VIP}/32" in text
    assert "192.168." not in text, "the example cluster's addresses leaked into another cluster's commands"
    for _, ip in MASTERS:
        assert f"root@{ip}" in text
    assert "123456" not in text
    password = (REPO / "build" / NAME / "pki" / "haproxy-stats-password")
    if password.exists():
        assert password.read_text().strip() not in text
    ids = [s.id for s in chapter.steps]
    assert len(ids) == len(set(ids)) and all(i.startswith("load-balancer.") for i in ids)
    for step in chapter.steps:
        assert step.explain.zh.strip() and step.explain.en.strip()
        assert not step.needs_kube_binaries, "the load balancer works before any apiserver exists"
        for show in step.shows:
            assert "haproxy.cfg" not in show.paths[0][1] or show.paths[0][1].startswith("load-balancer/"), \
                "only the masked haproxy.cfg may be shown"


def test_external_load_balancer_renders_nothing_and_touches_no_node(tmp_path: Path) -> None:
    path = tmp_path / f"{EXTERNAL}.yaml"
    path.write_text(yaml.safe_dump(cluster_yaml(EXTERNAL, external=True)))
    try:
        run_invoke("render", "--cluster", str(path))
        built = REPO / "build" / EXTERNAL
        found = [p for p in built.rglob("*") if p.name in ("haproxy.cfg", "keepalived.conf")
                 or "haproxy" in p.name]
        assert found == []
        assert (built / "pki" / "ca.pem").exists(), "the render itself ran"
    finally:
        shutil.rmtree(REPO / "build" / EXTERNAL, ignore_errors=True)
    cluster = load(str(path))
    chapter = next(ch for ch in catalog.chapters(cluster) if ch.id == "load-balancer")
    assert chapter.steps, "the chapter still exists and explains the external load balancer"
    assert all(not s.per_node and not s.shows for s in chapter.steps)
    assert not any("ssh" in c.run for s in chapter.steps for c in s.local)
    explained = " ".join(s.explain.en + s.explain.zh for s in chapter.steps)
    assert "apiserver.lb.example.com" in explained and "external" in explained
    dry = run_invoke("deploy", "--cluster", str(path), "--chapter", "load-balancer", "--dry-run").stdout
    assert "ssh" not in dry and "haproxy" not in dry and "keepalived" not in dry


# ---------------------------------------------------------------- the stats password never reaches the site

def test_stats_password_never_appears_in_docs_or_site() -> None:
    run_invoke("render", "--cluster", "example")
    password = (REPO / "build" / "example" / "pki" / "haproxy-stats-password").read_text().strip()
    assert len(password) >= 16
    run_invoke("build-docs")  # another build running at once is waited for (generator/site/build.py's lock)
    sources = page_sources("example")
    pages = [p for root in (REPO / "docs", REPO / "site", sources) for p in root.rglob("*") if p.is_file()]
    assert pages
    leaks = [str(p) for p in pages if password.encode() in p.read_bytes()]
    assert leaks == []
    lb_pages = list(sources.glob("*-load-balancer.en.md"))
    assert lb_pages, "the load-balancer chapter page exists"
    text = lb_pages[0].read_text()
    assert "stats auth stats:********" in text, "the shown haproxy.cfg is the masked copy"
    assert "192.168.1.210/32 dev eth0" in text, "keepalived.conf is shown"


# ---------------------------------------------------------------- a real haproxy + keepalived in a namespace

STANDIN_APISERVER = r"""
# Stand-in for kube-apiserver (no control plane in this test): HTTPS, answers GET <health path> with "ok".
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == sys.argv[5] else b"no"
        self.send_response(200 if self.path == sys.argv[5] else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"""


def step_commands(cluster_file: Path, step_id: str) -> list:
    return list(catalog.find_step(load(str(cluster_file)), step_id).local)


def run_in(ns: Netns, command: str) -> subprocess.CompletedProcess:
    """Run a chapter command exactly as the executor does (bash -o pipefail -c, repo root), inside `ns`."""
    return ns.run("bash", "-o", "pipefail", "-c", command, cwd=REPO, timeout=60)


@needs_root
def test_real_haproxy_and_keepalived_serve_the_vip_and_answer_the_chapter_commands(
        build: Path, cluster_file: Path, netns: Netns, tmp_path: Path) -> None:
    name, ip = MASTERS[0]
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=standin",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
                   check=True, capture_output=True)
    script = tmp_path / "standin.py"
    script.write_text(STANDIN_APISERVER)
    procs: list[subprocess.Popen] = []
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    try:
        health = apiserver_facts(load(str(cluster_file)).release).lb_health_path
        procs.append(netns.popen(sys.executable, str(script), ip, str(SECURE_PORT), str(tmp_path / "c.pem"),
                                 str(tmp_path / "k.pem"), health, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL))
        haproxy = netns.popen("haproxy", "-db", "-f", str(haproxy_cfgs(build)[name]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(haproxy)

        password = (build / "pki" / "haproxy-stats-password").read_text().strip()

        def csv_rows() -> list[list[str]]:
            proc = netns.run("curl", "-sS", "--max-time", "3", "-u", f"stats:{password}",
                             f"http://{ip}:{STATS_PORT}/stats;csv")
            return [line.split(",") for line in proc.stdout.splitlines() if line and not line.startswith("#")]

        def status(server: str) -> str:
            return next((r[17] for r in csv_rows() if r[0] == "kube-apiserver" and r[1] == server), "")

        assert wait_for(lambda: status(name) == "UP"), f"{name} never UP: {csv_rows()}"
        # haproxy starts every server UP and marks it DOWN only after `fall` failed checks ("UP 1/2" between).
        assert wait_for(lambda: status(MASTERS[1][0]).startswith("DOWN")), \
            f"a master without an apiserver must go DOWN: {csv_rows()}"

        # The chapter's own stats commands for this master, with their expectations.
        for command in step_commands(cluster_file, "load-balancer.stats")[:2]:
            proc = run_in(netns, command.run)
            assert proc.returncode == 0, (command.run, proc.stdout, proc.stderr)
            assert re.search(command.expect, proc.stdout, re.MULTILINE), (command.run, proc.stdout)
        wrong = netns.run("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", "admin:123456",
                          f"http://{ip}:{STATS_PORT}/stats")
        assert wrong.stdout == "401"

        # keepalived with this master's file: it takes the VIP, haproxy answers on it.
        keepalived = netns.popen(
            "keepalived", "-n", "-l", "-D", "-f", str(keepalived_confs(build)[name]),
            "-p", str(run_dir / "k.pid"), "-r", str(run_dir / "v.pid"), "-c", str(run_dir / "c.pid"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        procs.append(keepalived)

        def holds_vip() -> bool:
            out = netns.run("ip", "-brief", "addr", "show", "dev", IFACE, "to", f"{VIP}/32").stdout
            return bool(out.strip())

        assert wait_for(holds_vip, 30), "keepalived never took the VIP"
        through = step_commands(cluster_file, "load-balancer.through-vip")[0]
        proc = run_in(netns, through.run)
        assert proc.returncode == 0 and re.search(through.expect, proc.stdout, re.MULTILINE), proc

        # Failover trigger: haproxy stops, the track script fails, keepalived gives the VIP up.
        stop(haproxy)
        assert wait_for(lambda: not holds_vip(), 30), "the VIP stayed although haproxy stopped"
    finally:
        for proc in reversed(procs):
            stop(proc)
        if os.environ.get("LB_TEST_DEBUG") and procs and procs[-1].stdout:
            print(procs[-1].stdout.read())
