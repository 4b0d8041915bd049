"""The kernel's messages are untrusted: cell code can send any message the kernel could, on any
channel. Malformed ones must not crash Airlock, a faked end of the cell must not end it (nor
free it from its deadline), and a flood of tiny outputs is held to a budget by count."""

from __future__ import annotations

import time

from sandbox import AsyncSession, Limits, SandboxConfig
from sandbox.messages import parse
from tests.conftest import TEST_LIMITS

#: Run in a cell: the kernel object, the request being answered, and the socket replies go to.
_KERNEL = """\
k = get_ipython().kernel
parent = k.get_parent()
shell = (k.shell_channel_thread.manager.get_subshell_to_shell_channel_socket(None)
         if k._supports_kernel_subshells else k.shell_stream)
"""

_MALFORMED = (
    _KERNEL
    + """\
import hmac, json
def raw(*frames):
    k.iopub_socket.send_multipart([b'kernel.x.stream', b'<IDS|MSG>', *frames])
def signed(header, parent, content):
    frames = [json.dumps(part, default=str).encode() for part in (header, parent, {}, content)]
    signature = hmac.new(k.session.key, digestmod='sha256')
    for frame in frames:
        signature.update(frame)
    raw(signature.hexdigest().encode(), *frames)
head = lambda kind: {'msg_id': 'x' + kind, 'msg_type': kind, 'username': 'u', 'session': 's',
                     'date': '2024-01-01T00:00:00Z', 'version': '5.3'}
for content in ({'ename': 'Forged', 'evalue': 'v', 'traceback': 5},
                {'ename': 'Forged', 'evalue': ['not', 'text'], 'traceback': [1, None, 'line']},
                {'ename': 7, 'evalue': 8, 'traceback': {'a': 1}}):
    k.session.send(k.iopub_socket, 'error', content, parent=parent)
k.session.send(k.iopub_socket, 'stream', {'name': ['stdout'], 'text': 42}, parent=parent)
k.session.send(k.iopub_socket, 'display_data', {'data': ['image/png'], 'metadata': 3},
               parent=parent)
k.session.send(k.iopub_socket, 'display_data', {'data': {'image/png': 5, 'text/plain': 'ok'}},
               parent=parent)
k.session.send(k.iopub_socket, 'execute_input', {'execution_count': 'many'}, parent=parent)
k.session.send(k.iopub_socket, 'status', {'execution_state': ['idle']}, parent=parent)
raw(b'garbage')
raw(b'', b'{}', b'{}', b'{}', b'{}')                        # unsigned
raw(b'0' * 64, b'{}', b'{}', b'{}', b'{}')                  # a wrong signature
signed([1, 2], parent['header'], {'name': 'stdout', 'text': 'header is a list'})
signed(head('stream'), parent['header'], ['content', 'is', 'a', 'list'])
signed(head('error'), 'parent is text', {'ename': 'Forged'})
signed(head('stream'), parent['header'], {'name': 'stdout', 'text': '\\udcff'})
print('after')
"""
)


def test_parse_refuses_what_does_not_have_the_jupyter_shape() -> None:
    good = {
        "header": {"msg_type": "stream"},
        "parent_header": {"msg_id": "m"},
        "content": {"name": "stdout", "text": "x"},
    }
    assert parse(good) is not None and parse(good).parent_id == "m"  # type: ignore[union-attr]
    for bad in (
        None,
        [],
        {"header": [], "content": {}},
        {"header": {"msg_type": 3}, "content": {}},
        {"header": {"msg_type": "stream"}, "content": "text"},
    ):
        assert parse(bad) is None
    orphan = parse({"header": {"msg_type": "status"}, "parent_header": "x", "content": {}})
    assert orphan is not None and orphan.parent_id is None


