"""A master rebuilt from nothing: its disk lost, re-created from what the workstation holds."""
