// Past conversations in the agent console: a search box (GET /api/agent/search) and a read-only
// transcript (GET /api/agent/conversations/{cid}) in a dialog that also fits a phone.
//
//   window.RDHistory.mount(rootEl)  the search box and its results, inside rootEl
//   window.RDHistory.open(cid)      the transcript of a conversation the agent may see
//
// The page opens the transcript for #conversation=<cid> (the dashboard links there), once the
// agent is signed in. Server text is only ever set as text (textContent, text nodes); a match
// is highlighted by splitting the snippet into text nodes inside <mark>. The language is the
// console's own: the <html lang> that console.js sets from its language choice, followed live.
(() => {
  'use strict';

  const STRINGS = {
    en: {
      search_label: 'Search past conversations', search_placeholder: 'Search conversations…',
      search_button: 'Search', searching: 'Searching…', no_results: 'No conversation matches “{q}”.',
      n_results: '{n} conversations', one_result: '1 conversation', more: 'More results', close: 'Close', clear: 'Clear',
      unknown_customer: 'Unknown customer', matches: '{n} matching messages', one_match: '1 matching message',
      transcript: 'Conversation with {name}', loading: 'Loading…', started: 'Started {when}',
      closed: 'ended {when}', no_messages: 'No messages.', attachment: 'Attachment',
      sender_customer: 'Customer', sender_bot: 'Bot', sender_agent: 'Agent', sender_system: 'System',
      st_bot: 'with the bot', st_queued: 'waiting', st_assigned: 'with an agent', st_resolved: 'resolved', st_closed: 'closed',
      err_missing_query: 'Type something to search for.', err_query_too_long: 'The search is too long (200 characters at most).',
      err_no_words: 'Search for words or numbers, not only punctuation.', err_invalid_cursor: 'Those results are out of date; search again.',
      err_invalid_limit: 'Invalid request.', err_forbidden: 'You may not open this conversation.',
      err_not_found: 'There is no such conversation.', err_network: 'No connection. Try again.',
      err_login: 'Your session has ended; sign in again.', err_generic: 'Something went wrong. Try again.',
    },
    zh: {
      search_label: '搜索历史会话', search_placeholder: '搜索会话…',
      search_button: '搜索', searching: '正在搜索…', no_results: '没有与“{q}”匹配的会话。',
      n_results: '{n} 个会话', one_result: '1 个会话', more: '更多结果', close: '关闭', clear: '清除',
      unknown_customer: '未知客户', matches: '{n} 条消息匹配', one_match: '1 条消息匹配',
      transcript: '与 {name} 的会话', loading: '加载中…', started: '开始于 {when}',
      closed: '结束于 {when}', no_messages: '没有消息。', attachment: '附件',
      sender_customer: '客户', sender_bot: '机器人', sender_agent: '坐席', sender_system: '系统',
      st_bot: '机器人接待中', st_queued: '排队中', st_assigned: '坐席接待中', st_resolved: '已解决', st_closed: '已结束',
      err_missing_query: '请输入要搜索的内容。', err_query_too_long: '搜索内容过长（最多 200 个字符）。',
      err_no_words: '请搜索文字或数字，而不只是标点。', err_invalid_cursor: '结果已过期，请重新搜索。',
      err_invalid_limit: '请求无效。', err_forbidden: '您无权查看此会话。',
      err_not_found: '没有这个会话。', err_network: '网络未连接，请重试。',
      err_login: '登录已过期，请重新登录。', err_generic: '出错了，请重试。',
    },
  };
  const CID = /^[A-Za-z0-9_-]{1,64}$/;
  const PAGE = 20;

  const lang = () => window.RD.pickLang(document.documentElement.lang);
  const loc = () => window.RD.locale(lang());
  const t = window.RD.translator(STRINGS, lang);

  const { el } = window.RD;

  // Dates and times in the browser's time zone and the console's language.
  function when(iso, withTime = true) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const opts = { year: 'numeric', month: 'short', day: 'numeric' };
    if (withTime) Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
    return d.toLocaleString(loc(), opts);
  }

  function safeUrl(raw) {
    try {
      const u = new URL(String(raw), location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch { return null; }
  }

  const getJson = (path) => window.RD.api('GET', path, undefined, { network: 'network' });

  function errText(e) {
    // The console API's stable word is `error` (`code` is the HTTP status).
    const code = e && e.data && typeof e.data.error === 'string' ? e.data.error : null;
    if (code && STRINGS.en[`err_${code}`]) return t(`err_${code}`);
    const byStatus = { 0: 'err_network', 401: 'err_login', 403: 'err_forbidden', 404: 'err_not_found' };
    return t(byStatus[e && e.status] || 'err_generic');
  }

  /** `text` as nodes, every occurrence of a term (case-insensitive) inside <mark>. */
  function highlighted(text, terms) {
    const s = String(text || '');
    const lower = s.toLowerCase();
    const marks = [];
    for (const term of terms || []) {
      const needle = String(term || '').toLowerCase();
      if (!needle) continue;
      for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, i + needle.length)) {
        marks.push([i, i + needle.length]);
      }
    }
    marks.sort((a, b) => a[0] - b[0]);
    const out = [];
    let at = 0;
    for (const [start, end] of marks) {
      if (end <= at) continue;
      const from = Math.max(start, at);
      if (from > at) out.push(document.createTextNode(s.slice(at, from)));
      out.push(el('mark', { text: s.slice(from, end) }));
      at = end;
    }
    if (at < s.length) out.push(document.createTextNode(s.slice(at)));
    return out;
  }

  // ------------------------------------------------------------------ look
  // Constructed style sheet: the page's CSP allows no inline <style>, and the console's own
  // stylesheet belongs to the console.
  const CSS = `
  .rdh-form { display: flex; gap: .35rem; align-items: center; position: relative; }
  .rdh-form input[type=search] { width: 16rem; max-width: 60vw; }
  .rdh-results { position: absolute; z-index: 20; top: calc(100% + .3rem); right: 0; width: min(32rem, 94vw);
    max-height: 70vh; overflow: auto; background: var(--panel, #fff); border: 1px solid var(--line, #d5dbe1);
    border-radius: 8px; box-shadow: 0 6px 24px rgba(0,0,0,.15); padding: .4rem; }
  .rdh-status { font-size: .85rem; color: var(--muted, #5a6570); margin: .2rem .3rem; }
  .rdh-list { list-style: none; margin: 0; padding: 0; }
  .rdh-hit { display: block; width: 100%; text-align: left; border: 0; border-bottom: 1px solid var(--line, #d5dbe1);
    border-radius: 0; background: none; padding: .5rem .4rem; }
  .rdh-hit:hover, .rdh-hit:focus-visible { background: var(--bg, #f4f6f8); }
  .rdh-hit-head { display: flex; gap: .5rem; flex-wrap: wrap; align-items: baseline; font-weight: 600; }
  .rdh-meta { font-size: .8rem; color: var(--muted, #5a6570); font-weight: normal; }
  .rdh-snippet { margin: .2rem 0 0; overflow-wrap: anywhere; }
  .rdh-snippet mark, .rdh-msg mark { background: #fff1a8; color: inherit; padding: 0 .05em; }
  .rdh-dialog { width: min(44rem, 96vw); max-height: 90vh; padding: 0; border: 1px solid var(--line, #d5dbe1);
    border-radius: 10px; display: none; flex-direction: column; }
  .rdh-dialog[open] { display: flex; }
  .rdh-dialog::backdrop { background: rgba(0,0,0,.35); }
  .rdh-dialog-head { display: flex; align-items: flex-start; gap: .5rem; padding: .7rem .9rem;
    border-bottom: 1px solid var(--line, #d5dbe1); }
  .rdh-close { white-space: nowrap; flex-shrink: 0; }
  .rdh-dialog-head h2 { margin: 0; font-size: 1.05rem; flex: 1; overflow-wrap: anywhere; }
  .rdh-body { overflow: auto; padding: .6rem .9rem; flex: 1; }
  .rdh-msgs { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: .45rem; }
  .rdh-msg { border-radius: 8px; padding: .4rem .6rem; background: var(--customer, #eef1f4); max-width: 100%; }
  .rdh-msg[data-sender=bot] { background: var(--bot, #e6f0fb); }
  .rdh-msg[data-sender=agent] { background: var(--agent, #e3f4ee); }
  .rdh-msg[data-sender=system] { background: none; font-style: italic; }
  .rdh-msg.rdh-hit-msg { outline: 2px solid #d4a600; }
  .rdh-msg p { margin: .15rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
  .rdh-msg-head { display: flex; justify-content: space-between; gap: .5rem; font-size: .8rem; color: var(--muted, #5a6570); }
  @media (max-width: 600px) {
    .rdh-form { width: 100%; }
    .rdh-form input[type=search] { flex: 1; width: auto; max-width: none; }
    .rdh-results { left: 0; right: 0; width: auto; }
    .rdh-dialog { width: 100vw; max-width: 100vw; height: 100dvh; max-height: 100dvh; margin: 0; border-radius: 0; }
  }`;
  function style() {
    if (style.done) return;
    style.done = true;
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    } catch (e) { console.warn('history styles', e); }
  }

  // ------------------------------------------------------------------ search
  const S = { root: null, q: '', next: null, terms: [], results: [], busy: false, error: '' };

  function mount(root) {
    if (!root || S.root === root) return;
    style();
    S.root = root;
    const input = el('input', {
      type: 'search', id: 'rdh-q', name: 'q', maxlength: '200', autocomplete: 'off', testid: 'history-q',
      enterkeyhint: 'search',
    });
    const form = el('form', { class: 'rdh-form', role: 'search', testid: 'history-form', onsubmit: onSearch },
      input,
      el('button', { type: 'submit', testid: 'history-submit', class: 'rdh-submit' }),
      el('div', { class: 'rdh-results', id: 'rdh-results', testid: 'history-results', hidden: true, onkeydown: onResultsKey }));
    root.replaceChildren(form);
    root.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !resultsEl().hidden) { hideResults(); input.focus(); } });
    document.addEventListener('click', (e) => { if (S.root && !S.root.contains(e.target)) hideResults(); });
    renderStatic();
  }

  const resultsEl = () => S.root.querySelector('.rdh-results');
  const hideResults = () => { if (S.root) resultsEl().hidden = true; };

  function renderStatic() {
    if (!S.root) return;
    const input = S.root.querySelector('input[type=search]');
    input.placeholder = t('search_placeholder');
    input.setAttribute('aria-label', t('search_label'));
    S.root.querySelector('form').setAttribute('aria-label', t('search_label'));
    S.root.querySelector('.rdh-submit').textContent = t('search_button');
    if (!resultsEl().hidden) renderResults();
  }

  async function onSearch(e) {
    e.preventDefault();
    const q = S.root.querySelector('input[type=search]').value.trim();
    S.q = q;
    S.results = [];
    S.next = null;
    await fetchPage(null);
  }

  async function fetchPage(before) {
    if (S.busy) return;
    S.busy = true;
    S.error = '';
    resultsEl().hidden = false;
    setStatus(t('searching'));
    try {
      if (!S.q) throw Object.assign(new Error('empty'), { status: 400, data: { error: 'missing_query' } });
      const params = new URLSearchParams({ q: S.q, limit: String(PAGE) });
      if (before) params.set('before', before);
      const data = await getJson(`/api/agent/search?${params}`);
      S.results = S.results.concat(Array.isArray(data.results) ? data.results : []);
      S.terms = Array.isArray(data.terms) ? data.terms : [];
      S.next = typeof data.next === 'string' ? data.next : null;
    } catch (err) {
      S.error = errText(err);
    } finally {
      S.busy = false;
    }
    renderResults();
  }

  function setStatus(text) {
    const box = resultsEl();
    let status = box.querySelector('.rdh-status');
    if (!status) {
      status = el('p', { class: 'rdh-status', role: 'status', testid: 'history-status' });
      box.prepend(status);
    }
    status.textContent = text;
  }

  function renderResults() {
    const box = resultsEl();
    const status = el('p', { class: 'rdh-status', role: 'status', testid: 'history-status' },
      S.error || (!S.results.length ? t('no_results', { q: S.q })
        : S.results.length === 1 && !S.next ? t('one_result') : t('n_results', { n: S.results.length + (S.next ? '+' : '') })));
    const list = el('ul', { class: 'rdh-list', testid: 'history-list' }, S.results.map(renderHit));
    const more = S.next && !S.error
      ? el('button', { type: 'button', class: 'link', testid: 'history-more', onclick: () => fetchPage(S.next) }, t('more'))
      : null;
    box.replaceChildren(status, list, more || '');
  }

  function renderHit(r) {
    const name = r.customer_name || t('unknown_customer');
    const matches = Number(r.matches) === 1 ? t('one_match') : t('matches', { n: Number(r.matches) || 0 });
    const open = () => { hideResults(); RDHistory.open(String(r.conversation_id), { focusMessage: r.message_id, opener: S.root.querySelector('input') }); };
    return el('li', {},
      el('button', { type: 'button', class: 'rdh-hit', testid: 'history-hit', 'data-cid': String(r.conversation_id), onclick: open },
        el('span', { class: 'rdh-hit-head' },
          el('span', { testid: 'history-hit-name' }, name),
          el('span', { class: 'rdh-meta' }, String(r.channel || '')),
          el('time', { class: 'rdh-meta', datetime: r.started_at || null, testid: 'history-hit-date' }, when(r.started_at)),
          el('span', { class: 'rdh-meta' }, t(`st_${r.status}`)),
          el('span', { class: 'rdh-meta' }, matches)),
        el('p', { class: 'rdh-snippet', testid: 'history-snippet' }, highlighted(r.snippet, S.terms))));
  }

  // Arrow keys move between the hits.
  function onResultsKey(e) {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const hits = [...resultsEl().querySelectorAll('.rdh-hit')];
    const i = hits.indexOf(document.activeElement);
    const next = hits[e.key === 'ArrowDown' ? Math.min(i + 1, hits.length - 1) : Math.max(i - 1, 0)];
    if (next) { e.preventDefault(); next.focus(); }
  }

  // ------------------------------------------------------------------ transcript
  const D = { dialog: null, cid: null, data: null, error: '', opener: null, focusMessage: null };

  function dialog() {
    if (D.dialog) return D.dialog;
    style();
    const d = el('dialog', { class: 'rdh-dialog', testid: 'history-dialog', 'aria-labelledby': 'rdh-title' },
      el('div', { class: 'rdh-dialog-head' },
        el('div', {},
          el('h2', { id: 'rdh-title', testid: 'history-title' }),
          el('p', { class: 'rdh-meta', id: 'rdh-sub', testid: 'history-sub' })),
        el('button', { type: 'button', class: 'rdh-close', testid: 'history-close', onclick: close })),
      el('div', { class: 'rdh-body', tabindex: '-1' },
        el('ul', { class: 'rdh-msgs', testid: 'history-transcript', 'aria-live': 'polite' })));
    // Escape (the dialog's cancel) and the close button end the same way.
    d.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
    document.body.append(d);
    D.dialog = d;
    return d;
  }

  async function open(cid, opts = {}) {
    cid = String(cid || '');
    if (!CID.test(cid)) return;
    const d = dialog();
    D.cid = cid;
    D.data = null;
    D.error = '';
    D.focusMessage = opts.focusMessage ?? null;
    if (!d.open) D.opener = opts.opener || (document.activeElement instanceof HTMLElement ? document.activeElement : null);
    const hash = `#conversation=${encodeURIComponent(cid)}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    renderDialog();
    if (!d.open) d.showModal();
    d.querySelector('.rdh-close').focus();
    try {
      const data = await getJson(`/api/agent/conversations/${encodeURIComponent(cid)}`);
      if (D.cid !== cid) return;
      D.data = data;
    } catch (err) {
      if (D.cid !== cid) return;
      D.error = errText(err);
    }
    renderDialog();
    const hit = D.focusMessage != null && d.querySelector(`.rdh-msg[data-id="${Number(D.focusMessage)}"]`);
    if (hit) hit.scrollIntoView({ block: 'center' });
  }

  function close() {
    const d = D.dialog;
    if (!d || !d.open) return;
    d.close();
    D.cid = null;
    if (location.hash.startsWith('#conversation=')) history.replaceState(null, '', location.pathname + location.search);
    const back = D.opener;
    D.opener = null;
    if (back && back.isConnected) back.focus();
  }

  function renderDialog() {
    const d = D.dialog;
    if (!d) return;
    d.querySelector('.rdh-close').textContent = t('close');
    const title = d.querySelector('#rdh-title');
    const sub = d.querySelector('#rdh-sub');
    const list = d.querySelector('.rdh-msgs');
    if (D.error) {
      title.textContent = D.error;
      sub.textContent = '';
      list.replaceChildren();
      return;
    }
    if (!D.data) {
      title.textContent = t('loading');
      sub.textContent = '';
      list.replaceChildren();
      return;
    }
    const conv = D.data.conversation || {};
    const customer = D.data.customer || {};
    title.textContent = t('transcript', { name: customer.name || t('unknown_customer') });
    const parts = [String(conv.channel || ''), t('started', { when: when(conv.created_at) }), t(`st_${conv.status}`)];
    if (conv.closed_at) parts.push(t('closed', { when: when(conv.closed_at) }));
    sub.textContent = parts.filter(Boolean).join(' · ');
    const msgs = Array.isArray(D.data.messages) ? D.data.messages : [];
    list.replaceChildren(...(msgs.length ? msgs.map(renderMessage) : [el('li', { class: 'rdh-status' }, t('no_messages'))]));
  }

  function renderMessage(m) {
    const sender = ['customer', 'bot', 'agent', 'system'].includes(m.sender) ? m.sender : 'system';
    const who = sender === 'agent' && m.agent ? `${t('sender_agent')} · ${m.agent}` : t(`sender_${sender}`);
    const p = m.payload && typeof m.payload === 'object' ? m.payload : {};
    const links = ['image', 'video', 'link'].map((k) => {
      const href = p[k] && safeUrl(p[k]);
      return href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer', testid: 'history-link' }, `${k}: ${p[k]}`) : null;
    }).filter(Boolean);
    const files = (Array.isArray(p.media) ? p.media : []).map((r) => {
      if (!r || typeof r !== 'object' || typeof r.id !== 'string' || !/^[0-9a-f]{32}$/.test(r.id)) return null;
      const name = typeof r.filename === 'string' && r.filename ? r.filename : t('attachment');
      return el('a', { href: `/api/media/${r.id}`, target: '_blank', rel: 'noopener noreferrer', testid: 'history-file' }, `${t('attachment')}: ${name}`);
    }).filter(Boolean);
    const isHit = D.focusMessage != null && Number(m.id) === Number(D.focusMessage);
    return el('li', { class: `rdh-msg${isHit ? ' rdh-hit-msg' : ''}`, 'data-sender': sender, 'data-id': String(m.id), testid: 'history-msg' },
      el('div', { class: 'rdh-msg-head' },
        el('span', { class: 'rdh-who' }, who),
        el('time', { datetime: m.created_at || null }, when(m.created_at))),
      el('p', {}, isHit ? highlighted(m.text, S.terms) : String(m.text || '')),
      links.length || files.length ? el('p', { class: 'rdh-meta' }, [...links, ...files].flatMap((a, i) => (i ? [' ', a] : [a]))) : null);
  }

  // ------------------------------------------------------------------ the page
  // The console's language changes <html lang>: follow it.
  new MutationObserver(() => { renderStatic(); renderDialog(); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ['lang'] });

  const hashCid = () => {
    const m = /^#conversation=([^&]+)$/.exec(location.hash);
    if (!m) return null;
    try { return decodeURIComponent(m[1]); } catch { return null; }
  };
  const signedIn = () => { const app = document.getElementById('app'); return !app || !app.hidden; };

  // #conversation=<cid> opens once the agent is signed in (now, or after the login form).
  function followHash() {
    const cid = hashCid();
    if (!cid || (D.dialog && D.dialog.open && D.cid === cid)) return;
    if (signedIn()) { open(cid); return; }
    const app = document.getElementById('app');
    const watch = new MutationObserver(() => {
      if (!app.hidden) { watch.disconnect(); if (hashCid() === cid) open(cid); }
    });
    watch.observe(app, { attributes: true, attributeFilter: ['hidden'] });
  }

  window.addEventListener('hashchange', followHash);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => setTimeout(followHash, 0));
  else setTimeout(followHash, 0);

  const RDHistory = Object.freeze({ open: (cid, opts) => open(cid, opts), mount });
  window.RDHistory = RDHistory;
})();
