"""`python startup_gate.py ENTRYPOINT ARGS...`: entrypoint.py as the image runs it, its start-up held
where the program imports urllib3 (with requests, before the run's first request) until a line
arrives on standard input, so that a test can send a signal at that moment (tests/faults/test_signals.py).

It announces the hold on stderr ("gate: importing urllib3"); the import then goes on as usual.
Nothing of the program is replaced: the gate only delays one import.
"""

import importlib.abc
import runpy
import sys


class _Gate(importlib.abc.MetaPathFinder):
    held = False

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "urllib3" and not self.held:
            self.held = True
            sys.stderr.write("gate: importing urllib3\n")
            sys.stderr.flush()
            sys.stdin.readline()
        return None   # found by the usual finders


sys.meta_path.insert(0, _Gate())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
