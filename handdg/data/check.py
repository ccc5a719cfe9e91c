"""`check_install`: verify a dataset install split by split (counts, files, annotation shapes and values)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from handdg.data.base import HandDataset
from handdg.data.images import image_size, read_labels, read_rgb
from handdg.data.layouts import open_dataset
from handdg.data.values import annotation_problems
from handdg.errors import HanddgError

SPLITS = ("train", "test")
SHOWN_PROBLEMS = 10


@dataclass
class SplitReport:
    """What `check_install` found for one split."""

    split: str
    count: int = 0
    annotation_files: list[str] = field(default_factory=list)
    image_sizes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary, problems capped at SHOWN_PROBLEMS."""
        sizes = ", ".join(f"{w}x{h}: {n}" for (w, h), n in sorted(self.image_sizes.items()))
        out = [f"  {self.split}: {self.count} samples" + (f"; images {sizes}" if sizes else "")]
        if self.annotation_files:
            out.append(f"    annotations: {', '.join(self.annotation_files)}")
        out += [f"    problem: {p}" for p in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            out.append(f"    ... and {len(self.problems) - SHOWN_PROBLEMS} more problems")
        return out


@dataclass
class InstallReport:
    """The per-split reports of one dataset install."""

    root: Path
    layout: str
    camera: str | None
    splits: list[SplitReport]

    @property
    def problem_count(self) -> int:
        return sum(len(s.problems) for s in self.splits)

    def text(self) -> str:
        """The summary `handdg data check` prints."""
        camera = f" (camera {self.camera})" if self.camera else ""
        lines = [f"{self.layout}{camera} at {self.root}"]
        for split in self.splits:
            lines += split.lines()
        lines.append(f"problems: {self.problem_count}" if self.problem_count else "problems: none")
        return "\n".join(lines)


def check_install(root: Path | str, layout: str, camera: str = "sk", deep: bool = False) -> InstallReport:
    """Open every split of a FreiHAND/RHD/STB install and look at every file its samples need.

    Image headers are read (size, format); `deep` decodes every pixel as training would.
    Missing or unreadable files and annotation errors are collected, not raised, so one run
    lists everything that is wrong.
    """
    root = Path(root)
    if not root.is_dir():
        raise HanddgError(f"dataset root not found: {root} (pass the folder that holds the dataset)")
    reports = [_check_split(root, layout, split, camera, deep) for split in SPLITS]
    return InstallReport(root, layout, camera if layout == "stb" else None, reports)


def _check_split(root: Path, layout: str, split: str, camera: str, deep: bool) -> SplitReport:
    report = SplitReport(split)
    try:
        dataset = open_dataset(root, layout, split, camera)
    except HanddgError as exc:
        report.problems.append(str(exc))
        return report
    report.count = len(dataset)
    report.annotation_files = [str(p.relative_to(root)) for p in dataset.annotation_files]
    for index in tqdm(range(len(dataset)), desc=f"{layout} {split}", unit="sample", leave=False):
        _check_sample(dataset, index, deep, report)
    return report


def _check_sample(dataset: HandDataset, index: int, deep: bool, report: SplitReport) -> None:
    """Record missing/unreadable files of one sample; count the colour image's size."""
    image = dataset.image_path(index)
    for path in dataset.files(index):
        if not path.is_file():
            report.problems.append(f"missing {path}")
            continue
        try:
            size = image_size(path)
            if path == image:
                report.image_sizes[size] += 1
            if deep:
                (read_rgb if path == image else read_labels)(path)
        except HanddgError as exc:
            report.problems.append(str(exc))
    report.problems += annotation_problems(dataset.annotation(index))
