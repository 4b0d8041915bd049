"""Run inside every kernel at start (ipykernel's exec_files): caps each cell's output, and enters
the workspace when the first cell runs.

The kernel starts in a neutral folder with a safe sys.path, so that nothing the code wrote to
the workspace is imported or read while it starts (a planted `ipykernel_launcher.py` or
`zmq.py` would otherwise run as the kernel's own start-up). Cells then run in the workspace and
can import modules from it, as in Jupyter: the first execution request (silent ones included)
changes into it and puts '' on sys.path.

A cell that prints 200 MB must not make the kernel send 200 MB to Airlock. Writes to stdout and
stderr (including what subprocesses write to the inherited file descriptors, which ipykernel
forwards through the same streams) are counted per cell: the first half of the budget passes,
the rest is held as a rolling tail and sent, after a marker, when the cell ends. Airlock also
caps what it receives, so code that undoes this only wastes its own memory.
"""


def _install_output_cap() -> None:
    import collections
    import os
    import sys
    from typing import Any

    budget = int(os.environ.get("AIRLOCK_OUTPUT_CAP", "0"))
    if budget <= 0:
        return
    head_budget = budget // 2
    tail_budget = budget - head_budget
    ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821

    class _CappedStream:
        def __init__(self, stream: Any) -> None:
            self.stream = stream
            self.original_write = stream.write
            self.reset()

        def reset(self) -> None:
            self.passed = 0
            self.cut = 0
            self.tail: collections.deque[str] = collections.deque()
            self.tail_size = 0

        def write(self, text: Any) -> Any:
            if not isinstance(text, str):
                return self.original_write(text)
            written = len(text)  # what the caller asked for: the cap is not its business
            room = head_budget - self.passed
            if room > 0:
                head, text = text[:room], text[room:]
                self.passed += len(head)
                self.original_write(head)
            if text:
                self.tail.append(text)
                self.tail_size += len(text)
                while self.tail_size - len(self.tail[0]) >= tail_budget:
                    dropped = self.tail.popleft()
                    self.tail_size -= len(dropped)
                    self.cut += len(dropped)
            return written

        def finish(self) -> None:
            if not self.tail:
                return
            tail = "".join(self.tail)
            excess = len(tail) - tail_budget
            if excess > 0:
                tail = tail[excess:]
                self.cut += excess
            if self.cut:
                self.original_write(f"\n[... {self.cut} characters of output cut by Airlock ...]\n")
            self.original_write(tail)
            self.reset()

    capped = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        wrapper = _CappedStream(stream)
        stream.write = wrapper.write
        capped.append(wrapper)

    def _before(*_args: object) -> None:
        for wrapper in capped:
            wrapper.reset()

    def _after(*_args: object) -> None:
        for wrapper in capped:
            wrapper.finish()
        for wrapper in capped:
            wrapper.stream.flush()

    ip.events.register("pre_run_cell", _before)
    ip.events.register("post_run_cell", _after)


def _enter_workspace_at_first_cell() -> None:
    import os
    import sys

    workspace = os.environ.get("AIRLOCK_WORKSPACE")
    if not workspace:
        return
    ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821

    def _enter(*_args: object) -> None:
        ip.events.unregister("pre_execute", _enter)
        os.chdir(workspace)
        if "" not in sys.path:  # where IPython itself puts it: after the standard library
            index = next(
                (
                    i
                    for i, p in enumerate(sys.path)
                    if os.path.basename(p) in ("site-packages", "dist-packages")
                ),
                0,
            )
            sys.path.insert(index, "")

    ip.events.register("pre_execute", _enter)


_install_output_cap()
_enter_workspace_at_first_cell()
del _install_output_cap, _enter_workspace_at_first_cell
