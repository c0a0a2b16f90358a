"""The dialogue: what the bot says and does on each customer turn, and when it hands over."""
