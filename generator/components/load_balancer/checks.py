"""The load balancer at work: the stats page, the VIP's holder, a connection through it, and a failover."""

from __future__ import annotations

import re
import shlex

from generator.components.load_balancer.files import BACKEND, STATS_PASSWORD, STATS_USER
from generator.components.load_balancer.service import ID
from generator.components.load_balancer.shell import holder_functions, names_pattern, stats_url, tcp_probe, vip_check
from generator.model import Cluster
from generator.steps import Command, Step, pki_file, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

FAILOVER_WAIT = 30  # seconds; detection takes about 2 × 2 s (track script) plus one advert interval
VIP_WAIT = 15  # seconds keepalived may take after a (re)start: BACKUP first, MASTER after ~3 adverts
POLL = "0.2"  # seconds between two looks at the VIP during the failover test


def stats_step(cluster: Cluster) -> Step:
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    commands: list[Command] = []
    for node in cluster.masters:
        commands.append(Command(
            shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", stats_url(cluster, node)]),
            expect=r"^401$", example="401",
        ))
        commands.append(Command(
            f"curl -sS --fail -u \"{STATS_USER}:$(cat {shlex.quote(password_file)})\" "
            f"{shlex.quote(stats_url(cluster, node, csv=True))} | cut -d, -f1,2,18",
            expect=rf"^{BACKEND},FRONTEND,OPEN$", example=f"{BACKEND},FRONTEND,OPEN",
        ))
    return Step(
        **TEXT.step(f"{ID}.stats"),
        local=tuple(commands),
    )


def vip_step(cluster: Cluster) -> Step:
    vip = cluster.spec.api_server.vip
    script = "\n".join([
        *holder_functions(cluster),
        f"end=$((SECONDS + {VIP_WAIT}))",
        'while found=$(holders); [ "$(echo $found | wc -w)" -ne 1 ] && [ $SECONDS -lt $end ]; do sleep 1; done',
        f'echo "VIP {vip} is on:" $found',
        '[ "$(echo $found | wc -w)" -eq 1 ]',
    ])
    return Step(
        **TEXT.step(f"{ID}.vip", vip_check=vip_check(cluster), VIP_WAIT=VIP_WAIT),
        local=(Command(script, expect=rf"^VIP {re.escape(vip or '')} is on: {names_pattern(cluster)}$",
                       example=f"VIP {vip} is on: {cluster.masters[0].name}"),),
    )


def through_vip_step(cluster: Cluster) -> Step:
    api = cluster.spec.api_server
    host = f"[{api.vip}]" if ":" in (api.vip or "") else api.vip
    run = f"{tcp_probe(cluster, seconds=5, quiet=False)} && echo 'TCP {host}:{api.port}: open'"
    return Step(
        **TEXT.step(f"{ID}.through-vip", host=host, api=api),
        local=(Command(run, expect=r": open$", example=f"TCP {host}:{api.port}: open"),),
    )


def failover_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    api = cluster.spec.api_server
    host = f"[{api.vip}]" if ":" in (api.vip or "") else api.vip
    script = "\n".join([
        *holder_functions(cluster),
        'old=$(holders); echo "VIP before: $old"',
        '[ "$(echo $old | wc -w)" -eq 1 ] || { echo "the VIP must be on exactly one master first"; exit 1; }',
        "t0=$(date +%s.%N)",
        f"on_node \"$old\" '{s}systemctl stop haproxy' & stopping=$!",
        f"end=$((SECONDS + {FAILOVER_WAIT}))",
        'while new=$(holders); { [ -z "$new" ] || grep -qx "$old" <<< "$new"; } && [ $SECONDS -lt $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        f'answered=""; while [ $SECONDS -lt $end ]; do if {tcp_probe(cluster)}; then answered=yes; break; fi; '
        f"sleep {POLL}; done",
        "t2=$(date +%s.%N)",
        "wait $stopping",
        f"on_node \"$old\" '{s}systemctl start haproxy'",
        'echo "VIP after: $new"',
        '[ "$(echo $new | wc -w)" -eq 1 ] && [ "$new" != "$old" ] || { echo "the VIP did not move"; exit 1; }',
        'awk -v a="$t0" -v b="$t1" \'BEGIN { printf "measured: vip_failover_seconds=%.3f\\n", b - a }\'',
        f'[ -n "$answered" ] || {{ echo "TCP {host}:{api.port} did not answer after the move"; exit 1; }}',
        f'echo "TCP {host}:{api.port} answers (the VIP is on $new)"',
        'awk -v a="$t0" -v b="$t2" \'BEGIN { printf "measured: vip_answer_seconds=%.3f\\n", b - a }\'',
        'echo "VIP moved from $old to $new"',
    ])
    return Step(
        **TEXT.step(f"{ID}.failover", FAILOVER_WAIT=FAILOVER_WAIT, host=host, api=api),
        local=(Command(script, expect=rf"^VIP moved from {names_pattern(cluster)} to {names_pattern(cluster)}$",
                       example=f"measured: vip_failover_seconds=3.500\n"
                               f"VIP moved from {cluster.masters[0].name} to {cluster.masters[-1].name}"),),
    )
