"""`python -m bot.cli`, the same as `relaydesk` (and `python -m bot`)."""

from bot.cli.parser import main

raise SystemExit(main())
