"""HTTP side: the webhook for Znuny, health and metrics, and the pages for people."""
