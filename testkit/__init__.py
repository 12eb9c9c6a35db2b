"""What the tests and the benchmarks share (not shipped): the bounded wait, the headless
Chromium they drive, the alerts tests' small jurisdiction. Benchmarks import this, never tests/."""
