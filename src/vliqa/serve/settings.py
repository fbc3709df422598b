"""What a `vliqa serve` process is started with: `ServeSettings`, and the checks that refuse an unsafe start."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from vliqa.errors import InvalidParameterError
from vliqa.serve.errors import InsecureServeError

#: The environment variable holding the API token (a bearer token every /v1 request must carry).
TOKEN_ENV = "VLIQA_API_TOKEN"
#: A token shorter than this is refused: it could be guessed.
MIN_TOKEN_CHARS = 16
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one upload may be: bytes on the wire, bytes unpacked (zip, gzip), zip members and ratio, image size."""

    max_upload_mb: float = 256.0
    max_unpacked_mb: float = 2048.0
    #: a zip member, or the whole zip, unpacking to more than this many times its packed size is a bomb
    max_zip_ratio: float = 100.0
    max_zip_members: int = 4000
    max_image_side_px: int = 4096
    max_slices: int = 2000
    #: rows x columns x slices in millions: what the server holds in memory as float32 (4 bytes a voxel); 600 is a
    #: 2000-slice 512² series and 2.4 GB
    max_megavoxels: float = 600.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_unpacked_bytes(self) -> int:
        return int(self.max_unpacked_mb * MB)

    def to_dict(self) -> dict[str, float | int]:
        return {"max_upload_mb": self.max_upload_mb, "max_unpacked_mb": self.max_unpacked_mb,
                "max_zip_ratio": self.max_zip_ratio, "max_zip_members": self.max_zip_members,
                "max_image_side_px": self.max_image_side_px, "max_slices": self.max_slices,
                "max_megavoxels": self.max_megavoxels}


def default_data_dir(db_url: str) -> Path:
    """Gives where uploads are kept: beside a SQLite file (`<name>.files/`), else in the user's data folder."""
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        db = Path(db_url.removeprefix("sqlite:///")).expanduser()
        return db.with_name(db.name + ".files")
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "vliqa" / "serve"


@dataclass(frozen=True)
class ServeSettings:
    """Everything the service is started with; `vliqa serve` builds one from its options.

    `model`: the quality model (as `vliqa.Assessor`); `vlm`: the quality VLM for describe / compare / ask (a name
    or folder; None: none, and those endpoints answer 503). `workers`: assessments run at once; `queue_size`:
    how many more may wait before a request is answered 429. `token`: the bearer token; None reads
    VLIQA_API_TOKEN. `data_dir`: where uploads are kept (None: beside the SQLite file).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    db_url: str = "sqlite:///vliqa-serve.db"
    model: str = "default"
    vlm: str | None = "vlm"
    measures: bool = True
    workers: int = 1
    queue_size: int = 8
    token: str | None = None
    data_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)

    def resolved_token(self) -> str | None:
        """Gives the API token: the one given, else VLIQA_API_TOKEN, else None ("" counts as none)."""
        token = self.token if self.token is not None else os.environ.get(TOKEN_ENV)
        return token or None

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir is not None else default_data_dir(self.db_url)

    def check(self) -> None:
        """Refuses settings that are unsafe or impossible, before any model loads."""
        if self.workers < 1:
            raise InvalidParameterError(f"--workers must be at least 1, got {self.workers}")
        if self.queue_size < 0:
            raise InvalidParameterError(f"the queue size must be 0 or more, got {self.queue_size}")
        if not 0 < self.limits.max_upload_mb <= self.limits.max_unpacked_mb:
            raise InvalidParameterError(
                f"--max-upload-mb must be above 0 and at most the unpacked limit ({self.limits.max_unpacked_mb:g} MB),"
                f" got {self.limits.max_upload_mb:g}")
        token = self.resolved_token()
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise InsecureServeError(f"{TOKEN_ENV} is {len(token)} characters; a token needs at least "
                                     f"{MIN_TOKEN_CHARS}", hint='make one with: python -c "import secrets; '
                                     'print(secrets.token_urlsafe(32))"')
        if token is None and not is_loopback(self.host):
            raise InsecureServeError(
                f"refusing to listen on {self.host} without an API token: anyone who can reach this machine could "
                "upload images and read every result",
                hint=f"set {TOKEN_ENV} (a random string of {MIN_TOKEN_CHARS}+ characters; clients send it as "
                     "'Authorization: Bearer TOKEN'), or listen on 127.0.0.1")


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach (localhost, 127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
