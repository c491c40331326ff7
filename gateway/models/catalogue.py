"""The global marketplace catalogue: listings, the scopes they request, learning resources."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gateway.models.enums import InstallLevel, SubscriptionTier


class MarketplaceListing(Model):
    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=100, unique=True)
    name = fields.CharField(max_length=200)
    sort_name = fields.CharField(max_length=200, db_index=True)
    vendor = fields.CharField(max_length=200)
    category = fields.CharField(max_length=100)
    description = fields.TextField()
    install_level = fields.CharEnumField(InstallLevel, max_length=16)
    # MULTI_ACCOUNT apps show a "manage connections" link instead of a status.
    manage_connections_url = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "marketplace_listing"


class ListingScope(Model):
    id = fields.IntField(primary_key=True)
    listing: fields.ForeignKeyRelation[MarketplaceListing] = fields.ForeignKeyField(
        "models.MarketplaceListing", related_name="scopes", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    description = fields.CharField(max_length=500)
    required_tier = fields.CharEnumField(SubscriptionTier, max_length=16)
    required = fields.BooleanField(default=False)
    # The listing's own order of its scopes, kept when the platform replaces the list.
    position = fields.IntField(default=0)

    listing_id: int

    class Meta:
        table = "listing_scope"
        unique_together = (("listing", "name"),)


class LearningResource(Model):
    id = fields.IntField(primary_key=True)
    listing: fields.ForeignKeyNullableRelation[MarketplaceListing] = fields.ForeignKeyField(
        "models.MarketplaceListing",
        related_name="learning_resources",
        null=True,
        on_delete=fields.CASCADE,
    )
    title = fields.CharField(max_length=300)
    url = fields.CharField(max_length=500)
    duration_seconds = fields.IntField(null=True)
    topic = fields.CharField(max_length=100)
    position = fields.IntField(default=0)

    listing_id: int | None

    class Meta:
        table = "learning_resource"
