"""Downloading a published weight file once into a local cache, checked by its hash.

torchvision's file names carry the first hex digits of the file's SHA-256
(`resnet50-0676ba61.pth`), which torch.hub checks; we check the same prefix. A file
is written beside its final name and renamed only once its hash is right, so an
interrupted or corrupted download never sits in the cache.
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request

CACHE_ENV = "KERAS_LIGHTNETS_CACHE"  # overrides the cache folder


def cache_dir():
    """$KERAS_LIGHTNETS_CACHE, else ~/.keras/lightnets (beside Keras' own ~/.keras/models)."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".keras", "lightnets")


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url, sha256_prefix, *, file_name=None, progress=True):
    """The local path of `url`'s file, downloaded into cache_dir() the first time.

    A cached file is used only when its SHA-256 starts with `sha256_prefix`; a download
    whose hash differs is deleted and is an error that names both hashes.
    """
    folder = cache_dir()
    path = os.path.join(folder, file_name or url.rsplit("/", 1)[-1])
    if os.path.isfile(path) and sha256_of(path).startswith(sha256_prefix):
        return path
    os.makedirs(folder, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as out:
            _download(url, out, progress)
        found = sha256_of(partial)
        if not found.startswith(sha256_prefix):
            raise ValueError(f"The file downloaded from {url} has SHA-256 {found}, not the published {sha256_prefix}...: "
                             "the download was damaged or the file changed. Nothing was kept; try again, or pass "
                             "the path of a file you trust as weights=.")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def _download(url, out, progress):
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OSError(f"Could not download {url} ({reason}). Without network access, download the file elsewhere "
                      f"and pass its path as weights=, or put it in {cache_dir()} (${CACHE_ENV}).") from None
    total = int(response.headers.get("Content-Length") or 0) or None
    from tqdm import tqdm

    with response, tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=not progress,
                        file=sys.stderr, leave=False) as bar:
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            bar.update(len(block))
