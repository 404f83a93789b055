"""Turn an uploaded label file into a project's labeled data: CollectedData.csv + labeled-data/ images.

Accepted: a DeepLabCut-style CSV or H5 (its images must already be in the project), a ZIP holding
CollectedData.csv (or .h5) with its labeled-data/ folder, a ZIP of a whole DeepLabCut project
(config.yaml + labeled-data/), or a SLEAP .slp / .pkg.slp file. Archives are unpacked defensively:
no absolute paths, no ``..``, no links, a cap on the unpacked size.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from app.uploads import SizeLimit, UploadTooLargeError
from core.errors import LabelFormatError, PoseCloudError
from core.labels.dlc_project import import_dlc_project
from core.labels.formats import READERS, export_labels_csv, read_labels
from core.labels.imported import LABELS_CSV
from core.labels.sleap import import_sleap
from core.labels.table import PoseTable, check_keypoints_match

ZIP_MAX_FILES = 200_000


def unpack_zip(archive: Path, dest: Path, max_bytes: int) -> None:
    """Extract ``archive`` into ``dest``, refusing path tricks, links and more than ``max_bytes``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > ZIP_MAX_FILES:
                raise LabelFormatError(
                    f"the archive holds {len(members)} files; at most {ZIP_MAX_FILES} are accepted"
                )
            if sum(m.file_size for m in members) > max_bytes:
                raise LabelFormatError(
                    f"the archive unpacks to more than {max_bytes} bytes (the upload limit); split it"
                )
            for m in members:
                parts = PurePosixPath(m.filename.replace("\\", "/")).parts
                if m.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                    raise LabelFormatError(
                        f"the archive entry {m.filename!r} points outside the archive; rebuild it with relative paths"
                    )
                if stat.S_ISLNK(m.external_attr >> 16):
                    raise LabelFormatError(
                        f"the archive entry {m.filename!r} is a link; links are not accepted"
                    )
            zf.extractall(dest)
    except zipfile.BadZipFile as e:
        raise LabelFormatError(
            f"the upload is not a readable ZIP archive ({e}); re-create it and upload again"
        ) from e


def _find_one(root: Path, pattern: str) -> Path | None:
    """The shallowest match of ``pattern`` under ``root`` (a ZIP often wraps everything in one folder)."""
    matches = sorted(root.rglob(pattern), key=lambda p: (len(p.parts), str(p)))
    return matches[0] if matches else None


def read_upload(
    upload: Path,
    filename: str,
    work: Path,
    keypoints: list[str] | None,
    have_image: Callable[[str], bool],
    max_bytes: int,
    table_limit: SizeLimit,
) -> tuple[Path, PoseTable, list[tuple[str, str]]]:
    """``labels_from_upload`` then ``check_labels``: the folder of converted labels, their table and
    the source's skeleton. ``keypoints`` None takes the upload's own (a project made from it).

    An error names the user's ``filename`` where the message had the server's copies of it, and is
    raised afresh, outside the handler, so that it keeps no reference to the frames that parsed the
    file (which hold its rows) once it is answered.
    """
    try:
        folder, skeleton = labels_from_upload(upload, filename, work, max_bytes, table_limit)
        if keypoints is None:
            keypoints = read_labels(folder / LABELS_CSV).keypoints
        return folder, check_labels(folder, keypoints, have_image), skeleton
    except PoseCloudError as err:
        problem = type(err)(_in_user_terms(str(err), filename, upload, work))
    raise problem


def _in_user_terms(message: str, filename: str, upload: Path, work: Path) -> str:
    """``message`` with an archive's unpacked entries named ``<filename>/<entry>``, and any other path
    of the upload or of what was made from it named ``filename``."""
    message = message.replace(str(work / "unpacked"), filename)
    paths = f"(?:{re.escape(str(work))}|{re.escape(str(upload))})[^\\s:;,'\"()]*"
    return re.sub(paths, lambda _: filename, message)


def labels_from_upload(
    upload: Path, filename: str, work: Path, max_bytes: int, table_limit: SizeLimit
) -> tuple[Path, list[tuple[str, str]]]:
    """Unpack/convert the upload into ``work/out`` (CollectedData.csv + labeled-data/); returns that
    folder and the skeleton the source drew (a DeepLabCut project's or a SLEAP file's; none for a
    label table). An archive unpacks to at most ``max_bytes``, and each label table in it (parsed in
    memory) is within ``table_limit``."""
    out = work / "out"
    out.mkdir(parents=True)
    lower = filename.lower()
    if lower.endswith(".slp"):
        slp = work / "labels.pkg.slp" if lower.endswith(".pkg.slp") else work / "labels.slp"
        shutil.move(upload, slp)
        return out, import_sleap(slp, out).skeleton
    if Path(lower).suffix in READERS:
        table = read_labels(_renamed(upload, work / f"labels{Path(lower).suffix}"))
        export_labels_csv(table, out / LABELS_CSV)
        return out, []
    if not lower.endswith(".zip"):
        raise LabelFormatError(
            f"{filename}: unsupported label upload; send a DeepLabCut-style .csv/.h5, a .zip with "
            "CollectedData.csv and labeled-data/, a zipped DeepLabCut project, or a SLEAP .slp file"
        )
    unpacked = work / "unpacked"
    unpack_zip(upload, unpacked, max_bytes)
    for table in unpacked.rglob("CollectedData*"):
        if table.suffix.lower() in READERS and (size := table.stat().st_size) > table_limit.bytes:
            entry = f"{filename}/{table.relative_to(unpacked).as_posix()}"
            raise UploadTooLargeError(table_limit.refusal(f"{size} bytes", subject=entry))
    config = _find_one(unpacked, "config.yaml")
    if config is not None and (config.parent / "labeled-data").is_dir():
        return out, import_dlc_project(config.parent, out).skeleton
    labels = _find_one(unpacked, "CollectedData*.csv") or _find_one(unpacked, "CollectedData*.h5")
    if labels is None:
        raise LabelFormatError(
            "the archive has neither a DeepLabCut config.yaml with labeled-data/ nor a CollectedData.csv; "
            "zip the folder that holds CollectedData.csv and labeled-data/"
        )
    export_labels_csv(read_labels(labels), out / LABELS_CSV)
    if (labels.parent / "labeled-data").is_dir():
        shutil.move(labels.parent / "labeled-data", out / "labeled-data")
    return out, []


def _renamed(path: Path, new: Path) -> Path:
    shutil.move(path, new)
    return new


def check_labels(folder: Path, keypoints: list[str], have_image: Callable[[str], bool]) -> PoseTable:
    """Check the converted labels against the project: keypoint names, and every image present either
    in ``folder`` or already in the project (``have_image(relative path)``)."""
    table = read_labels(folder / LABELS_CSV)
    check_keypoints_match(keypoints, table.keypoints, source="the uploaded labels")
    tricky = [n for n in table.index if n.startswith(("/", "\\")) or ".." in PurePosixPath(n).parts]
    if tricky:
        raise LabelFormatError(f"image paths in the labels must be relative, without '..': {tricky[:3]}")
    missing = [name for name in table.index if not (folder / name).is_file() and not have_image(name)]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise LabelFormatError(
            f"{len(missing)} labeled images are neither in the upload nor in the project: {shown}. "
            "Upload a .zip holding CollectedData.csv together with its labeled-data/ folder"
        )
    if table.keypoints != keypoints:  # same names, another order: store in the project's order
        table = table.select_keypoints(keypoints)
        export_labels_csv(table, folder / LABELS_CSV)
    return table
