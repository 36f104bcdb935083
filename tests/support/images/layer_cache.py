"""Docker's layer cache for the image build without Docker: what each RUN step changed in its
scratch root, kept under a key of everything the step depends on, and replayed when the key
comes again (the step's own command is then not run, as with `docker build`).

The key chains the base image, the Python, the architecture, every earlier step with its
variables and the content of what COPY read: a change to any of them runs the step again. What a
key cannot see is the package index: requirements pin FaceMatch's dependencies, not theirs, so a
layer is used for one ISO week at most (the week is part of the key). CI builds on a fresh clone,
without this cache.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

# Size and modification time of a file, or the target of a link, or None for a folder.
Listing = dict[str, tuple[int, int] | str | None]
UNUSED_DAYS = 7  # keys change every week anyway


def listing(root: Path) -> Listing:
    entries: Listing = {}
    for folder, folders, names in os.walk(root):
        for name in folders + names:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            if os.path.islink(path):
                entries[relative] = os.readlink(path)
            elif os.path.isdir(path):
                entries[relative] = None
            else:
                stat = os.stat(path)
                entries[relative] = (stat.st_size, stat.st_mtime_ns)
    return entries


class LayerCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        oldest = time.time() - UNUSED_DAYS * 86400
        for layer in folder.iterdir():
            if layer.stat().st_mtime < oldest:
                shutil.rmtree(layer, ignore_errors=True)

    def replay(self, key: str, root: Path) -> bool:
        """Apply the layer recorded under ``key`` to ``root``; False if there is none."""
        layer = self.folder / key
        if not layer.is_dir():
            return False
        shutil.copytree(layer / "files", root, symlinks=True, dirs_exist_ok=True)
        for relative in json.loads((layer / "deleted.json").read_text()):
            path = root / relative
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        os.utime(layer)  # last used, for pruning
        return True

    def record(self, key: str, root: Path, before: Listing) -> None:
        """Keep what changed in ``root`` since ``before`` as the layer of ``key``."""
        after = listing(root)
        partial = self.folder / f"{key}.partial-{os.getpid()}"
        files = partial / "files"
        files.mkdir(parents=True)
        for relative, entry in after.items():
            if before.get(relative, "absent") == entry:
                continue
            source, target = root / relative, files / relative
            if entry is None:
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target, follow_symlinks=False)
        deleted = sorted(relative for relative in before if relative not in after)
        (partial / "deleted.json").write_text(json.dumps(deleted))
        try:
            partial.rename(self.folder / key)  # whole or not at all
        except OSError:  # another build recorded the same layer first
            shutil.rmtree(partial)
