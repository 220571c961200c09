"""A module that takes a second to import: while one thread imports it, that thread holds its
import lock (tests/test_readers.py starts a worker meanwhile)."""

import time

time.sleep(1.0)
