"""A warm pool of started kernels with the analysis stack already imported.

A new session then costs only the hand-over (no ~0.7 s kernel start, no ~0.9 s of imports).
Every pooled session has its own uid, run folder and empty workspace, exactly as if started
fresh; a handed-out session is never returned to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .limits import SandboxConfig
from .session import AsyncSession

log = logging.getLogger(__name__)

#: Seconds a refill waits after a hand-over: a kernel starting and importing the stack takes
#: a core for about a second, which the new session's first cell should have instead.
REFILL_DELAY = 1.0


#: Renders one throw-away figure: loads fonts, the Agg canvas, the PNG encoder and pandas'
#: plotting module, which a first plot would otherwise pay for (~50 ms).
_MATPLOTLIB_WARMUP = """
    import io
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots()
    axes.plot([0, 1], label="warm-up")
    axes.legend()
    axes.set_title("warm-up")
    try:
        import pandas
        pandas.DataFrame({"x": [0, 1]}).plot(ax=axes)
    except Exception:
        pass
    figure.savefig(io.BytesIO(), format="png")
    try:  # the path the inline backend takes: IPython's formatters, tight bounding box
        get_ipython().display_formatter.format(figure)
    except Exception:
        pass
    plt.close(figure)
"""


def preload_code(modules: tuple[str, ...]) -> str:
    """Imports without binding names, so that the user's namespace starts empty."""
    warmup = _MATPLOTLIB_WARMUP if "matplotlib.pyplot" in modules else ""
    return (
        "def _airlock_preload():\n"
        "    import importlib\n"
        f"    for name in {list(modules)!r}:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except Exception:\n"
        "            pass\n"
        f"{warmup}"
        "_airlock_preload()\n"
        "del _airlock_preload\n"
    )


class KernelPool:
    """Keeps `size` sessions of one configuration started and preloaded."""

    def __init__(self, config: SandboxConfig | None = None, *, size: int = 2) -> None:
        self.config = config or SandboxConfig()
        self.size = size
        self._ready: asyncio.Queue[AsyncSession] = asyncio.Queue()
        self._filling: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self, *, wait: bool = True) -> None:
        """Begin filling the pool; with `wait`, return once it is full."""
        self._top_up()
        if wait and self._filling:
            await asyncio.gather(*self._filling, return_exceptions=True)

    def _top_up(self, *, delay: float = 0.0) -> None:
        for _ in range(self.size - self._ready.qsize() - len(self._filling)):
            task = asyncio.ensure_future(self._fill_one(delay))
            self._filling.add(task)
            task.add_done_callback(self._filling.discard)

    async def _fill_one(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            session = await AsyncSession.start(self.config)
        except Exception:
            log.exception("could not start a pooled kernel")
            return
        try:
            if self.config.preload:
                await session.run_silent(preload_code(self.config.preload))
        except BaseException as exc:
            await asyncio.shield(session.close())
            if not isinstance(exc, Exception):
                raise
            log.exception("could not preload a pooled kernel")
            return
        if self._closed:
            await session.close()
        else:
            self._ready.put_nowait(session)

    async def acquire(self) -> AsyncSession:
        """A ready session if one is waiting, else a freshly started one; refills behind."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        session: AsyncSession | None = None
        while not self._ready.empty():
            candidate = self._ready.get_nowait()
            if candidate.kernel.is_alive():
                session = candidate
                break
            await candidate.close()
        if not self._closed:
            self._top_up(delay=REFILL_DELAY if session is not None else 0.0)
        if session is None:
            session = await AsyncSession.start(self.config)
        return session

    @property
    def ready_count(self) -> int:
        return self._ready.qsize()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._filling):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        while not self._ready.empty():
            await self._ready.get_nowait().close()

    async def __aenter__(self) -> KernelPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
