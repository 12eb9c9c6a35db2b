"""gridwatch's shell: the settings every process is built from, the local service launcher and
the `gridwatch` command line that wires the packages together."""
