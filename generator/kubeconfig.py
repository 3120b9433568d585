"""Kubeconfig files with the CA, client certificate and key embedded."""

from __future__ import annotations

import base64

from generator import yaml_text


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(server: str, user: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """kubeadm naming: cluster `kubernetes`, context `<user>@kubernetes`."""
    context = f"{user}@kubernetes"
    body = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "kubernetes", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}
        ],
        "contexts": [{"name": context, "context": {"cluster": "kubernetes", "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml_text.dump(body)
