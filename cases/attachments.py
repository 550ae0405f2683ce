"""Validation and storage of ticket attachments (photos and documents)."""

import os
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError
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
