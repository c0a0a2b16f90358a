// The dashboard's ticket SLA panel (loaded by dashboard.html beside dashboard.js): tickets
// opened in the dashboard's period or still open, breaches of the first-response and
// resolution clocks per skill group, the tickets overdue now, and the follow-up answers.
(() => {
  'use strict';

  const STRINGS = {
    en: {
      heading: 'Tickets and SLA', tickets: 'Tickets', open: 'Open', fr: 'First-response breaches',
      res: 'Resolution breaches', tier2: 'Open at tier 2', group: 'Skill group', overdue: 'Overdue now',
      none_overdue: 'No open ticket is past its deadline.', by: 'overdue by {t}',
      fu: 'Follow-ups: {sent} sent, {answered} answered, solved {solved}, fast enough {fast}.',
      fu_none: 'Follow-ups: none sent in this period.', suggestions: 'Latest suggestions',
      d_h: '{d} d {h} h', h_m: '{h} h {m} min', open_ticket: 'Open ticket {n}',
    },
    zh: {
      heading: '工单与 SLA', tickets: '工单数', open: '未结', fr: '首次响应超时', res: '解决超时',
      tier2: '二线未结', group: '技能组', overdue: '当前超时', none_overdue: '没有超过时限的未结工单。',
      by: '已超时 {t}', fu: '回访：已发送 {sent}，已回复 {answered}，已解决 {solved}，够快 {fast}。',
      fu_none: '回访：本期间未发送。', suggestions: '最新建议',
      d_h: '{d} 天 {h} 小时', h_m: '{h} 小时 {m} 分', open_ticket: '打开工单 {n}',
    },
  };
  const $ = (id) => document.getElementById(id);
  const lang = () => (($('lang-select') && $('lang-select').value) === 'zh' ? 'zh' : 'en');
  const t = (k, v) => (STRINGS[lang()][k] || k).replace(/\{(\w+)\}/g, (m, x) => (v && x in v ? String(v[x]) : m));
  const pct = (x) => (x === null || x === undefined ? '—' : `${Math.round(x * 100)}%`);
  // A duration in the page's language ("2 h 5 min", "2 小时 5 分").
  function span(s) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h >= 24 ? t('d_h', { d: Math.floor(h / 24), h: h % 24 }) : t('h_m', { h, m });
  }
  // A ticket's number as a link to its page in the tickets console.
  const ticketLink = (n) => el('a', { href: `/console/tickets?ticket=${encodeURIComponent(n)}`, 'aria-label': t('open_ticket', { n }), testid: 'ticket-link', text: n });
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') n.textContent = String(v); else if (k === 'testid') n.dataset.testid = v; else n.setAttribute(k, String(v));
    }
    for (const c of kids.flat()) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : String(c));
    return n;
  }

  function render(data) {
    const box = $('tickets-sla');
    if (!box) return;
    const tot = data.totals;
    const card = (label, value, bad, metric) => el('div', { class: `card${bad ? ' card-bad' : ''}`, testid: 'tickets-card', 'data-metric': metric },
      el('div', { class: 'card-label', text: label }), el('div', { class: 'card-value', text: value }));
    const fu = data.follow_ups;
    box.replaceChildren(
      el('h2', { text: t('heading') }),
      el('div', { class: 'cards' },
        card(t('tickets'), tot.tickets, false, 'tickets'), card(t('open'), tot.open, false, 'open'),
        card(t('fr'), tot.first_response_breaches, tot.first_response_breaches > 0, 'first_response_breaches'),
        card(t('res'), tot.resolution_breaches, tot.resolution_breaches > 0, 'resolution_breaches'),
        card(t('tier2'), tot.tier2, false, 'tier2')),
      el('table', { class: 'grid data', testid: 'tickets-groups' },
        el('thead', {}, el('tr', {}, ...[t('group'), t('tickets'), t('open'), t('fr'), t('res')].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, ...data.groups.map((g) => el('tr', {},
          el('td', { text: g.skill_group || '—' }), el('td', { class: 'num', text: g.tickets }), el('td', { class: 'num', text: g.open }),
          el('td', { class: `num${g.first_response_breaches ? ' bad' : ''}`, text: g.first_response_breaches }),
          el('td', { class: `num${g.resolution_breaches ? ' bad' : ''}`, text: g.resolution_breaches }))))),
      el('h3', { text: t('overdue') }),
      data.overdue.length
        ? el('ul', { testid: 'tickets-overdue' }, ...data.overdue.map((o) => el('li', { class: 'bad' },
          ticketLink(o.number),
          ` ${o.subject} · ${o.skill_group || ''} · ${t('by', { t: span(o.overdue_s) })}`)))
        : el('p', { class: 'meta', text: t('none_overdue') }),
      el('p', { testid: 'tickets-followups', text: fu.sent ? t('fu', { sent: fu.sent, answered: fu.answered, solved: pct(fu.solved_share), fast: pct(fu.fast_enough_share) }) : t('fu_none') }),
      fu.answers.some((a) => a.suggestions)
        ? el('div', {}, el('h3', { text: t('suggestions') }), el('ul', {}, ...fu.answers.filter((a) => a.suggestions).slice(0, 10).map((a) => el('li', {}, ticketLink(a.ticket), `: ${a.suggestions}`))))
        : null,
    );
    box.hidden = false;
  }

  window.RD.followDashboardPeriod('/api/tickets/report', render);
})();
