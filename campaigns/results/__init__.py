"""Campaign results computed in the database: headline with margin, insights, segments, change, lists, themes."""

from campaigns.results.compute import Results, campaign_results

__all__ = ["Results", "campaign_results"]
