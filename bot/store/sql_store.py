"""The store the application passes around: one database, one message bus, and a repository per
aggregate over them. It has no operations of its own, so every caller names what it touches
(`store.messages.append(...)`, `store.handoffs.assign(...)`) and depends only on that
repository's Protocol.

Every write is one short transaction, and the ones that must be atomic across processes
(message numbering, queue assignment) are single conditional statements that the database
serialises, on SQLite and PostgreSQL alike.

    repository        module            what it keeps
    customers         customers.py      customers and their channel identities
    conversations     conversations.py  conversations and their dialogue state
    messages          messages.py       the numbered transcript
    turns             turns.py          a bot turn's two transactions; unfinished turns
    handoffs          handoffs.py       the queue and who holds which chat
    agents            agents.py         the team (logins: handoff/console/accounts.py)
    tickets           tickets.py        tickets and their history
    notes, ratings    notes.py, ...     agents' private notes; customers' ratings
    deliveries        deliveries.py     what pushed channels still have to send
    link_codes        link_codes.py     one-time codes joining a customer across channels
    media             media.py          files with their messages; bytes on disk by SHA-256
    knowledge_events  knowledge_events  who contributed, reviewed, published an article
    profiles          profiles.py       profiles agents edit, imports, segments
    shop_orders       shop_orders.py    the shop's orders, as imported
    read_marks        read_marks.py     how far each side has received and read
    web_context       web_context.py    where a web customer opened the widget (page, browser)
    conversation_search  conversation_search.py  full-text search of past conversations
    customer_events   customer_events.py  what the shop and the widget said about a customer
    proactive         proactive_ledger.py  proactive messages: scheduled, claimed, settled
    proactive_outcomes  proactive_outcomes.py  what became of the sent ones
    opt_outs          opt_outs.py       customers who want no proactive messages
"""

from __future__ import annotations

from pathlib import Path

from bot.events import LocalMessageBus, MessageBus
from bot.store.accounts import Accounts, SqlAccounts
from bot.store.agents import Agents, SqlAgents
from bot.store.conversation_search import ConversationSearch
from bot.store.conversations import Conversations, SqlConversations
from bot.store.customer_events import CustomerEvents
from bot.store.customers import Customers, SqlCustomers
from bot.store.deliveries import Deliveries
from bot.store.engine import Database, open_database
from bot.store.handoffs import Handoffs, SqlHandoffs
from bot.store.knowledge_events import KnowledgeEvents, SqlKnowledgeEvents
from bot.store.link_codes import LinkCodes
from bot.store.media import DirectoryBlobs, MediaStore, SqlMedia
from bot.store.messages import Messages, SqlMessages
from bot.store.notes import Notes, SqlNotes
from bot.store.opt_outs import OptOuts
from bot.store.proactive_ledger import ProactiveLedger
from bot.store.proactive_outcomes import ProactiveOutcomes
from bot.store.profiles import SqlProfiles
from bot.store.ratings import Ratings, SqlRatings
from bot.store.read_marks import SqlReadMarks
from bot.store.settings import StoreSettings
from bot.store.shop_orders import ShopOrders
from bot.store.tickets import SqlTickets, Tickets
from bot.store.turns import SqlTurns, Turns, UnfinishedTurns
from bot.store.web_context import WebContexts


class SqlStore:
    """The repositories over one database, sharing one bus (for new messages) and one set of
    settings (`settings.session_expiry`, `settings.mask_transcripts`, set from config.yml)."""

    def __init__(
        self, db: Database, bus: MessageBus | None = None, media_dir: str | Path = "var/media"
    ) -> None:
        self.db = db
        self.bus: MessageBus = bus or LocalMessageBus()
        self.settings = StoreSettings()
        self.customers: Customers = SqlCustomers(db)
        self.conversations: Conversations = SqlConversations(db)
        self.messages: Messages = SqlMessages(db, self.bus, self.settings)
        self.turns: Turns = SqlTurns(db, self.bus, self.settings)
        self.unfinished_turns = UnfinishedTurns(db)
        self.handoffs: Handoffs = SqlHandoffs(db)
        self.agents: Agents = SqlAgents(db)
        self.accounts: Accounts = SqlAccounts(db)  # console logins: hashes, sessions
        self.tickets: Tickets = SqlTickets(db, self.settings)
        self.notes: Notes = SqlNotes(db)
        self.ratings: Ratings = SqlRatings(db, self.settings)
        self.deliveries = Deliveries(db)
        self.link_codes = LinkCodes(db)
        self.profiles = SqlProfiles(db)  # segment rules set by the composition root
        self.shop_orders = ShopOrders(db)
        self.knowledge_events: KnowledgeEvents = SqlKnowledgeEvents(db)  # review steps
        self.read_marks = SqlReadMarks(db)  # delivered/read ticks (contract C2)
        self.web_context = WebContexts(db)  # the widget's hello context (contract C5)
        self.conversation_search = ConversationSearch(db, self.settings)  # indexed apart (C6)
        self.customer_events = CustomerEvents(db)  # POST /api/events, widget dwell (D2)
        self.proactive = ProactiveLedger(db)  # the proactive ledger (D3)
        self.proactive_outcomes = ProactiveOutcomes(db)  # what became of the sent ones (D3)
        self.opt_outs = OptOuts(db)  # no proactive messages for them (D3)
        # Limits and directory from config.yml's `media:` (set by the composition root).
        self.media: MediaStore = SqlMedia(db, DirectoryBlobs(media_dir))

    @classmethod
    async def open(
        cls, url: str, base_dir: str | Path = ".", bus: MessageBus | None = None
    ) -> SqlStore:
        """Connect and apply pending migrations."""
        db = open_database(url, base_dir)
        await db.migrate()
        return cls(db, bus, Path(base_dir) / "var" / "media")

    async def close(self) -> None:
        await self.db.close()
