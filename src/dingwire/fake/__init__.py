"""A faithful local stand-in for DingTalk's robot endpoint (in progress)."""
