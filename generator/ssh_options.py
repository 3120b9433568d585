"""The ssh options a cluster file may give: an allow-list, because several ssh options run local commands.

Every runbook command that reaches a node is `ssh -o OPTION ...` run on the workstation, so an option such as
ProxyCommand=... or LocalCommand=... would run whatever the cluster file says there, quoting or not. Options are
therefore `Key=value` with a known key and a value checked for that key; anything else is refused, and the
options that execute, load or forward something are refused with the reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

# ssh's own %-tokens (ControlPath=...%C) and comma lists are fine; quotes, $, `, ;, | and the like are not.
CHARACTERS = re.compile(r"[A-Za-z0-9 ._:@=/+%,~-]*")
OPTION = re.compile(r"([A-Za-z][A-Za-z0-9]*)=(\S+)")
LOGIN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A file on the workstation: relative to the repository root, absolute, or under ~; ssh's %-tokens allowed.
FILE = re.compile(r"(~/|/)?[A-Za-z0-9._+%-]+(/[A-Za-z0-9._+%-]+)*")

REFUSED = {
    "proxycommand": "runs a local command for every connection",
    "localcommand": "runs a local command after each connection",
    "permitlocalcommand": "lets LocalCommand run a local command",
    "knownhostscommand": "runs a local command to look up host keys",
    "match": "can run a local command (Match exec)",
    "include": "reads another ssh configuration, which may hold any option",
    "pkcs11provider": "loads a library into ssh",
    "securitykeyprovider": "loads a library into ssh",
    "proxyusefdpass": "only works with ProxyCommand",
    "remotecommand": "replaces the runbook's command on the node",
    "hostname": "sends every node's commands to one other host",
    "forwardagent": "hands the workstation's ssh agent to every node",
    "forwardx11": "opens the workstation's display to every node",
    "forwardx11trusted": "opens the workstation's display to every node",
    "localforward": "opens a tunnel",
    "remoteforward": "opens a tunnel",
    "dynamicforward": "opens a tunnel",
    "tunnel": "opens a tunnel device",
    "sendenv": "sends the workstation's environment to the nodes",
    "setenv": "sets environment variables for the runbook's commands on the nodes",
}


def words(*allowed: str) -> tuple[Callable[[str], bool], str]:
    return (lambda value: value.lower() in allowed), "one of " + ", ".join(allowed)


def number(low: int, high: int) -> tuple[Callable[[str], bool], str]:
    return (lambda value: value.isascii() and value.isdigit() and low <= int(value) <= high), \
        f"a whole number from {low} to {high}"


def is_file(value: str) -> bool:
    return bool(FILE.fullmatch(value)) and not {".", ".."} & set(value.split("/"))


def is_host(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return len(value) <= 253 and all(LABEL.fullmatch(label) for label in value.split("."))
    return not (address.is_unspecified or address.is_multicast)


def is_jump(value: str) -> bool:
    """`none`, or hops `[user@]host[:port]` separated by commas."""
    if value == "none":
        return True
    for hop in value.split(","):
        user, _, rest = hop.rpartition("@")
        host, _, port = rest.partition(":")
        if user and not LOGIN.fullmatch(user) or not is_host(host):
            return False
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            return False
    return True


YES_NO = words("yes", "no")
FILE_RULE = (is_file, "a file path of letters, digits and ._+%- (no '..')")
# Not here on purpose, among others: HostKeyAlias (it starts each line ssh appends to UserKnownHostsFile, which
# may be any file) and IdentityAgent (another agent socket).
ALLOWED: dict[str, tuple[Callable[[str], bool], str]] = {
    "port": number(1, 65535),
    "user": (lambda value: bool(LOGIN.fullmatch(value)), "a login name: lowercase letters, digits, '_' and '-'"),
    "identityfile": FILE_RULE,
    "identitiesonly": YES_NO,
    "userknownhostsfile": FILE_RULE,
    "globalknownhostsfile": FILE_RULE,
    "stricthostkeychecking": words("yes", "no", "ask", "accept-new", "off"),
    "hashknownhosts": YES_NO,
    "checkhostip": YES_NO,
    "batchmode": YES_NO,
    "connecttimeout": number(1, 3600),
    "connectionattempts": number(1, 100),
    "serveraliveinterval": number(0, 3600),
    "serveralivecountmax": number(0, 100),
    "tcpkeepalive": YES_NO,
    "compression": YES_NO,
    "addressfamily": words("any", "inet", "inet6"),
    "loglevel": words("quiet", "fatal", "error", "info", "verbose", "debug", "debug1", "debug2", "debug3"),
    "pubkeyauthentication": YES_NO,
    "passwordauthentication": YES_NO,
    "kbdinteractiveauthentication": YES_NO,
    "controlmaster": words("yes", "no", "ask", "auto", "autoask"),
    "controlpath": (lambda value: value == "none" or is_file(value), "none or a file path (ssh's %-tokens allowed)"),
    "controlpersist": (lambda value: bool(re.fullmatch(r"yes|no|[0-9]{1,6}[smhdwSMHDW]?", value)),
                       "yes, no or a time such as 60 or 10m"),
    "proxyjump": (is_jump, "none or [user@]host[:port] hops (an IPv4 address or a DNS name), comma-separated"),
}


# Options with which ssh writes a file on the workstation: new host keys into UserKnownHostsFile, the control socket
# at ControlPath. Those go under the cluster's own build/<name>/ (commands run from the repository root), or
# nowhere; elsewhere every ssh command of the runbook could write into any file of the repository or the home.
WRITES = {"userknownhostsfile": "/dev/null", "controlpath": "none"}


def confined(option: str, cluster: str) -> str:
    """Empty when an option that makes ssh write a file keeps it under build/<cluster>/ (or writes nothing);
    otherwise what is wrong. `option` already passed `problem`."""
    key, _, value = option.partition("=")
    nowhere = WRITES.get(key.lower())
    if nowhere is None or value == nowhere or value.startswith(f"build/{cluster}/"):
        return ""
    return (f"{key}: ssh writes to it: {nowhere} or a file under build/{cluster}/ (relative to the repository root, "
            f"e.g. build/{cluster}/ssh/{'known_hosts' if key.lower() == 'userknownhostsfile' else 'cm-%C'})")


def problem(option: str) -> str:
    """Empty when `option` may be given to ssh; otherwise what is wrong with it."""
    if not CHARACTERS.fullmatch(option):
        return "letters, digits, spaces and ._:@=/+%,~- only (no shell syntax)"
    match = OPTION.fullmatch(option)
    if not match:
        return "one option as Key=value, e.g. ConnectTimeout=5"
    key, value = match[1].lower(), match[2]
    if key in REFUSED:
        return f"refused: {match[1]} {REFUSED[key]}"
    if key not in ALLOWED:
        return ("not an option the runbook allows (allowed include IdentityFile, UserKnownHostsFile, "
                "StrictHostKeyChecking, ConnectTimeout, ControlPath, ProxyJump)")
    check, expected = ALLOWED[key]
    return "" if check(value) else f"{match[1]}: {expected}"
