"""Inputs paired with outputs for a Ray job, by ``rlfn upscale``'s rules: local files, folders and globs found
as it finds them (:func:`rlfn.inference.batch.find_inputs`), remote folders listed through pyarrow; each output
named by :func:`~rlfn.inference.batch.output_name` (``--suffix``, ``--ext``) under the output folder, in the
input's sub-folder. Inputs that cannot be used are tasks with an error (manifest rows, not failures)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ImageError, RLFNError
from ..inference.batch import BatchOptions, find_inputs, output_name
from ..io.media import ANIMATION_SUFFIXES, VIDEO_SUFFIXES
from .storage import is_local, join, list_remote, local_path


@dataclass(frozen=True)
class Task:
    input: str
    output: str | None  # None: the input cannot be used (``error`` says why)
    error: str | None = None


def _found(spec: str, opts: BatchOptions, output: str, suffix: str) -> tuple[list[tuple[str, str]], list[Task]]:
    """(input, its folder relative to the output folder) for each file ``spec`` names; errors as tasks."""
    if not is_local(spec):
        try:
            return [(uri, str(PurePosixPath(rel).parent)) for uri, rel in list_remote(spec, opts.recursive)], []
        except ImageError as e:
            return [], [Task(spec, None, str(e))]
    out = local_path(output) if is_local(output) else PurePosixPath(output)
    files, errors = find_inputs([str(local_path(spec))], opts.recursive, out, suffix)  # type: ignore[arg-type]
    pairs = [(str(f), str(f.relative_to(base).parent) if base is not None else "") for f, base in files]
    return pairs, [Task(str(j.src), None, j.error) for j in errors]


def plan(inputs: list[str], output: str, opts: BatchOptions, scale: int, files: bool = False) -> list[Task]:
    """One task per input file, in the order found. ``files``: the inputs are files, taken as they are, all
    outputs in the output folder itself (a Dataset of millions of paths is not looked at one by one here; a
    missing file is its row's error when its actor reads it)."""
    if is_local(output) and local_path(output).is_file():
        raise RLFNError(f"-o {output}: is a file; --ray writes to a folder (or a URI of one)")
    suffix = opts.name_suffix(scale)
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    for spec in inputs:
        pairs, errors = ([(spec, "")], []) if files else _found(spec, opts, output, suffix)
        tasks += errors
        for src, rel in pairs:
            kind = PurePosixPath(src).suffix.lower()
            if kind in VIDEO_SUFFIXES or kind in ANIMATION_SUFFIXES:
                tasks.append(Task(src, None, f"{src}: --ray upscales still images; run rlfn upscale without --ray "
                                             "for videos and animations"))
                continue
            dst = join(output, rel, output_name(Path(PurePosixPath(src).name), suffix, opts.ext))
            key = str(local_path(dst).resolve()) if is_local(dst) else dst
            if key == (str(local_path(src).resolve()) if is_local(src) else src):
                tasks.append(Task(src, None, f"{src}: the output would replace the input; give a --suffix or -o"))
            elif key in seen:
                tasks.append(Task(src, None, f"{src}: its output {dst} is also the output of {seen[key]}; skipped"))
            else:
                seen[key] = src
                tasks.append(Task(src, dst))
    return tasks
