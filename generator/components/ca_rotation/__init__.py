"""The CA rotation chapter: trust the old and a new cluster CA, re-issue every leaf with the new one, drop the old,
one master at a time behind the health gate, while requests through the VIP keep being counted."""
