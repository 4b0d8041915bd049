"""The Engine: the store, the models and the sandbox sessions, and the runs in flight.

Everything that starts, watches or cancels a run goes through here; the REST server, the
library API and the CLI are thin layers over it. All of it is async; the store is synchronous
and is called through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from types import TracebackType

from models import ModelBackend, ModelsConfig, load_model
from sandbox import SandboxConfig

from ..schemas import Deleted, Run, RunCreate, Thread, ThreadAndRunCreate, now
from ..store import Store
from .checkpoints import Checkpoints, checkpoints_root
from .events import object_event
from .handle import RunHandle
from .model_registry import ModelRegistry
from .run_loop import RunDeps, RunLoop
from .sessions import SessionManager
from .settings import EngineSettings

log = logging.getLogger(__name__)

_PRODUCED_KEPT = 1000


class Engine:
    """Open it with `Engine.open(...)` (or construct, then `await start()`), close with
    `aclose()`; `async with` does both."""

    def __init__(
        self, store: Store, models: ModelRegistry, settings: EngineSettings | None = None
    ) -> None:
        self.store = store
        self.models = models
        self.settings = settings or EngineSettings()
        max_mb = self.settings.checkpoint_max_mb
        self.checkpoints = (
            Checkpoints(checkpoints_root(store.data_dir), max_bytes=max_mb * 1024 * 1024)
            if max_mb > 0
            else None
        )
        self.sessions = SessionManager(
            self.settings.sandbox,
            idle_seconds=self.settings.session_idle_seconds,
            pool_size=self.settings.kernel_pool_size,
            max_sessions=self.settings.max_sessions,
            runs_on=self._sessions_of_runs,
            checkpoints=self.checkpoints,
            # A thread's state is kept; a container's is not (it expires, as hosted ones do).
            checkpointed=lambda key: key.startswith("thread_"),
        )
        self._runs: dict[str, RunHandle] = {}
        self._started = False
        #: run id -> the files the run produced, for the runs that ended lately (the store
        #: keeps the files, not which run wrote those that no answer linked)
        self._produced: OrderedDict[str, list[str]] = OrderedDict()
        #: thread id -> (session key, its sandbox config): threads bound to a shared kernel
        self._bindings: dict[str, tuple[str, SandboxConfig | None]] = {}
        self._deps = RunDeps(
            store=store,
            models=models,
            settings=self.settings,
            sessions=self.sessions,
            session_key=self.session_key,
        )

    @classmethod
    async def open(
        cls,
        model: str | ModelBackend,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        settings: EngineSettings | None = None,
        models_config: ModelsConfig | None = None,
    ) -> Engine:
        """`model`: the default model, a spec or a loaded backend; `data_dir`: where the store
        lives (default: $AIRLOCK_DATA_DIR, else the user's data folder)."""
        if isinstance(model, str):
            name = model
            backend = await asyncio.to_thread(load_model, model, config=models_config)
        else:
            name, backend = model.name, model
        store = await asyncio.to_thread(Store, data_dir)
        engine = cls(
            store, ModelRegistry(backend, default_name=name, config=models_config), settings
        )
        await engine.start()
        return engine

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self.sessions.start()
            for run in self.store.recovered_runs:
                log.warning(
                    "run %s was left %s by a crash and is now %s", run.id, "active", run.status
                )

    async def aclose(self) -> None:
        for handle in list(self._runs.values()):
            handle.cancel_requested.set()
        for handle in list(self._runs.values()):
            if handle.task is not None:
                try:
                    await handle.task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # this close itself was cancelled: pass it on
                    # else the run's task was cancelled from outside: it has ended all the same
                except Exception:  # the loop records its own failures; this is a bug in it
                    log.exception(
                        "run %s ended with an error while the engine closed", handle.run.id
                    )
        await self.sessions.aclose()
        await self.models.aclose()
        self.store.close()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------ runs

    async def create_run(self, thread_id: str, body: RunCreate) -> RunHandle:
        """Store the run (queued) and start it; NotFoundError/InvalidRequestError as the
        store raises them, before anything runs."""
        run = await asyncio.to_thread(self.store.create_run, thread_id, body)
        return self._launch(RunHandle(run))

    async def create_thread_and_run(self, body: ThreadAndRunCreate) -> tuple[Thread, RunHandle]:
        thread, run = await asyncio.to_thread(self.store.create_thread_and_run, body)
        handle = RunHandle(run, thread)
        handle.emit(object_event("thread.created", thread))
        return thread, self._launch(handle)

    def _launch(self, handle: RunHandle) -> RunHandle:
        handle.emit(object_event("thread.run.created", handle.run))
        self._runs[handle.run.id] = handle
        loop = RunLoop(self._deps, handle)
        handle.task = asyncio.create_task(loop.execute(), name=f"run {handle.run.id}")
        handle.task.add_done_callback(lambda _task: self._ended(handle))
        return handle

    def _ended(self, handle: RunHandle) -> None:
        self._runs.pop(handle.run.id, None)
        self._produced[handle.run.id] = handle.generated_file_ids
        while len(self._produced) > _PRODUCED_KEPT:
            self._produced.popitem(last=False)

    def produced_files(self, run_id: str) -> list[str] | None:
        """The ids of the files a run's code produced, if it ran in this engine lately."""
        return self._produced.get(run_id)

    def bind_thread(
        self, thread_id: str, session_key: str, config: SandboxConfig | None = None
    ) -> None:
        """Run the thread's code in the session named `session_key` (a container's) instead
        of its own; `config` sets the limits of that session when it starts."""
        self._bindings[thread_id] = (session_key, config)

    def session_key(self, thread_id: str) -> tuple[str, SandboxConfig | None]:
        """Which session a thread's code runs in, and with what config (None: the default)."""
        return self._bindings.get(thread_id, (thread_id, None))

    def _sessions_of_runs(self) -> set[str]:
        """The sessions the runs in flight here run their code in (or will)."""
        return {self.session_key(handle.run.thread_id)[0] for handle in self._runs.values()}

    def run_handle(self, run_id: str) -> RunHandle | None:
        """The handle of a run in flight in this engine, if it is."""
        return self._runs.get(run_id)

    async def cancel_run(self, thread_id: str, run_id: str) -> Run:
        """Ask a run to stop: it answers `cancelling` now and reaches `cancelled` when the
        loop has interrupted the model or the cell. 400 for a run that already ended."""
        run = await asyncio.to_thread(self.store.cancel_run, thread_id, run_id)
        handle = self._runs.get(run_id)
        if handle is None:
            # Not running here (queued by a process that is gone): nothing to interrupt.
            return await asyncio.to_thread(self._cancel_orphan, run)
        if not handle.cancel_requested.is_set():
            handle.cancel_requested.set()
            handle.emit(object_event("thread.run.cancelling", run))
        return run

    def _cancel_orphan(self, run: Run) -> Run:
        return self.store.save_run(
            run.model_copy(
                update={"status": "cancelled", "cancelled_at": now(), "expires_at": None}
            )
        )

    async def delete_thread(self, thread_id: str) -> Deleted:
        deleted = await asyncio.to_thread(self.store.delete_thread, thread_id)
        key, _config = self.session_key(thread_id)
        if key == thread_id:  # a shared (container) session outlives its threads
            await self.sessions.end(thread_id, save=False)
        if self.checkpoints is not None:
            await self.checkpoints.delete(thread_id)
        self._bindings.pop(thread_id, None)
        return deleted
