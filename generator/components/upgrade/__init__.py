"""The upgrade chapter: from the release the masters run (`upgrade.from`) to the cluster file's, one master at a
time, while requests through the VIP keep being counted. Its per-node diffs are rendered by generator/render.py."""
