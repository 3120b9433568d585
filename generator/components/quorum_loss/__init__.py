"""A lost etcd quorum with a survivor: the survivor made a one-member cluster, the others added back one at a time."""
