"""The robots: the only code that talks HTTP to DingTalk (and the shared rate-limit store)."""
