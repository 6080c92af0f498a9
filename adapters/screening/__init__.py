"""Screening adapters: the phone-number port of message screening, with ``phonenumbers``."""

from adapters.screening.phones import MARKETPLACE_REGIONS, MarketplacePhoneFinder

__all__ = ["MARKETPLACE_REGIONS", "MarketplacePhoneFinder"]
