"""What every part of the Store shares: the database, the contents folder, the page sizes.

`Store` (store.py) is one class made of a part per object family: `FileStore` (files.py),
`ThreadStore` (threads.py: assistants, threads, messages) and `RunStore` (runs.py: runs, run
steps), each a mixin over `StoreBase`, which declares what `Store.__init__` sets.
"""

from __future__ import annotations

from .contents import ContentDir
from .database import Database, Kind, M

DEFAULT_LIMIT = 20
#: The largest page a listing gives (files aside).
PAGE_MAX = 100


class StoreBase:
    """The attributes every part of the Store uses; `Store.__init__` sets them."""

    db: Database
    contents: ContentDir
    max_file_bytes: int

    def _check_scope(self, kind: Kind[M], object_id: str, **scope: str) -> None:
        """A save may not move an object to another thread or run."""
        self.db.get(kind, object_id, scope)
