"""Content assets as WeCom knows them: temporary media_ids (media/upload, 3 days) and permanent image URLs
(media/uploadimg).

A media_id is never sent stale: before each use it is checked against our own clock (injectable: `now`) and
uploaded again when it is older than MEDIA_REFRESH_AFTER, well inside WeCom's three days, so that it cannot
expire between our check and WeCom's use of it (a mass-send task is confirmed by the member later).
"""

import logging
from datetime import timedelta

from django.utils import timezone

from campaigns.content.models import ContentAsset
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError

logger = logging.getLogger(__name__)

MEDIA_LIFETIME = timedelta(days=3)  # WeCom's
MEDIA_REFRESH_AFTER = MEDIA_LIFETIME - timedelta(hours=12)


def media_is_fresh(asset: ContentAsset, *, now=None) -> bool:
    now = now or timezone.now()
    return bool(asset.media_id and asset.media_uploaded_at and now - asset.media_uploaded_at < MEDIA_REFRESH_AFTER)


def asset_media_id(asset: ContentAsset, *, now=None, client=None) -> str:
    """The asset's media_id, uploaded (again) first when it has none or it is getting old. Raises WeComError."""
    now = now or timezone.now()
    if media_is_fresh(asset, now=now):
        return asset.media_id
    data = bytes(ContentAsset.objects.values_list("data", flat=True).get(pk=asset.pk))
    uploaded = (client or get_client()).upload_media(asset.kind, asset.filename, data, asset.content_type)
    # Our clock, not WeCom's created_at: freshness is judged against our clock, and the two need not agree.
    ContentAsset.objects.filter(pk=asset.pk).update(media_id=uploaded["media_id"], media_uploaded_at=now)
    logger.info("content asset %s uploaded to WeCom (previous media_id %s)", asset.pk, asset.media_id or "none")
    asset.media_id, asset.media_uploaded_at = uploaded["media_id"], now
    return asset.media_id


def asset_image_url(asset: ContentAsset, *, client=None) -> str:
    """A permanent WeCom image URL (link and mini-program covers), uploaded once. Raises WeComError."""
    if asset.image_url:
        return asset.image_url
    data = bytes(ContentAsset.objects.values_list("data", flat=True).get(pk=asset.pk))
    url = (client or get_client()).upload_image(asset.filename, data, asset.content_type)
    ContentAsset.objects.filter(pk=asset.pk).update(image_url=url)
    asset.image_url = url
    return url


def refresh_stale(assets, *, now=None) -> int:
    """Upload again every asset whose media_id is getting old (ahead of time-critical uses such as welcome
    messages, which must leave within 20 seconds). Returns how many were uploaded; errors are logged."""
    refreshed = 0
    for asset in assets:
        if media_is_fresh(asset, now=now):
            continue
        try:
            asset_media_id(asset, now=now)
        except WeComError as exc:
            logger.warning("content asset %s not refreshed: %s", asset.pk, exc)
            continue
        refreshed += 1
    return refreshed
