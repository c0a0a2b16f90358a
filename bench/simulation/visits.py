"""A customer's visit in the simulated month: the lines they say to the bot, the queue, the
agent's conversation, transfers, the resolution, the rating, and sometimes a return."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from bot.dialogue.engine import TurnResult
from handoff.service import HandoffError

from .base import Agent, SimulationBase, Step, Visit
from .settings import ORDER_ID, OVERTIME_H, PEAK_HOURS, RETURN_DAYS, THINK_S, TICKET


class Simulation(SimulationBase):
    """The month's customers, each visit one process on the base's schedule."""

    async def _say(self, v: Visit, text: str) -> TurnResult:
        result = await self.engine.handle(v.channel, v.sender, text)
        s = self.summary
        s.customer_turns += 1
        s.bot_replies += len(result.replies)
        if result.conversation_id not in s.conversations and result.intent != "rate":
            s.conversations.add(result.conversation_id)
            s.channels[v.channel] += 1
            s.languages[v.language] += 1
        v.conversation_id = result.conversation_id
        if result.handoff is not None:
            s.handoffs += 1
            s.reasons[result.handoff.reason] += 1
            v.reason = result.handoff.reason
            if result.handoff.ticket:
                s.tickets += 1
                v.ticket = result.handoff.ticket
        self._pushed(v.channel)
        return result

    def _think(self, v: Visit) -> float:
        return v.rng.triangular(THINK_S[0], THINK_S[1], 25.0)

    def _script(self, v: Visit) -> list[str]:
        """What the customer will say to the bot, unless the bot hands them over first."""
        rng, lang, lines = v.rng, v.language, self.lines
        out: list[str] = []
        greets = 0.45 if lang == "zh" else 0.25
        if not v.returning and rng.random() < greets:
            out.append(lines.pick(rng, "greet", lang))
        if v.returning:
            out += self._return_lines(v)
        elif v.scenario in ("question", "human"):
            v.topic = lines.question(rng, lang)
            out.append(v.topic.text)
            if rng.random() < 0.3:
                out.append(lines.question(rng, lang).text)
            if v.scenario == "human":
                if rng.random() < 0.4:
                    out.append(lines.pick(rng, "deny", lang))
                out.append(lines.pick(rng, "request_human", lang))
        elif v.scenario == "order":
            text = lines.pick(rng, "order_status", lang)
            found = ORDER_ID.search(text)
            if found and rng.random() < 0.6:  # most customers quote a real order of theirs
                v.order_id = rng.choice(self.orders)
                text = text.replace(found.group(0), v.order_id)
            out.append(text)
            if not found:
                good = rng.random() < 0.8
                v.order_id = (
                    rng.choice(self.orders) if good else f"2026{rng.randint(10**7, 10**8 - 1)}"
                )
                line = lines.phrase(rng, "customer", "order_number", lang)
                out.append(line.format(order=v.order_id))
        elif v.scenario == "complaint":
            out.append(lines.pick(rng, "complaint", lang))
        elif v.scenario == "lost":
            for _ in range(3):
                pool = rng.random()
                if pool < 0.45:
                    out.append(lines.phrase(rng, "customer", "gibberish", lang))
                elif pool < 0.8:
                    out.append(lines.pick(rng, "out_of_scope", lang))
                else:
                    out.append(lines.question(rng, lang, answerable=False).text)
        elif v.scenario == "unanswerable":
            v.topic = lines.question(rng, lang, answerable=False)
            out.append(v.topic.text)
            if rng.random() < 0.5:
                out.append(lines.question(rng, lang, answerable=False).text)
            if rng.random() < 0.35:
                out.append(lines.pick(rng, "request_human", lang))
        elif v.scenario == "angry":
            for _ in range(3):
                if rng.random() < 0.75:
                    out.append(lines.phrase(rng, "customer", "angry", lang))
                else:
                    out.append(lines.pick(rng, "feedback_negative", lang))
        else:  # small talk
            out.append(lines.pick(rng, "bot_challenge", lang))
            if rng.random() < 0.5:
                out.append(lines.question(rng, lang).text)
        return out

    def _return_lines(self, v: Visit) -> list[str]:
        rng, lang = v.rng, v.language
        opener = self.lines.phrase(rng, "customer", "return_opener", lang)
        out: list[str] = []
        if v.ticket and rng.random() < 0.6:
            text = self.lines.pick(rng, "ticket_status", lang)
            found = TICKET.search(text)
            if found:
                out.append(text.replace(found.group(0), v.ticket))
            else:
                out.append(f"{text} {v.ticket}")
        elif v.order_id:
            out.append(opener + self.lines.pick(rng, "order_status", lang) + f" {v.order_id}")
        elif v.topic is not None:
            same = self.lines.by_article.get(v.topic.article or "") or [v.topic]
            out.append(opener + rng.choice(same).text)
        else:
            out.append(opener + self.lines.question(rng, lang).text)
        if rng.random() < 0.4:
            out.append(self.lines.phrase(rng, "customer", "return_escalate", lang))
        return out

    async def visit(self, v: Visit) -> Step:
        """One customer visit: the bot first; an agent if the conversation is handed over."""
        self.summary.visits += 1
        self.summary.returns += v.returning
        rng = v.rng
        handed = None
        for i, text in enumerate(self._script(v)):
            if i:
                yield self._think(v)
            result = await self._say(v, text)
            if result.status in ("queued", "assigned") or result.handoff is not None:
                handed = result
                break
            if i == 0 and v.scenario == "question" and rng.random() < 0.15:
                break  # read the answer and left
        if handed is None:
            said_bye = rng.random() < 0.55
            if said_bye:
                yield self._think(v)
                for intent in ("thank", "goodbye") if rng.random() < 0.4 else ("thank",):
                    await self._say(v, self.lines.pick(rng, intent, v.language))
            else:
                self.summary.left_unresolved += 1
            self._maybe_return(v, 0.14 if said_bye else 0.2)
            return
        assert handed.handoff is not None
        async for delay in self._handed_over(v, handed):
            yield delay

    async def _handed_over(self, v: Visit, result: TurnResult) -> Step:
        """The queue, an agent, the resolution and the rating."""
        assert result.handoff is not None and v.conversation_id is not None
        rng, lang, conv = v.rng, v.language, v.conversation_id
        group = result.handoff.skill_group
        away = result.handoff.ticket is not None  # no agent now: a ticket, and they leave
        if away and rng.random() < 0.5:
            yield self._think(v)
            await self._say(v, self.lines.pick(rng, "affirm", lang))
        v.claimed_by = result.handoff.assigned_to  # auto-assigned
        queued_at = self.clock.now()
        while True:
            if v.claimed_by is None:
                self.waiting[group] += 1
                try:
                    async for delay in self._claim(v, group, away):
                        yield delay
                finally:
                    self.waiting[group] -= 1
                if v.claimed_by is None:
                    return  # nobody could take it: it stays in the queue
                self.summary.claimed += 1
            agent = next(a for a in self.agents if a.username == v.claimed_by)
            v.waited_s = max(v.waited_s, (self.clock.now() - queued_at).total_seconds())
            yield rng.uniform(3, 25)
            answers = self.lines.phrases["solutions"]
            solutions = answers.get(group, answers["other"])[lang]
            if away:  # the customer is gone: answer for when they look again
                await self._agent_says(v, agent, "follow_up", solution=rng.choice(solutions))
                break
            await self._agent_says(v, agent, "hello", name=agent.display_name)
            yield self._think(v)
            if v.topic is not None and rng.random() < 0.3:
                await self._say(v, v.topic.text)
            else:
                order = v.order_id or rng.choice(self.orders)
                detail = self.lines.phrase(rng, "customer", "detail", lang)
                await self._say(v, detail.format(order=order))
            for _ in range(rng.randint(1, 3)):
                yield rng.uniform(15, 120)
                if rng.random() < 0.35:
                    await self._agent_says(v, agent, "working")
                else:
                    await self._agent_text(v, agent, rng.choice(solutions))
                if rng.random() < 0.5:
                    yield self._think(v)
                    await self._say(v, self.lines.pick(rng, "affirm", lang))
            outcome = rng.random()
            if outcome < 0.07 and not v.transferred and len(self.groups) > 1:
                yield rng.uniform(10, 40)
                group = rng.choice([g for g in self.groups if g != group])
                await self.service.transfer(conv, group)
                s = self.summary
                s.transferred += 1
                s.handoffs += 1
                s.reasons["transfer"] += 1
                v.transferred, v.claimed_by, queued_at = True, None, self.clock.now()
                continue
            if outcome < 0.16:
                yield rng.uniform(10, 60)
                await self.service.return_to_bot(conv)
                self.summary.back_to_bot += 1
                if rng.random() < 0.6:
                    yield self._think(v)
                    await self._say(v, self.lines.pick(rng, "thank", lang))
                self._maybe_return(v, 0.15)
                return
            yield rng.uniform(20, 90)
            await self._agent_says(v, agent, "close")
            if rng.random() < 0.6:
                yield self._think(v)
                await self._say(v, self.lines.pick(rng, "thank", lang))
            break
        yield rng.uniform(5, 40)
        await self.service.resolve(conv)
        self.summary.resolved += 1
        if v.ticket:
            await self.store.tickets.set_status(
                v.ticket, "resolved", note="answered in the chat", actor=v.claimed_by
            )
        if rng.random() < (0.3 if away else 0.72):
            yield rng.uniform(3600, 6 * 3600) if away else rng.uniform(5, 120)
            await self._rate(v)
        self._maybe_return(v, 0.08)

    async def _claim(self, v: Visit, group: str, away: bool) -> Step:
        """Wait to be noticed, then the first eligible agent with room claims the chat."""
        rng, conv = v.rng, v.conversation_id
        assert conv is not None
        hour = self.clock.now().astimezone(self.tz).hour
        wait = rng.lognormvariate(math.log(13), 0.75)
        if hour in PEAK_HOURS:
            wait *= rng.uniform(1.3, 2.2)
        wait += 10 * max(self.waiting[group] - 1, 0)
        nudged = away or rng.random() > 0.6
        for _ in range(400):
            now = self.clock.now()
            if group in self.router.settings.skill_groups and not self.router.is_open(group, now):
                opens = self.router.next_open(group, now)
                nudged = True  # they will not ask again the next morning
                yield (opens - now).total_seconds() + rng.uniform(60, 45 * 60)
                continue
            if wait > 0:
                if not nudged and wait > 50:
                    nudged = True
                    yield 40.0
                    wait -= 40
                    await self._say(v, self.lines.phrase(rng, "customer", "nudge", v.language))
                    continue
                yield wait
                wait = 0
            agents = {a.username: a for a in await self.store.agents.all()}
            loads = await self.store.handoffs.agent_loads()
            lang = v.language
            ready = [
                a
                for a in agents.values()
                if self._on_duty(a.username, a.status)
                and group in a.skills
                and lang in a.languages
                and loads.get(a.id, 0) < a.max_concurrent
            ]
            rng.shuffle(ready)
            ready.sort(key=lambda a: (a.role == "supervisor", loads.get(a.id, 0)))
            for a in ready:
                try:
                    await self.service.claim(conv, a.username)
                except HandoffError:
                    continue
                v.claimed_by = a.username
                return
            yield rng.uniform(20, 60)

    def _on_duty(self, username: str, status: str) -> bool:
        """Online, or just off shift: agents clear the queue before they leave."""
        if status == "online":
            return True
        agent = next((a for a in self.agents if a.username == username), None)
        if agent is None:
            return False
        local = self.clock.now().astimezone(self.tz)
        hour = local.hour + local.minute / 60
        return agent.shift[1] <= hour < agent.shift[1] + OVERTIME_H

    async def _agent_says(self, v: Visit, agent: Agent, kind: str, **values: str) -> None:
        text = self.lines.phrase(v.rng, "agent", kind, v.language).format(**values)
        await self._agent_text(v, agent, text)

    async def _agent_text(self, v: Visit, agent: Agent, text: str) -> None:
        assert v.conversation_id is not None
        await self.service.send(v.conversation_id, agent.username, text)
        self.summary.agent_messages += 1
        self._pushed(v.channel)

    async def _rate(self, v: Visit) -> None:
        rng, lang = v.rng, v.language
        score = 5.0
        if v.waited_s > 30:
            score -= rng.choice([0, 1])
        if v.waited_s > 180:
            score -= 1
        if v.reason in ("failed_turns", "negative_sentiment"):
            score -= rng.choice([0, 1, 1])
        if v.reason == "complaint":
            score -= rng.choice([0, 1, 2])
        if v.transferred:
            score -= rng.choice([0, 1])
        score += rng.choice([-1, 0, 0, 0, 0, 1])
        s = int(min(5, max(1, score)))
        comment = ""
        if rng.random() < 0.55:
            mood = "good" if s >= 4 else "fair" if s == 3 else "bad"
            comment_lang = lang if rng.random() < 0.9 else ("en" if lang == "zh" else "zh")
            comment = self.lines.phrase(rng, "comments", mood, comment_lang)
        style = rng.random()
        if not comment:
            text = f"/rate {s}"
        elif style < 0.4:
            text = f"/rate {s} {comment}"
        elif style < 0.7:
            text = f"{s}星 {comment}" if lang == "zh" else f"{s} stars, {comment}"
        else:
            text = f"{s} {comment}"
        result = await self._say(v, text)
        if result.intent == "rate":
            self.summary.ratings += 1
            self.summary.rating_total += s
            self.summary.rated_with_comment += bool(comment)

    def _maybe_return(self, v: Visit, chance: float) -> None:
        """Some customers come back within the week about the same thing."""
        if v.rng.random() >= chance:
            return
        after = min(v.rng.expovariate(1 / (1.5 * 86400)), RETURN_DAYS * 86400) + 2 * 3600
        at = self.clock.now() + timedelta(seconds=after)
        if at >= self.end:
            return
        again = Visit(
            v.number,
            v.channel,
            v.sender,
            v.language,
            v.scenario,
            random.Random(v.rng.getrandbits(64)),
            topic=v.topic,
            order_id=v.order_id,
            ticket=v.ticket,
            returning=True,
        )
        self.spawn(at, self.visit(again))
