"""bedrock-key-revoker: the domain. Nothing in this package imports Slack's Bolt."""

__version__ = "0.1.0"
