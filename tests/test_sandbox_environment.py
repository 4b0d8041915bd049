"""The kernel's environment: the data-science stack model-written code expects, importable and
working inside a sandboxed kernel under the default limits (RLIMIT_AS included)."""

from __future__ import annotations

import json

import pytest

from sandbox import AsyncSession, SandboxConfig
from sandbox.pool import preload_code
from tests.conftest import TEST_LIMITS

#: import name -> what it is installed as (the `analysis` extra of pyproject.toml).
STACK = {
    "numpy": "numpy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "seaborn": "seaborn",
    "scipy.stats": "scipy",
    "sklearn.linear_model": "scikit-learn",
    "statsmodels.api": "statsmodels",
    "sympy": "sympy",
    "networkx": "networkx",
    "pyarrow.parquet": "pyarrow",
    "openpyxl": "openpyxl",
    "xlrd": "xlrd",
    "PIL.Image": "pillow",
    "pypdf": "pypdf",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "tabulate": "tabulate",
    "bs4": "beautifulsoup4",
    "lxml.etree": "lxml",
}

_IMPORT_ALL = """
import importlib, json, sys
failed = {}
for name in %r:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""

#: Each library doing one small piece of real work, the way analysis code uses it.
_USE_EACH = """
import io
import numpy as np, pandas as pd
import seaborn as sns, matplotlib.pyplot as plt
frame = pd.DataFrame({"x": np.arange(20.0), "g": ["a", "b"] * 10})
frame["y"] = 2 * frame["x"] + 1
sns.lineplot(data=frame, x="x", y="y", hue="g"); plt.close("all")
frame.to_parquet("t.parquet"); assert pd.read_parquet("t.parquet").equals(frame)
frame.to_excel("t.xlsx", index=False); assert len(pd.read_excel("t.xlsx")) == 20
import statsmodels.formula.api as smf
fit = smf.ols("y ~ x", data=frame).fit(); assert abs(fit.params["x"] - 2) < 1e-9
from sklearn.linear_model import LinearRegression
assert abs(LinearRegression().fit(frame[["x"]], frame["y"]).coef_[0] - 2) < 1e-9
from scipy import stats; assert stats.pearsonr(frame["x"], frame["y"])[0] > 0.999
import sympy; assert sympy.integrate(sympy.Symbol("t") ** 2, (sympy.Symbol("t"), 0, 3)) == 9
import networkx as nx; assert nx.shortest_path_length(nx.path_graph(5), 0, 4) == 4
from PIL import Image; Image.new("RGB", (4, 4)).save("t.png")
import docx; document = docx.Document(); document.add_paragraph("hello"); document.save("t.docx")
assert docx.Document("t.docx").paragraphs[0].text == "hello"
import pptx; pptx.Presentation().save("t.pptx")
import pypdf; writer = pypdf.PdfWriter(); writer.add_blank_page(72, 72); writer.write("t.pdf")
assert len(pypdf.PdfReader("t.pdf").pages) == 1
from tabulate import tabulate; assert "x" in tabulate(frame.head(2), headers="keys")
from bs4 import BeautifulSoup; assert BeautifulSoup("<p>hi</p>", "lxml").p.text == "hi"
print("all worked")
"""


@pytest.mark.slow
async def test_the_analysis_stack_imports_and_works_in_a_sandboxed_kernel() -> None:
    # Default limits: the memory cap (RLIMIT_AS) applies, as it does for every session.
    async with await AsyncSession.start(SandboxConfig()) as session:
        untouched = await session.execute(
            "import sys\nprint(sorted(m for m in ('seaborn', 'statsmodels', 'sklearn', 'sympy')"
            " if m in sys.modules))"
        )
        assert untouched.stdout == "[]\n", "a fresh kernel imports only what the pool preloads"
        imported = await session.execute(_IMPORT_ALL % list(STACK), timeout=240)
        assert imported.ok, imported.logs
        assert json.loads(imported.stdout) == {}
        used = await session.execute(_USE_EACH, timeout=240)
        assert used.ok and used.stdout == "all worked\n", used.logs


def test_the_pool_still_preloads_only_the_core() -> None:
    """The rest of the stack is imported lazily, by the code that needs it."""
    assert SandboxConfig().preload == ("numpy", "pandas", "matplotlib", "matplotlib.pyplot")
    code = preload_code(SandboxConfig().preload)
    assert "seaborn" not in code and "sklearn" not in code


async def test_pyarrow_allocates_with_malloc_under_the_memory_limit() -> None:
    """pandas imports pyarrow when it is installed; its default allocator (jemalloc/mimalloc)
    reserves ~130 MB of address space at first use, which RLIMIT_AS counts: a 768 MB session
    then failed `to_excel` with a MemoryError."""
    async with await AsyncSession.start(SandboxConfig(limits=TEST_LIMITS)) as session:
        result = await session.execute(
            "import pandas, pyarrow\n"
            "frame = pandas.DataFrame({'a': list(range(1000))})\n"
            "frame.to_parquet('t.parquet'); frame.to_excel('t.xlsx')\n"
            "print(pyarrow.default_memory_pool().backend_name,"
            " len(pandas.read_parquet('t.parquet')), len(pandas.read_excel('t.xlsx')))"
        )
        assert result.ok, result.error
        assert result.stdout == "system 1000 1000\n"
