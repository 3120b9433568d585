"""Before any component: environment.sh, clocks, swap, directories and the release binaries on every node."""
