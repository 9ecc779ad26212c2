"""What comes back: SMS replies and conversations, provider delivery events, engagement counters."""