async def test_malformed_kernel_messages_never_crash_the_cell(session: AsyncSession) -> None:
    result = await session.execute(_MALFORMED, timeout=30)
    assert "after" in result.stdout
    assert result.execution_count is None or isinstance(result.execution_count, int)
    if result.error is not None:  # a forged error is the code's own report: typed, though
        assert isinstance(result.error.traceback, str) and isinstance(result.error.value, str)
    assert any("malformed message" in n for n in result.notices), result.notices
    assert all(isinstance(v, str) for d in result.displays for v in d.data.values())
    result.logs.encode("utf-8")  # lone surrogates replaced: a database or terminal takes it
    follow = await session.execute("1+1")
    assert follow.result is not None and follow.result.text == "2" and follow.restart is None


async def test_unsigned_messages_are_dropped(session: AsyncSession) -> None:
    """Each start has a random key: a message without its signature never counts."""
    result = await session.execute(
        _KERNEL
        + (
            "import json\n"
            "frames = [json.dumps(p, default=str).encode() for p in (\n"
            "          {'msg_id': 'f', 'msg_type': 'error',\n"
            "          'username': 'u', 'session': 's', 'date': '2024-01-01T00:00:00Z',\n"
            "          'version': '5.3'}, parent['header'], {}, {'ename': 'Forged', 'evalue': 'x',\n"
            "          'traceback': []})]\n"
            "k.iopub_socket.send_multipart([b'x', b'<IDS|MSG>', b'', *frames])\n"
            "print('sent')"
        )
    )
    assert result.ok, result.error
    assert "sent" in result.stdout


async def test_a_faked_idle_status_does_not_end_the_cell(session: AsyncSession) -> None:
    started = time.monotonic()
    result = await session.execute(
        _KERNEL
        + (
            "k.session.send(k.iopub_socket, 'status', {'execution_state': 'idle'}, parent=parent)\n"
            "import time\nprint('faked', flush=True)\ntime.sleep(60)\nprint('never')"
        ),
        timeout=3,
    )
    elapsed = time.monotonic() - started
    assert result.error is not None and result.error.name == "TimeoutError", result.error
    assert result.timed_out and "never" not in result.stdout
    assert elapsed < 3 + TEST_LIMITS.interrupt_grace + 5
    follow = await session.execute("print('next')")
    assert follow.ok and follow.stdout == "next\n"


async def test_a_faked_reply_and_idle_do_not_end_the_cell_either(session: AsyncSession) -> None:
    started = time.monotonic()
    result = await session.execute(
        _KERNEL
        + (
            "k.session.send(shell, 'execute_reply', {'status': 'ok', 'execution_count': 1,\n"
            "               'user_expressions': {}}, parent, ident=k._parent_ident['shell'])\n"
            "k.session.send(k.iopub_socket, 'status', {'execution_state': 'idle'}, parent=parent)\n"
            "import time\ntime.sleep(60)\nprint('never')"
        ),
        timeout=3,
    )
    elapsed = time.monotonic() - started
    assert result.error is not None and result.error.name == "TimeoutError", result.error
    assert elapsed < 3 + TEST_LIMITS.interrupt_grace + 5
    follow = await session.execute("x = 5\nx * 2")
    assert follow.result is not None and follow.result.text == "10"


async def test_a_flood_of_tiny_images_is_capped_by_count_and_stays_interruptible() -> None:
    limits = Limits(timeout=8, interrupt_grace=2, max_displays=50)
    async with await AsyncSession.start(SandboxConfig(limits=limits)) as session:
        started = time.monotonic()
        result = await session.execute(
            "import base64\nfrom IPython.display import Image, display\n"
            "png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4'\n"
            "                       '2mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==')\n"
            "for _ in range(100_000):\n"
            "    display(Image(data=png, format='png'))",
            timeout=8,
        )
        elapsed = time.monotonic() - started
        images = list(session.images_dir.iterdir()) if session.images_dir.exists() else []
        assert len(result.displays) <= 50 and len(images) <= 50
        assert any("rich output(s) dropped" in n for n in result.notices), result.notices
        assert elapsed < 8 + limits.interrupt_grace + 10
        follow = await session.execute("1+1")
        assert follow.result is not None and follow.result.text == "2"
