"""The cluster administrator's client certificate and kubeconfig (group system:masters): the workstation's kubectl."""
