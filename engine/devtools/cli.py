"""`airlock bench SUITE`: the benchmarks through Airlock's engine and sandbox
(engine.devtools.bench).

airlock bench humaneval-oracle                       # the executor: 164/164 expected
airlock bench humanevalfix --workers 2               # the retry loop, scripted model
airlock bench humanevalfix --model qwen.gguf         # a real model fixes the bugs
airlock bench dabench --model http://host:8080/v1#m  # data analysis (ABQ, PSAQ, UASQ)
airlock bench perf                                   # sandbox micro-benchmarks
airlock bench security                               # the attack matrix by isolation level
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, cast

import typer

from engine.cli.options import CliError, ModelsConfigOption, fail, load_settings, resolve_model

from .bench import SUITES, BenchError, SuiteOptions, run_suite
from .bench.dabench import ORACLE
from .bench.harness import Executor


def bench(
    suite: Annotated[
        str,
        typer.Argument(
            help=f"The suite: {', '.join(SUITES)}, or security (the attack catalogue at each "
            "isolation level, printed as a matrix).",
            show_default=False,
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="The model (a spec, a catalogue or GGUF name, or a models-config name). "
            "humanevalfix without it uses its built-in script (buggy, then the canonical fix "
            "after the traceback); dabench without it uses the model 'airlock run' would (the "
            "pulled default model when none is configured); 'oracle': the labelled answers, "
            "a check of the scorer.",
            show_default=False,
        ),
    ] = None,
    models_config: ModelsConfigOption = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="The suite's data file or folder (default: under ../shared/data beside the "
            "repository).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N tasks.", min=1, show_default=False)
    ] = None,
    every: Annotated[
        int | None,
        typer.Option(
            help="Only every N-th task (positions 0, N, 2N... in the data's order): a fixed, "
            "documented subset.",
            min=1,
            show_default=False,
        ),
    ] = None,
    ids: Annotated[
        str | None, typer.Option(help="Only these task ids (comma-separated).", show_default=False)
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Tasks at once, each in its own thread and kernel.", min=1)
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where results.jsonl, summary.md, the plots and config.json go "
            "(default: ./bench-out/SUITE).",
            show_default=False,
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(help="local (this process) or ray ($RAY_ADDRESS, else a local Ray instance)."),
    ] = "local",
    resume: Annotated[
        bool, typer.Option("--resume", help="Run only the tasks not yet in OUT/results.jsonl.")
    ] = False,
    cell_timeout: Annotated[
        float | None,
        typer.Option(
            "--cell-timeout",
            help="Per-cell time limit in seconds (default: the suite's).",
            show_default=False,
        ),
    ] = None,
    task_timeout: Annotated[
        float, typer.Option(help="A task running longer is recorded as an error.")
    ] = 900.0,
    progress: Annotated[
        bool,
        typer.Option("--progress/--no-progress", help="Show a progress bar with ETA on stderr."),
    ] = True,
) -> None:
    """Run a benchmark suite: one JSON line per task, then a summary, plots and the config."""
    if executor not in ("local", "ray"):
        raise fail(f"--executor must be local or ray, not {executor!r}")
    if suite == "security":
        _security(out if out is not None else Path("bench-out") / suite, progress)
        return
    if suite not in SUITES:
        raise fail(f"unknown suite {suite!r} (known: {', '.join(SUITES)}, security)")
    try:
        spec, config_path = _model(suite, model, models_config)
    except CliError as error:
        raise fail(str(error), error.code) from None
    options = SuiteOptions(
        model=spec,
        models_config=config_path,
        data=data,
        cell_timeout=cell_timeout,
        task_timeout=task_timeout,
    )
    target = out if out is not None else Path("bench-out") / suite
    try:
        result = asyncio.run(
            run_suite(
                suite,
                options,
                out=target,
                limit=limit,
                workers=workers,
                executor=cast(Executor, executor),
                resume=resume,
                progress=progress,
                every=every,
                ids=[i.strip() for i in ids.split(",") if i.strip()] if ids else None,
            )
        )
    except (BenchError, RuntimeError, ValueError) as error:
        raise fail(str(error)) from None
    # Plain text: the markdown table must not be wrapped to the terminal's width.
    typer.echo((target / "summary.md").read_text(encoding="utf-8"))
    typer.echo(f"results: {target / 'results.jsonl'} ({len(result.ran)} task(s) run now)")


def _security(out: Path, progress: bool) -> None:
    """Every attack case at every isolation level this machine has; the matrix printed and
    kept as OUT/security.md. Exit status 1 when a case breaches the default level."""
    from rich.console import Console

    from .security import run_matrix
    from .security.runner import CaseResult, Outcome

    console = Console(stderr=True)

    def show(result: CaseResult) -> None:
        if progress:
            console.print(
                f"{result.level:>10}  {result.case_id:<32} {result.outcome}", highlight=False
            )

    report = run_matrix(None, progress=show)
    report.print(Console())
    out.mkdir(parents=True, exist_ok=True)
    (out / "security.md").write_text(report.markdown(), encoding="utf-8")
    typer.echo(f"matrix: {out / 'security.md'}")
    from sandbox import probe

    if report.counts(probe().best).get(Outcome.BREACHED, 0):
        raise typer.Exit(1)


def _model(
    suite: str, flag: str | None, models_config: Path | None
) -> tuple[str | None, Path | None]:
    """The spec as given (resolved like `airlock run`'s --model), or None. Without a flag,
    humanevalfix keeps its built-in script (its scripted run is a measurement of its own);
    dabench, which needs a model, takes the one `airlock run` would, if any (the suite says
    what it needs otherwise). The spec lands in config.json, hash included."""
    if flag == ORACLE or (flag is None and suite != "dabench"):
        return flag, None
    choice = resolve_model(flag, models_config, load_settings(), required=flag is not None)
    if choice is None:
        return None, None
    return choice.spec, (choice.config.path if choice.config is not None else None)
