"""The run loop's final answer: the model's text with the files the code wrote stored, links to
files that do not exist corrected, file links annotated and images no link shows added (a part
of `RunLoop`)."""

from __future__ import annotations

import logging
from typing import Any

from models import ChatResult

from ..schemas import (
    ImageFile,
    ImageFileContent,
    MessageIncompleteDetails,
    Text,
    TextContent,
    now,
)
from .annotations import fix_links
from .events import message_delta
from .run_state import RunState
from .sessions import ThreadSession

log = logging.getLogger(__name__)


class FinalAnswer(RunState):
    """The final-answer part of `RunLoop`."""

    async def _answer(self, result: ChatResult) -> None:
        """The final text: images shown, links annotated, the message and its step done."""
        if self.record.open_message is None:
            await self.record.ensure_message(result.text)  # a backend that streamed no delta
        step, message = await self.record.ensure_message()
        # A run without a cell of its own may still link files of the thread's kernel.
        session = self.session or self.deps.sessions.get(
            self.deps.session_key(self.run.thread_id)[0]
        )
        generated = await self._db(self.generated.store_all, session)
        answer, appended = self.coach.final_text(message.text)
        text = await self._db(self._links_fixed, answer, session)
        annotations = await self._db(self.generated.annotate, text, session)
        extra_images = (
            []
            if self.generated.images_shown
            else await self._db(self.generated.unlinked_saved_images, text)
        )
        content: list[Any] = list(message.content)
        text_index = len(content) - 1
        content[text_index] = TextContent(text=Text(value=text, annotations=list(annotations)))
        if appended:  # streamed too: a client that assembles the deltas reads them
            self.handle.emit(
                message_delta(
                    message.id,
                    [{"index": text_index, "type": "text", "text": {"value": appended}}],
                )
            )
        if annotations:
            self.handle.emit(
                message_delta(
                    message.id,
                    [
                        {
                            "index": text_index,
                            "type": "text",
                            "text": {
                                "annotations": [
                                    {"index": i, **a.model_dump(mode="json")}
                                    for i, a in enumerate(annotations)
                                ]
                            },
                        }
                    ],
                )
            )
        for file_id in extra_images:
            self.handle.emit(
                message_delta(
                    message.id,
                    [
                        {
                            "index": len(content),
                            "type": "image_file",
                            "image_file": {"file_id": file_id, "detail": "auto"},
                        }
                    ],
                )
            )
            content.append(ImageFileContent(image_file=ImageFile(file_id=file_id)))
        message = message.model_copy(update={"content": content})
        if result.finish_reason == "length":
            message = message.model_copy(
                update={
                    "status": "incomplete",
                    "incomplete_at": now(),
                    "incomplete_details": MessageIncompleteDetails(reason="max_tokens"),
                }
            )
        self.record.open_message = (step, message)
        await self.record.close_message(usage=self._last_usage)
        log.debug("run %s: %d generated file(s)", self.run.id, len(generated))

    def _links_fixed(self, text: str, session: ThreadSession | None) -> str:
        """The answer with links to files that do not exist corrected or dropped (small
        models link files they meant to write)."""
        known = (
            [*self.generated.changed, *(f.path for f in session.staged.values())]
            if session is not None
            else list(self.generated.changed)
        )
        return fix_links(
            text, lambda path: self.generated.file_id_for(session, path) is not None, known
        )
