"""The demo's recorded attempt: media rendered from a public-domain photo (``media``) and recorded,
analysed and flagged through the real services (``attempt``). Development only."""
