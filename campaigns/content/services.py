"""Writes of the content library: items and versions, attachments, the maker-checker transitions, the word list.

Rules kept here (the views only translate forms into these calls):

- text ≤ 4,000 bytes and ≤ 9 attachments of WeCom's kinds; variables allowed by the item's use;
- the sensitive-word check runs on every save (the hits are stored and highlighted) and again on submit and on
  approval: content with hits cannot be submitted or approved;
- draft → submitted → approved | rejected (a reason is required); the reviewer is a compliance reviewer who
  never edited the version; approving makes it the item's version in use and retires the previous one;
- editing approved content opens a new version; the approved one stays in use until the new one is approved;
- every transition is in the audit log.
"""

import hashlib
import mimetypes
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.content import sensitive, variables
from campaigns.content.models import (
    ATTACHMENTS_MAX,
    PER_CUSTOMER_USES,
    TEXT_MAX_BYTES,
    ContentAsset,
    ContentCategory,
    ContentItem,
    ContentVersion,
    Scenario,
    SensitiveWord,
)
from campaigns.content.selectors import may_edit, open_version, sensitive_word_list
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.scope import may_author_content, may_review_content, viewer_for

Status = ContentVersion.Status

ATTACHMENT_TYPES = ("image", "link", "miniprogram", "file", "video")
LINK_TITLE_MAX_BYTES = 128
LINK_DESC_MAX_BYTES = 512
URL_MAX_BYTES = 2048
MINIPROGRAM_TITLE_MAX_BYTES = 64
# WeCom's media/upload limits per kind (bytes); covers for links go through media/uploadimg (JPG/PNG ≤ 2 MB).
UPLOAD_MAX_BYTES = {"image": 10 * 1024 * 1024, "video": 10 * 1024 * 1024, "file": 20 * 1024 * 1024}
COVER_MAX_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png")


class ContentError(ValueError):
    """The request cannot be carried out; the message is for the user as it is."""


class SensitiveWordsFound(ContentError):
    def __init__(self, words: list[str]):
        self.words = words
        super().__init__(_("Remove the sensitive words first: %(words)s.") % {"words": "、".join(words)})


# --- checks ---------------------------------------------------------------------------------------------------


def customer_facing_texts(text: str, attachments: list[dict]) -> list[str]:
    """Everything a customer reads: the text, and the titles and descriptions of links and mini-programs."""
    texts = [text or ""]
    for attachment in attachments:
        texts += [attachment.get("title") or "", attachment.get("desc") or ""]
    return [value for value in texts if value]


def sensitive_hits(text: str, attachments: list[dict], words: list[str] | None = None) -> list[str]:
    """The listed words the content contains (distinct, in order)."""
    words = sensitive_word_list() if words is None else words
    found: list[str] = []
    for value in customer_facing_texts(text, attachments):
        for word in sensitive.words_of(sensitive.find(value, words)):
            if word not in found:
                found.append(word)
    return found


def validation_errors(*, text: str, attachments: list[dict], use: str) -> list[str]:
    errors = []
    if len((text or "").encode()) > TEXT_MAX_BYTES:
        errors.append(
            _("The text is %(n)s bytes; WeCom takes at most %(max)s (a Chinese character is 3 bytes).")
            % {"n": len(text.encode()), "max": TEXT_MAX_BYTES}
        )
    if len(attachments) > ATTACHMENTS_MAX:
        errors.append(_("At most %(max)s attachments.") % {"max": ATTACHMENTS_MAX})
    per_customer = use in PER_CUSTOMER_USES
    for value in customer_facing_texts(text, attachments):
        errors += variables.problems(value, per_customer_allowed=per_customer)
    return errors


def _check(*, text: str, attachments: list[dict], use: str) -> None:
    errors = validation_errors(text=text, attachments=attachments, use=use)
    if errors:
        raise ContentError(" ".join(errors))


def _author_branch(actor):
    viewer = viewer_for(actor)
    if not may_author_content(actor) or viewer.operator is None:
        raise ContentError(_("You may not write content."))
    return viewer.operator.branch


