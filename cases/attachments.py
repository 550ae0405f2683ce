"""Validation and storage of ticket attachments (photos and documents)."""

import contextlib
import os
import re
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Attachment

ERR_ATTACHMENT_TYPE = _("不支持的文件类型“%(name)s”：只接受 JPG、PNG、GIF、WEBP 图片和 PDF 文件。")
ERR_ATTACHMENT_SIZE = _("文件“%(name)s”过大（%(size)s MB），单个文件不能超过 %(limit)s MB。")
ERR_ATTACHMENT_EMPTY = _("文件“%(name)s”是空文件。")
ERR_ATTACHMENT_CONTENT = _("文件“%(name)s”的内容与扩展名不符。")
ERR_ATTACHMENT_COUNT = _("一次最多上传 %(limit)s 个附件。")

MAX_FILES_PER_ACTION = 9

# extension → (content type, accepted leading bytes)
_SIGNATURES = {
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)),
    ".pdf": ("application/pdf", (b"%PDF-",)),
}


def attachment_validate(upload) -> str:
    """Check one upload's type (by extension *and* content) and size; return its
    content type or raise ``ValidationError`` with a message a person can act on."""
    name = os.path.basename(upload.name or "")
    ext = os.path.splitext(name)[1].lower()
    if ext not in _SIGNATURES:
        raise ValidationError(ERR_ATTACHMENT_TYPE, code="attachment_type", params={"name": name})
    size = upload.size or 0
    if size == 0:
        raise ValidationError(ERR_ATTACHMENT_EMPTY, code="attachment_empty", params={"name": name})
    limit = settings.ATTACHMENT_MAX_BYTES
    if size > limit:
        raise ValidationError(
            ERR_ATTACHMENT_SIZE,
            code="attachment_size",
            params={"name": name, "size": f"{size / 1048576:.1f}", "limit": f"{limit / 1048576:.0f}"},
        )
    content_type, magics = _SIGNATURES[ext]
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(magic) for magic in magics) or (ext == ".webp" and head[8:12] != b"WEBP"):
        raise ValidationError(ERR_ATTACHMENT_CONTENT, code="attachment_content", params={"name": name})
    return content_type


def attachments_validate(uploads) -> list[tuple[object, str]]:
    uploads = list(uploads or ())
    if len(uploads) > MAX_FILES_PER_ACTION:
        raise ValidationError(ERR_ATTACHMENT_COUNT, code="attachment_count", params={"limit": MAX_FILES_PER_ACTION})
    return [(upload, attachment_validate(upload)) for upload in uploads]


@contextmanager
def stored_files_guard():
    """Collect the attachments stored inside a block; if the block fails (and its
    transaction rolls back) delete their files too, so nothing is left half-written."""
    stored: list[Attachment] = []
    try:
        yield stored
    except BaseException:
        for attachment in stored:
            attachment.file.storage.delete(attachment.file.name)
        raise


def attachments_store(*, ticket, event, validated, actor, kind, stored: list, now=None) -> list[Attachment]:
    created = []
    for upload, content_type in validated:
        attachment = Attachment(
            ticket=ticket,
            event=event,
            kind=kind,
            original_name=os.path.basename(upload.name)[:255],
            size=upload.size,
            content_type=content_type,
            uploaded_by=actor,
            uploaded_at=now or event.created_at,
        )
        attachment.file.save(os.path.basename(upload.name), upload, save=False)
        stored.append(attachment)
        attachment.save()
        created.append(attachment)
    return created


# -- pending uploads: a form that failed to save keeps its photos ---------------------

PENDING_ROOT = "pending"
_PENDING_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def pending_token_new() -> str:
    return secrets.token_urlsafe(16)


def pending_token_ok(token) -> bool:
    return bool(token) and isinstance(token, str) and bool(_PENDING_TOKEN.match(token))


def _pending_dir(user, token: str) -> str | None:
    if not pending_token_ok(token):
        return None
    return f"{PENDING_ROOT}/{user.pk}/{token}"


def pending_store(*, user, token: str, uploads) -> None:
    """Keep validated uploads under the user's token until the form saves
    (or the prune task removes them). Raises ``ValidationError`` like
    :func:`attachments_validate`; nothing is kept then."""
    folder = _pending_dir(user, token)
    if folder is None or not uploads:
        return
    validated = attachments_validate([*pending_open(user=user, token=token), *uploads])
    start = len(pending_names(user=user, token=token))
    for offset, (upload, _type) in enumerate(validated[start:]):
        name = os.path.basename(upload.name)
        default_storage.save(f"{folder}/{start + offset:02d}/{name}", upload)


def pending_names(*, user, token: str) -> list[str]:
    """The original names of the uploads kept under the token, in upload order."""
    folder = _pending_dir(user, token)
    if folder is None or not default_storage.exists(folder):
        return []
    slots, _files = default_storage.listdir(folder)
    names = []
    for slot in sorted(slots):
        _dirs, files = default_storage.listdir(f"{folder}/{slot}")
        names.extend(f"{slot}/{name}" for name in files)
    return names


def pending_file(*, user, token: str, name: str):
    """One kept upload, opened, with its original name; None if there is none."""
    folder = _pending_dir(user, token)
    if folder is None or name not in pending_names(user=user, token=token):
        return None
    return File(default_storage.open(f"{folder}/{name}", "rb"), name=os.path.basename(name))


def pending_open(*, user, token: str) -> list:
    return [pending_file(user=user, token=token, name=name) for name in pending_names(user=user, token=token)]


def pending_discard(*, user, token: str) -> None:
    folder = _pending_dir(user, token)
    if folder is not None:
        _delete_tree(folder)


def pending_prune(*, max_age_hours: int, now=None) -> int:
    """Remove kept uploads older than ``max_age_hours``; returns how many folders went."""
    if not default_storage.exists(PENDING_ROOT):
        return 0
    cutoff = (now or timezone.now()) - timedelta(hours=max_age_hours)
    removed = 0
    users, _files = default_storage.listdir(PENDING_ROOT)
    for user_dir in users:
        tokens, _files = default_storage.listdir(f"{PENDING_ROOT}/{user_dir}")
        for token in tokens:
            folder = f"{PENDING_ROOT}/{user_dir}/{token}"
            if _newest_file(folder) < cutoff:
                _delete_tree(folder)
                removed += 1
    return removed


def _newest_file(folder: str):
    newest = None
    dirs, files = default_storage.listdir(folder)
    for name in files:
        modified = default_storage.get_modified_time(f"{folder}/{name}")
        newest = modified if newest is None or modified > newest else newest
    for name in dirs:
        modified = _newest_file(f"{folder}/{name}")
        newest = modified if newest is None or modified > newest else newest
    return newest or datetime.min.replace(tzinfo=UTC)


def _delete_tree(folder: str) -> None:
    if not default_storage.exists(folder):
        return
    dirs, files = default_storage.listdir(folder)
    for name in files:
        default_storage.delete(f"{folder}/{name}")
    for name in dirs:
        _delete_tree(f"{folder}/{name}")
    path = getattr(default_storage, "path", None)
    if path is not None:
        with contextlib.suppress(OSError):
            os.rmdir(path(folder))