def _require_edit(actor, item: ContentItem) -> None:
    if not may_edit(actor, item):
        raise ContentError(_("You may not edit this content."))


# --- items and versions ---------------------------------------------------------------------------------------


@transaction.atomic
def content_create(
    *,
    actor,
    title: str,
    use: str,
    text: str,
    category: ContentCategory | None = None,
    valid_until=None,
    scenario: str = Scenario.GENERAL,
) -> ContentItem:
    """A new item with its first version, a draft by `actor`, owned by the actor's branch."""
    branch = _author_branch(actor)
    _check(text=text, attachments=[], use=use)
    if scenario not in Scenario.values:
        raise ContentError(_("Choose a scenario."))
    item = ContentItem.objects.create(
        title=title, use=use, scenario=scenario, category=category, branch=branch, created_by=actor
    )
    ContentVersion.objects.create(
        item=item,
        number=1,
        text=text,
        valid_until=valid_until,
        author=actor,
        editor_ids=[actor.pk],
        sensitive_hits=sensitive_hits(text, []),
    )
    return item


def _writable_version(item: ContentItem, actor) -> ContentVersion:
    """The version an edit applies to: the open draft, or a new draft copied from the latest version.

    The caller holds the item's row lock, so two editors cannot open two drafts.
    """
    version = open_version(item)
    if version is not None:
        if version.status == Status.SUBMITTED:
            raise ContentError(_("This version is awaiting review: it can be changed after the reviewer decides."))
        if actor.pk not in version.editor_ids:
            version.editor_ids = [*version.editor_ids, actor.pk]
        return version
    source = item.current or item.versions.order_by("-number").first()
    number = (item.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    return ContentVersion(
        item=item,
        number=number,
        text=source.text if source else "",
        attachments=list(source.attachments) if source else [],
        valid_until=source.valid_until if source else None,
        author=actor,
        editor_ids=[actor.pk],
    )


def _lock(item: ContentItem) -> ContentItem:
    return ContentItem.objects.select_for_update(of=("self",)).select_related("branch", "current").get(pk=item.pk)


def _save_version(version: ContentVersion) -> ContentVersion:
    version.sensitive_hits = sensitive_hits(version.text, version.attachments)
    version.save()
    ContentItem.objects.filter(pk=version.item_id).update(updated_at=timezone.now())
    return version


@transaction.atomic
def content_edit(
    *,
    item: ContentItem,
    actor,
    title: str,
    text: str,
    category: ContentCategory | None = None,
    valid_until=None,
    scenario: str | None = None,
) -> ContentVersion:
    """Save the item's text: into its open draft, or a new version when the latest is approved or rejected.

    Title, category and scenario are the library's filing, not what a customer reads: they change at once.
    """
    _require_edit(actor, item)
    if scenario is not None and scenario not in Scenario.values:
        raise ContentError(_("Choose a scenario."))
    item = _lock(item)
    version = _writable_version(item, actor)
    _check(text=text, attachments=version.attachments, use=item.use)
    version.text = text
    version.valid_until = valid_until
    item.title, item.category = title, category
    if scenario is not None:
        item.scenario = scenario
    item.save(update_fields=["title", "category", "scenario", "updated_at"])
    return _save_version(version)


@transaction.atomic
def content_add_attachment(*, item: ContentItem, actor, attachment: dict) -> ContentVersion:
    """Append one attachment (already validated by `attachment_*`) to the item's writable version."""
    _require_edit(actor, item)
    item = _lock(item)
    version = _writable_version(item, actor)
    if len(version.attachments) >= ATTACHMENTS_MAX:
        raise ContentError(_("At most %(max)s attachments.") % {"max": ATTACHMENTS_MAX})
    attachments = [*version.attachments, attachment]
    _check(text=version.text, attachments=attachments, use=item.use)
    version.attachments = attachments
    return _save_version(version)


@transaction.atomic
def content_remove_attachment(*, item: ContentItem, actor, index: int) -> ContentVersion:
    _require_edit(actor, item)
    item = _lock(item)
    version = _writable_version(item, actor)
    if not 0 <= index < len(version.attachments):
        raise ContentError(_("No such attachment."))
    version.attachments = [a for position, a in enumerate(version.attachments) if position != index]
    return _save_version(version)


# --- attachments ---------------------------------------------------------------------------------------------


def asset_store(*, item: ContentItem, actor, kind: str, upload) -> ContentAsset:
    """Keep an uploaded file for the item (kind image, file or video), within WeCom's size limits."""
    data = upload.read()
    limit = UPLOAD_MAX_BYTES[kind]
    if not 5 < len(data) <= limit:
        raise ContentError(_("A file of this kind must be at most %(mb)s MB.") % {"mb": limit // (1024 * 1024)})
    content_type = getattr(upload, "content_type", "") or mimetypes.guess_type(upload.name)[0] or ""
    if kind == ContentAsset.Kind.IMAGE and content_type not in IMAGE_TYPES:
        raise ContentError(_("Images must be JPG or PNG."))
    if kind == ContentAsset.Kind.VIDEO and content_type != "video/mp4":
        raise ContentError(_("Videos must be MP4."))
    return ContentAsset.objects.create(
        item=item,
        kind=kind,
        filename=(upload.name or kind)[-255:],
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        created_by=actor,
    )


def _bytes(value: str) -> int:
    return len((value or "").encode())


def _web_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or _bytes(url) > URL_MAX_BYTES:
        raise ContentError(_("Give a full http:// or https:// address (at most 2048 bytes)."))
    return url


def attachment_link(*, title: str, url: str, desc: str = "", cover: ContentAsset | None = None) -> dict:
    title, desc = (title or "").strip(), (desc or "").strip()
    if not title or _bytes(title) > LINK_TITLE_MAX_BYTES:
        raise ContentError(_("A link needs a title of at most 128 bytes (about 42 Chinese characters)."))
    if _bytes(desc) > LINK_DESC_MAX_BYTES:
        raise ContentError(_("A link's description is at most 512 bytes (about 170 Chinese characters)."))
    attachment = {"type": "link", "title": title, "url": _web_url(url), "desc": desc}
    if cover is not None:
        if cover.size > COVER_MAX_BYTES:
            raise ContentError(_("A link's cover image is at most 2 MB."))
        attachment["asset"] = cover.pk
    return attachment


def attachment_miniprogram(*, title: str, appid: str, page: str, cover: ContentAsset) -> dict:
    title, appid, page = (title or "").strip(), (appid or "").strip(), (page or "").strip()
    if not title or _bytes(title) > MINIPROGRAM_TITLE_MAX_BYTES:
        raise ContentError(_("A mini-program needs a title of at most 64 bytes (about 21 Chinese characters)."))
    if not appid.startswith("wx"):
        raise ContentError(_("A mini-program's AppID starts with wx."))
    if not page.split("?")[0].endswith(".html"):
        raise ContentError(_("WeCom needs the mini-program page path to end in .html (pages/index/index.html)."))
    return {"type": "miniprogram", "title": title, "appid": appid, "page": page, "asset": cover.pk}


def attachment_media(asset: ContentAsset) -> dict:
    """An image, file or video attachment."""
    return {"type": asset.kind, "asset": asset.pk}


# --- maker-checker ---------------------------------------------------------------------------------------------


def _locked_version(version: ContentVersion) -> ContentVersion:
    return ContentVersion.objects.select_for_update().select_related("item").get(pk=version.pk)


@transaction.atomic
def content_submit(*, version: ContentVersion, actor) -> ContentVersion:
    version = _locked_version(version)
    _require_edit(actor, version.item)
    if version.status != Status.DRAFT:
        raise ContentError(_("Only a draft can be submitted."))
    if not version.text.strip() and not version.attachments:
        raise ContentError(_("Write a text or add an attachment first."))
    _check(text=version.text, attachments=version.attachments, use=version.item.use)
    if version.is_expired():
        raise ContentError(_("The expiry date has passed: set a later one."))
    hits = sensitive_hits(version.text, version.attachments)
    if hits:
        ContentVersion.objects.filter(pk=version.pk).update(sensitive_hits=hits)
        raise SensitiveWordsFound(hits)
    if actor.pk not in version.editor_ids:
        version.editor_ids = [*version.editor_ids, actor.pk]
    version.status = Status.SUBMITTED
    version.submitted_at = timezone.now()
    version.sensitive_hits = []
    version.save(update_fields=["status", "submitted_at", "sensitive_hits", "editor_ids", "updated_at"])
    audit_record(actor=actor, action=AuditAction.CONTENT_SUBMITTED, obj=version, detail={"item": version.item_id})
    return version


def _require_reviewer(reviewer, version: ContentVersion) -> None:
    if not may_review_content(reviewer):
        raise ContentError(_("Only compliance reviewers review content."))
    if reviewer.pk == version.author_id or reviewer.pk in version.editor_ids:
        raise ContentError(_("You wrote or edited this version: another reviewer must decide on it."))
    if version.status != Status.SUBMITTED:
        raise ContentError(_("This version is not awaiting review."))


@transaction.atomic
def content_approve(*, version: ContentVersion, reviewer, note: str = "") -> ContentVersion:
    """The version becomes the item's version in use; the one it replaces is retired."""
    version = _locked_version(version)
    _require_reviewer(reviewer, version)
    hits = sensitive_hits(version.text, version.attachments)  # the list may have grown since the submission
    if hits:
        raise SensitiveWordsFound(hits)
    item = _lock(version.item)
    previous = item.current
    now = timezone.now()
    version.status = Status.APPROVED
    version.reviewed_by, version.reviewed_at, version.review_note = reviewer, now, (note or "").strip()
    version.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "updated_at"])
    if previous is not None and previous.pk != version.pk:
        ContentVersion.objects.filter(pk=previous.pk).update(status=Status.SUPERSEDED, updated_at=now)
    item.current = version
    item.save(update_fields=["current", "updated_at"])
    audit_record(
        actor=reviewer,
        action=AuditAction.CONTENT_APPROVED,
        obj=version,
        detail={"item": item.pk, "replaces": previous.number if previous else None},
    )
    return version


@transaction.atomic
def content_reject(*, version: ContentVersion, reviewer, reason: str) -> ContentVersion:
    reason = (reason or "").strip()
    if not reason:
        raise ContentError(_("Say why the content is rejected: the author needs the reason."))
    version = _locked_version(version)
    _require_reviewer(reviewer, version)
    version.status = Status.REJECTED
    version.reviewed_by, version.reviewed_at, version.review_note = reviewer, timezone.now(), reason
    version.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "updated_at"])
    audit_record(
        actor=reviewer,
        action=AuditAction.CONTENT_REJECTED,
        obj=version,
        detail={"item": version.item_id, "reason": reason},
    )
    return version


# --- the sensitive-word list ----------------------------------------------------------------------------------


def sensitive_word_add(*, actor, word: str, note: str = "") -> SensitiveWord:
    if not may_review_content(actor):
        raise ContentError(_("Only compliance reviewers keep the sensitive-word list."))
    word = (word or "").strip()
    if not word or not sensitive.normalised_word(word):
        raise ContentError(_("Give a word."))
    if SensitiveWord.objects.filter(word=word).exists():
        raise ContentError(_("%(word)s is already listed.") % {"word": word})
    listed = SensitiveWord.objects.create(word=word[:50], note=(note or "").strip()[:200], created_by=actor)
    audit_record(actor=actor, action=AuditAction.SENSITIVE_WORDS_CHANGED, obj=listed, detail={"added": listed.word})
    return listed


def sensitive_word_remove(*, actor, word: SensitiveWord) -> None:
    if not may_review_content(actor):
        raise ContentError(_("Only compliance reviewers keep the sensitive-word list."))
    audit_record(actor=actor, action=AuditAction.SENSITIVE_WORDS_CHANGED, obj=word, detail={"removed": word.word})
    word.delete()
