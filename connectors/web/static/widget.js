/* relaydesk customer chat widget. Wire protocol: docs/web-protocol.md, section "Widget".
 * Vanilla ES2020, no dependencies, no build step. Embed with one tag:
 *   <script src="https://support.example.com/widget.js" defer data-server=… data-language=auto
 *           data-color="#0b7a75" data-title="…" data-sound=off data-auto-open=agent
 *           data-user-id=… data-user-ts=… data-user-hash=… data-dwell-seconds=…></script>
 * (every option: docs/web-protocol.md, "Embed options"). 
 * Security rule: text from the server or the customer only ever goes through textContent /
 * text nodes, and media URLs must be http(s) or a same-origin path.
 * Serve this file as "text/javascript; charset=utf-8": without the charset, a host page in
 * another encoding (GBK, Latin-1) would decode the Chinese strings below with its own. */
(() => {
  'use strict';
  if (window.relaydesk && window.relaydesk._loaded) return; // embedded twice: the first one wins

  const MAX_LEN = 4000;
  const KEY = {
    token: 'relaydesk.token', cursor: 'relaydesk.cursor', outbox: 'relaydesk.outbox',
    read: 'relaydesk.read', // the highest bot/agent message id the customer has seen
    language: 'relaydesk.language', // the header switch's choice
  };
  const OPEN_KEY = 'relaydesk.open'; // sessionStorage: a reload keeps the panel open
  const TYPING_EVERY_MS = 3000; // at most one "typing on" per 3 s while typing (C3)
  const TYPING_IDLE_MS = 5000; // "typing off" after 5 s without a keystroke
  const TG_OFF = 'relaydesk.telegram-off'; // sessionStorage: this server has no Telegram, stop offering it
  const SENDERS = new Set(['bot', 'agent', 'system', 'customer']);

  // ---------------------------------------------------------------- configuration
  // currentScript is only set while this file first runs, so read it now.
  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  const ds = (script && script.dataset) || {};
  const scriptOrigin = (() => {
    try { return new URL(script.src, location.href).origin; } catch { return location.origin; }
  })();
  const serverBase = (() => {
    // Keep a path prefix (a server behind a proxy at /support) but drop trailing slashes.
    try {
      const u = new URL(ds.server || scriptOrigin, location.href);
      return (u.origin + u.pathname).replace(/\/+$/, '');
    } catch { return scriptOrigin; }
  })();
  const serverOrigin = new URL(serverBase).origin;
  const wsUrl = serverBase.replace(/^http/i, 'ws') + '/ws/widget';

  // The switch's remembered choice, else data-language, else the page's <html lang>, else the
  // browser's language.
  let lang = (() => {
    let chosen = null;
    try { chosen = localStorage.getItem(KEY.language); } catch { /* none */ }
    if (chosen === 'zh' || chosen === 'en') return chosen;
    let l = (ds.language || 'auto').toLowerCase();
    if (l === 'auto') l = document.documentElement.lang || navigator.language || 'en';
    return /^zh/i.test(l) ? 'zh' : 'en';
  })();

  // data-sound="on|off", data-auto-open="agent|off"; unset: the server's connectors.web.notify.
  const flag = (v, yes, no) => (v === yes ? true : v === no ? false : null);
  const soundAttr = flag((ds.sound || '').toLowerCase(), 'on', 'off');
  const autoOpenAttr = flag((ds.autoOpen || '').toLowerCase(), 'agent', 'off');

  // Only a value the browser accepts as a colour reaches the stylesheet.
  const accent = ds.color && window.CSS && CSS.supports('color', ds.color) ? ds.color : '#0b7a75';
  const onAccent = (() => {
    // Black or white text on the accent, whichever contrasts more (hex colours only).
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(accent.trim());
    if (!m) return '#fff';
    const hex = m[1].length === 3 ? [...m[1]].map((c) => c + c).join('') : m[1];
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 ? '#111' : '#fff';
  })();

  const STRINGS = {
    en: {
      title: 'Customer service', launcher: 'Chat with us', close: 'Close chat',
      placeholder: 'Type a message…', inputLabel: 'Your message', send: 'Send', log: 'Conversation',
      connecting: 'Connecting…', reconnecting: 'Connection lost. Reconnecting…',
      identity: 'We could not verify your sign-in. Please reload the page.',
      queued: (n, m) => (n == null ? 'Waiting for an agent…'
        : `You are number ${n} in line` + (m == null ? '' : `, about ${m} min`)),
      assigned: (a) => (a ? `You're chatting with ${a}` : "You're chatting with an agent"),
      ticket: (n, d) => `Ticket ${n}: an agent will reply here` + (d ? ` by ${d}` : ''),
      resolved: 'This conversation has ended.',
      typing: 'Typing…', pending: 'Sending…', agent: 'Agent', image: 'Image', video: 'Video',
      quick: 'Suggested replies', tooLong: `Your message is too long (at most ${MAX_LEN} characters).`,
      error: 'Something went wrong. Please try again.',
      ratePrompt: 'How would you rate our service?', star: (n) => (n === 1 ? '1 star' : `${n} stars`),
      rateComment: 'Comment (optional)', rateSubmit: 'Submit rating', thanks: 'Thank you for your feedback!',
      telegram: 'Continue in Telegram', newTab: '(opens in a new tab)',
      attach: 'Send a photo or PDF', file: 'File', fileFailed: 'File not received',
      switchTo: '中文', switchLabel: '切换到中文 (Switch to Chinese)',
      newMessage: 'New message', unread: (n) => `Chat with us, ${n} unread`,
      agentTyping: (a) => `${a || 'An agent'} is typing…`,
      read: 'Read', delivered: 'Delivered', ended: 'Conversation ended',
      queueUpdate: (n, m) => `You are number ${n} in line` + (m == null ? '' : `, about ${m} min`),
      agentJoined: (a) => `${a || 'An agent'} has joined the chat.`,
      askRating: 'This chat is resolved. How would you rate our service from 1 to 5 stars?',
      topics: 'Suggested topics',
    },
    zh: {
      title: '在线客服', launcher: '在线客服', close: '关闭对话',
      placeholder: '请输入消息…', inputLabel: '输入消息', send: '发送', log: '对话记录',
      connecting: '正在连接…', reconnecting: '连接已断开，正在重新连接…',
      identity: '无法验证您的登录身份，请刷新页面后重试。',
      queued: (n, m) => (n == null ? '正在为您转接人工客服…'
        : `排队中：第 ${n} 位，您前面还有 ${Math.max(0, n - 1)} 位` + (m == null ? '' : `，预计约 ${m} 分钟`)),
      assigned: (a) => (a ? `人工客服 ${a} 正在为您服务` : '人工客服正在为您服务'),
      ticket: (n, d) => `工单 ${n}：客服将` + (d ? `在 ${d} 前` : '') + '在此回复您',
      resolved: '本次会话已结束。',
      typing: '对方正在输入…', pending: '发送中…', agent: '客服', image: '图片', video: '视频',
      quick: '快捷回复', tooLong: `消息过长（最多 ${MAX_LEN} 个字符）。`,
      error: '出了点问题，请稍后重试。',
      ratePrompt: '请为本次服务评分', star: (n) => `${n} 星`,
      rateComment: '补充意见（可选）', rateSubmit: '提交评价', thanks: '感谢您的评价！',
      telegram: '在 Telegram 继续', newTab: '（在新标签页中打开）',
      attach: '发送图片或 PDF', file: '文件', fileFailed: '文件未收到',
      switchTo: 'EN', switchLabel: 'Switch to English（切换到英文）',
      newMessage: '新消息', unread: (n) => `在线客服，${n} 条未读`,
      agentTyping: (a) => `${a || '客服'} 正在输入…`,
      read: '已读', delivered: '已送达', ended: '对话已结束',
      queueUpdate: (n, m) => `排队中：第 ${n} 位，您前面还有 ${Math.max(0, n - 1)} 位` + (m == null ? '' : `，预计约 ${m} 分钟`),
      agentJoined: (a) => `人工客服 ${a || ''} 已接入，正在为您服务。`,
      askRating: '本次服务已结束。请为我们的服务打分（1-5 星）。',
      topics: '常见问题',
    },
  };
  let T = STRINGS[lang];
  const title = () => ds.title || T.title;

  // Every fixed string on screen is bound here, so the language switch re-renders all of them:
  // bind(el, fn) sets el's text (or an attribute) from fn() now and again on every switch.
  const bindings = [];
  function bind(el, fn, attr) {
    const apply = () => {
      const v = fn();
      if (attr) el.setAttribute(attr, v); else el.textContent = v;
    };
    bindings.push(apply);
    apply();
    return el;
  }

  // ---------------------------------------------------------------- small helpers
  // localStorage throws when disabled (private modes, sandboxed frames): the widget then works
  // for this page load only.
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch { /* in-memory only */ } },
  };

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID(); // absent outside secure contexts
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  // Builds an element. Children that are strings become text nodes (Element.append), so this
  // can never interpret markup.
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids) if (kid != null) el.append(kid);
    return el;
  }

  function icon(cls, d) {
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', cls);
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
    return svg;
  }
  const ICON_CHAT = 'M6 3h12a3 3 0 0 1 3 3v8a3 3 0 0 1-3 3h-7l-5 4v-4H6a3 3 0 0 1-3-3V6a3 3 0 0 1 3-3z';
  const ICON_X = 'M6 6l12 12M18 6L6 18';
  const ICON_CLIP = 'M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7';

  // http(s) URLs, or a path on the relaydesk server ("/media/x.png"). Relative paths resolve
  // against the server, since the widget may be embedded on another site. The origin check also
  // catches "//evil", "/\evil" and tab/newline tricks that the URL parser normalises away.
  function safeUrl(u) {
    if (typeof u !== 'string' || !u) return null;
    try {
      if (u.startsWith('/')) {
        const r = new URL(u, serverOrigin);
        return r.origin === serverOrigin ? r.href : null;
      }
      const r = new URL(u);
      return r.protocol === 'http:' || r.protocol === 'https:' ? r.href : null;
    } catch { return null; }
  }

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(0, Math.round(v)) : null);

  // ---------------------------------------------------------------- styles
  const CSS_TEXT = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
button, textarea { font: inherit; color: inherit; }
button { cursor: pointer; }
:focus { outline: none; }
:focus-visible { outline: 3px solid var(--rd-accent); outline-offset: 2px; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;
  border: 0; border-radius: 50%; background: var(--rd-accent); color: var(--rd-on-accent);
  box-shadow: 0 4px 14px rgba(0,0,0,.25); display: grid; place-items: center; }
.launcher svg { width: 28px; height: 28px; }
.badge { position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #c62828; color: #fff; font: 700 12px/22px system-ui, sans-serif;
  text-align: center; box-shadow: 0 0 0 2px #fff; }
.i-chat { fill: currentColor; }
.i-x { fill: none; stroke: currentColor; stroke-width: 2.4; stroke-linecap: round; }
.launcher[aria-expanded="true"] .i-chat, .launcher[aria-expanded="false"] .i-x { display: none; }
.panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483001; width: 370px;
  height: min(600px, calc(100vh - 108px)); display: flex; flex-direction: column; overflow: hidden;
  background: #fff; color: #1f2328; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.28);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif; }
@media (max-width: 480px) {
  .panel { inset: 0; width: auto; height: auto; border-radius: 0; }
}
.head { display: flex; align-items: center; gap: 8px; padding: 10px 8px 10px 16px;
  background: var(--rd-accent); color: var(--rd-on-accent); }
.head h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }
.head button { width: 36px; height: 36px; border: 0; border-radius: 8px; background: transparent;
  display: grid; place-items: center; }
.head button svg { width: 20px; height: 20px; }
.head button.lang { width: auto; min-width: 36px; padding: 0 8px; font-size: 13px; font-weight: 600;
  border: 1px solid currentColor; height: 28px; border-radius: 14px; }
.head :focus-visible { outline-color: var(--rd-on-accent); outline-offset: -3px; }
.conn, .status { padding: 6px 12px; font-size: 13px; border-bottom: 1px solid #e3e6ea; }
.conn { background: #fff4d6; color: #5c4400; }
.status { background: #eef6f5; color: #1f2328; }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px;
  background: #f6f7f9; }
.msg { display: flex; flex-direction: column; align-items: flex-start; max-width: 85%; align-self: flex-start; }
.bubble { padding: 8px 12px; border-radius: 14px; background: #fff; border: 1px solid #e3e6ea;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.msg[data-sender="customer"] { align-self: flex-end; align-items: flex-end; }
.msg[data-sender="customer"] .bubble { background: var(--rd-accent); color: var(--rd-on-accent);
  border-color: transparent; border-bottom-right-radius: 4px; }
.msg[data-sender="bot"] .bubble, .msg[data-sender="agent"] .bubble { border-bottom-left-radius: 4px; }
.msg[data-sender="agent"] .bubble { background: #eef3fc; border-color: #c9d7f2; }
.msg[data-sender="system"] { align-self: center; align-items: center; max-width: 92%; text-align: center; }
.msg[data-sender="system"] .bubble { background: none; border: 0; padding: 0 8px; font-size: 12px; color: #596068; }
.who, .meta { font-size: 11px; color: #596068; margin: 0 4px 2px; }
.meta { margin: 2px 4px 0; }
.msg.pending .bubble { opacity: .7; }
.bubble img, .bubble video { display: block; max-width: 100%; max-height: 240px; border-radius: 8px; margin: 4px 0; }
.bubble a { color: inherit; text-decoration: underline; }
.caption { font-size: 12px; }
.quick { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.quick button, .stars button { border: 1px solid var(--rd-accent); border-radius: 16px; background: #fff;
  color: #1f2328; padding: 5px 12px; }
.quick button:hover { background: #f0f3f5; }
.typing { padding: 4px 14px; font-size: 12px; color: #596068; background: #f6f7f9; }
.welcome { align-self: stretch; padding: 10px 12px; border-radius: 12px; background: #fff;
  border: 1px solid #e3e6ea; }
.welcome p { margin: 0 0 4px; }
.welcome .promise { font-size: 12px; color: #596068; }
.separator { display: flex; align-items: center; gap: 8px; font-size: 12px; color: #596068; }
.separator::before, .separator::after { content: ""; flex: 1; border-top: 1px solid #c3c8ce; }
.mark { margin-left: 6px; }
.rating, .thanks { padding: 10px 12px; border-top: 1px solid #e3e6ea; font-size: 13px; }
.rating p { margin: 0 0 6px; font-weight: 600; }
.stars { display: flex; gap: 4px; margin-bottom: 6px; }
.stars button { padding: 2px 8px; font-size: 20px; line-height: 1.2; color: #9aa1a8; }
.stars button.on { color: #b07c00; }
.rating label { display: block; margin-bottom: 2px; }
.rating textarea { width: 100%; resize: vertical; border: 1px solid #c3c8ce; border-radius: 8px; padding: 6px 8px; }
.primary { border: 0; border-radius: 8px; padding: 8px 14px; background: var(--rd-accent);
  color: var(--rd-on-accent); font-weight: 600; }
.primary:disabled { opacity: .5; cursor: default; }
.rating .primary { margin-top: 6px; }
.error { padding: 6px 12px; font-size: 13px; background: #fdecea; color: #8a1c12; }
.composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px; border-top: 1px solid #e3e6ea; }
.composer textarea { flex: 1; resize: none; max-height: 120px; border: 1px solid #c3c8ce;
  border-radius: 8px; padding: 8px 10px; line-height: 1.4; }
.composer .attach { cursor: pointer; padding: 8px 4px; line-height: 1; color: #4a5560; }
.i-clip { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; }
.foot { display: flex; justify-content: center; padding: 0 10px 8px; }
.foot button { border: 0; background: none; padding: 4px 8px; border-radius: 6px; font-size: 12px;
  color: #2f5f8a; text-decoration: underline; }
.foot button:hover { background: #f0f3f5; }
.foot button[aria-busy="true"] { opacity: .6; cursor: progress; }
`;

  function applyStyles(root) {
    // A constructed stylesheet is not blocked by a host page's CSP style-src; <style> is the fallback.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS_TEXT);
      root.adoptedStyleSheets = [sheet];
    } catch {
      root.append(h('style', {}, CSS_TEXT));
    }
  }

  // ---------------------------------------------------------------- the interface
  const host = h('div', { id: 'relaydesk-widget' });
  host.style.setProperty('--rd-accent', accent);
  host.style.setProperty('--rd-on-accent', onAccent);
  const root = host.attachShadow({ mode: 'open' }); // open: browser tests pierce it
  applyStyles(root);

  const badge = h('span', { class: 'badge', 'data-testid': 'rd-badge', 'aria-hidden': 'true', hidden: true });
  const launcher = h('button', {
    type: 'button', class: 'launcher', 'data-testid': 'rd-launcher',
    'aria-expanded': 'false', 'aria-controls': 'rd-panel', onclick: () => (panel.hidden ? open() : close()),
  }, icon('i-chat', ICON_CHAT), icon('i-x', ICON_X), badge);

  const conn = h('div', { class: 'conn', 'data-testid': 'rd-conn', role: 'status', hidden: true });
  const status = h('div', { class: 'status', 'data-testid': 'rd-status', role: 'status', hidden: true });
  const log = h('div', {
    class: 'log', 'data-testid': 'rd-log', role: 'log', 'aria-live': 'polite',
    tabindex: '0', // scrollable with the keyboard
  });
  bind(log, () => T.log, 'aria-label');
  const typing = h('div', { class: 'typing', 'data-testid': 'rd-typing', hidden: true });

  let score = 0;
  const stars = [1, 2, 3, 4, 5].map((n) => bind(h('button', {
    type: 'button', 'data-testid': 'rd-star', 'data-score': n,
    'aria-pressed': 'false', onclick: () => pickScore(n),
  }, '★'), () => T.star(n), 'aria-label'));
  const comment = h('textarea', {
    id: 'rd-rating-comment', 'data-testid': 'rd-rating-comment', rows: 2, maxlength: 2000, // the server's limit
  });
  const rateSubmit = bind(h('button', {
    type: 'button', class: 'primary', 'data-testid': 'rd-rating-submit', disabled: true, onclick: submitRating,
  }), () => T.rateSubmit);
  const rateForm = h('div', { class: 'rating', role: 'group', 'aria-labelledby': 'rd-rate-prompt', hidden: true },
    bind(h('p', { id: 'rd-rate-prompt', 'data-testid': 'rd-rate-prompt' }), () => T.ratePrompt),
    h('div', { class: 'stars' }, ...stars),
    bind(h('label', { for: 'rd-rating-comment' }), () => T.rateComment), comment, rateSubmit);
  const thanks = bind(h('div', { class: 'thanks', 'data-testid': 'rd-rating-thanks', role: 'status', hidden: true }), () => T.thanks);
  const errorBox = h('div', { class: 'error', 'data-testid': 'rd-error', role: 'alert', hidden: true });

  const input = h('textarea', {
    id: 'rd-input', 'data-testid': 'rd-input', rows: 1, autocomplete: 'off',
  });
  bind(input, () => T.placeholder, 'placeholder');
  const sendBtn = bind(h('button', { type: 'submit', class: 'primary', 'data-testid': 'rd-send' }), () => T.send);
  // A photo or a PDF: uploaded over HTTP with the browser's token (the limits are the server's;
  // its 413 / 415 message is shown as it is), then it comes back through the socket as a message.
  const fileInput = h('input', {
    type: 'file', id: 'rd-file', class: 'sr-only', 'data-testid': 'rd-file',
    accept: 'image/jpeg,image/png,image/gif,image/webp,application/pdf', onchange: () => uploadFile(),
  });
  const attachBtn = bind(h('label', { for: 'rd-file', class: 'attach', 'data-testid': 'rd-attach' },
    icon('i-clip', ICON_CLIP), bind(h('span', { class: 'sr-only' }), () => T.attach)), () => T.attach, 'title');
  const form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); sendFromInput(); } },
    bind(h('label', { for: 'rd-input', class: 'sr-only' }), () => T.inputLabel), attachBtn, fileInput, input, sendBtn);

  // Carries this chat over to the Telegram bot (one history): shown only when the server says
  // it has Telegram (welcome.options.telegram).
  const tgOff = (() => { try { return sessionStorage.getItem(TG_OFF) === '1'; } catch { return false; } })();
  let tgOffered = false;
  const tgButton = h('button', {
    type: 'button', 'data-testid': 'rd-telegram', onclick: askTelegramLink, hidden: true,
  }, bind(h('span'), () => T.telegram), h('span', { 'aria-hidden': 'true' }, ' ↗'),
  bind(h('span', { class: 'sr-only' }), () => ` ${T.newTab}`));
  const foot = h('div', { class: 'foot' }, tgButton);

  // The greeting, the reply-time promise and the suggested topics (welcome.options), at the top
  // of the log; the topics only until the customer has written in the current conversation.
  const greetingText = h('p', { 'data-testid': 'rd-greeting' });
  const promise = h('p', { class: 'promise', 'data-testid': 'rd-reply-time' });
  const topicsBox = h('div', { class: 'quick', role: 'group', 'data-testid': 'rd-topics' });
  bind(topicsBox, () => T.topics, 'aria-label');
  const welcomeBox = h('div', { class: 'welcome', 'data-testid': 'rd-welcome', hidden: true },
    greetingText, promise, topicsBox);
  log.append(welcomeBox);

  const headTitle = bind(h('h2', {}), title);
  const langBtn = h('button', {
    type: 'button', class: 'lang', 'data-testid': 'rd-lang', onclick: () => switchLanguage(lang === 'zh' ? 'en' : 'zh'),
  });
  bind(langBtn, () => T.switchTo);
  bind(langBtn, () => T.switchLabel, 'aria-label');
  const closeBtn = h('button', { type: 'button', 'data-testid': 'rd-close', onclick: () => close() }, icon('i-x', ICON_X));
  bind(closeBtn, () => T.close, 'aria-label');

  const panel = h('div', {
    id: 'rd-panel', class: 'panel', role: 'dialog', 'data-testid': 'rd-panel', hidden: true,
  },
  h('div', { class: 'head' }, headTitle, langBtn, closeBtn),
  conn, status, log, typing, rateForm, thanks, errorBox, form, foot);
  bind(panel, title, 'aria-label');

  root.append(launcher, panel);

  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !panel.hidden) { e.preventDefault(); close(); }
  });
  input.addEventListener('keydown', (e) => {
    // isComposing / 229: Enter that confirms a Chinese IME candidate must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendFromInput();
    }
  });
  input.addEventListener('input', () => { autoGrow(); composing(); });

  function open() {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    try { sessionStorage.setItem(OPEN_KEY, '1'); } catch { /* this page load only */ }
    log.scrollTop = log.scrollHeight;
    input.focus();
    seen();
  }

  function close() {
    const wasOpen = !panel.hidden;
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    try { sessionStorage.removeItem(OPEN_KEY); } catch { /* this page load only */ }
    if (wasOpen) launcher.focus();
  }

  function autoGrow() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight + 2, 120)}px`;
  }

  // The banner keeps what it says (not its text), so the language switch can say it again.
  let connKey = '';
  function showConn(key) {
    connKey = key;
    const text = key ? T[key] : '';
    conn.textContent = text;
    conn.hidden = !text;
  }
  bindings.push(() => showConn(connKey));

  let errTimer = 0;
  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    clearTimeout(errTimer);
    errTimer = setTimeout(hideError, 10000);
  }
  function hideError() { errorBox.hidden = true; }

  // Who is typing: the bot while it thinks, or an agent (with their name) in the console.
  let typingTimer = 0;
  let typingWho = null; // null | {who, name}
  function setTyping(on, who, name) {
    typingWho = on ? { who: who === 'agent' ? 'agent' : 'bot', name: typeof name === 'string' ? name : '' } : null;
    renderTyping();
    clearTimeout(typingTimer);
    // If the "off" frame is lost with a dropped socket, don't show "typing" forever.
    if (on) typingTimer = setTimeout(() => setTyping(false), 20000);
  }
  function renderTyping() {
    typing.hidden = !typingWho;
    typing.textContent = !typingWho ? '' : typingWho.who === 'agent' ? T.agentTyping(typingWho.name) : T.typing;
  }
  bindings.push(renderTyping);

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

  // ---------------------------------------------------------------- messages
  let lastId = 0;               // highest message id shown in this page load (hello.after on reconnects)
  const shown = new Set();      // ids already on screen: never show one twice
  const pendingEls = new Map(); // client_id -> element waiting for the server's echo
  const buttonTitles = new Map(); // quick-reply payload -> title, to show "Returns", not "/question_returns"
  let quickHolder = null;       // the one message whose quick replies are still offered

  // A text that follows the widget's language: set now, and again on every switch.
  function l10n(el, fn) {
    el.setAttribute('data-l10n', '');
    el._rdText = fn;
    el.textContent = fn();
    return el;
  }
  function relocalize() {
    for (const el of root.querySelectorAll('[data-l10n]')) if (el._rdText) el.textContent = el._rdText();
    for (const el of root.querySelectorAll('[data-l10n-label]')) el.setAttribute('aria-label', T.quick);
  }

  // http(s) URLs in bot and agent texts become links. Built node by node (text nodes and <a>
  // with textContent), never as HTML; trailing punctuation stays text ("see https://x.cn/a.").
  const URL_RE = /https?:\/\/[^\s<>"'，。、；！？（）【】「」]+/g;
  function linkify(text) {
    const span = h('span', { class: 'text' });
    let at = 0;
    for (const found of text.matchAll(URL_RE)) {
      let url = found[0];
      const trail = /[.,;:!?)\]}'"]+$/.exec(url);
      if (trail) url = url.slice(0, -trail[0].length);
      const href = safeUrl(url);
      if (!href || !url) continue;
      span.append(text.slice(at, found.index));
      span.append(h('a', { href, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'rd-link' }, url));
      at = found.index + url.length;
    }
    span.append(text.slice(at));
    return span;
  }

  // Texts the server renders in the conversation's language, said again in the widget's own
  // from their payload (a switched widget must not keep speaking the other language).
  function localText(sender, payload) {
    const pos = num(payload.position);
    if (sender === 'system' && payload.event === 'queue_position' && pos != null) {
      const wait = num(payload.wait_minutes);
      return () => T.queueUpdate(pos, wait);
    }
    if (sender === 'system' && payload.event === 'agent_joined') {
      const who = typeof payload.agent === 'string' ? payload.agent : '';
      return () => T.agentJoined(who);
    }
    const rate = Array.isArray(payload.buttons) && payload.buttons.some((b) => b && RATE_PAYLOAD.test(b.payload));
    if (sender === 'bot' && rate) return () => T.askRating;
    return null;
  }

  function buildMessage(m, sender, payload) {
    const el = h('div', { class: 'msg', 'data-testid': 'rd-msg', 'data-sender': sender, 'data-id': m.id ?? '' });
    if (sender === 'agent') {
      const who = h('div', { class: 'who' });
      if (typeof m.agent === 'string' && m.agent) who.textContent = m.agent; else l10n(who, () => T.agent);
      el.append(who);
    }
    const bubble = h('div', { class: 'bubble' });
    let text = typeof m.text === 'string' ? m.text : '';
    const local = localText(sender, payload);
    if (sender === 'customer') text = customerText(text);
    if (local) bubble.append(l10n(h('span', { class: 'text' }), local));
    else if (text && sender === 'customer') bubble.append(h('span', { class: 'text' }, text));
    else if (text) bubble.append(linkify(text));
    bubble.append(...renderMedia(payload));
    if (bubble.childNodes.length) el.append(bubble);

    // "/rate N" buttons are left out: the star control below the log replaces them.
    const buttons = (Array.isArray(payload.buttons) ? payload.buttons : [])
      .filter((b) => b && typeof b.title === 'string' && b.title && !RATE_PAYLOAD.test(b.payload));
    if (buttons.length) {
      const q = h('div', { class: 'quick', role: 'group', 'aria-label': T.quick, 'data-l10n-label': '' });
      for (const b of buttons) {
        const value = typeof b.payload === 'string' && b.payload ? b.payload : b.title;
        buttonTitles.set(value, b.title);
        q.append(h('button', {
          type: 'button', 'data-testid': 'rd-quick', onclick: () => { sendText(value, b.title); input.focus(); },
        }, b.title));
      }
      el.append(q);
    }
    if (sender !== 'system') addTime(el, m.at);
    return el;
  }

  // A rating comes back as the customer message "/rate 4 comment": show it as stars.
  const RATE_PAYLOAD = /^\/rate [1-5]$/;
  function customerText(text) {
    if (buttonTitles.has(text)) return buttonTitles.get(text);
    const r = /^\/rate ([1-5])(?:\s+([\s\S]*))?$/.exec(text);
    return r ? '★'.repeat(Number(r[1])) + (r[2] ? ` ${r[2]}` : '') : text;
  }

  function addTime(el, iso) {
    const at = iso ? new Date(iso) : null;
    if (!at || Number.isNaN(at.getTime())) return;
    el.append(h('div', { class: 'meta' }, l10n(h('time', { datetime: at.toISOString() }),
      () => at.toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en', { hour: '2-digit', minute: '2-digit' }))));
  }

  function renderMedia(p) {
    const out = [];
    const cap = typeof p.caption === 'string' ? p.caption : '';
    const img = safeUrl(p.image);
    const vid = safeUrl(p.video);
    const link = safeUrl(p.link);
    if (img) {
      out.push(h('img', {
        src: img, alt: cap || T.image, loading: 'lazy', onload: () => { if (nearBottom()) log.scrollTop = log.scrollHeight; },
      }));
    }
    if (vid) out.push(h('video', { src: vid, controls: true, preload: 'metadata', 'aria-label': cap || T.video }));
    if (cap && (img || vid)) out.push(h('div', { class: 'caption' }, cap));
    if (link) {
      out.push(h('a', { href: link, target: '_blank', rel: 'noopener noreferrer' }, !img && !vid && cap ? cap : link));
    }
    for (const r of Array.isArray(p.media) ? p.media : []) out.push(storedMedia(r));
    return out.filter(Boolean);
  }

  // A file from the media store. Its URL needs the customer's token in a header, so it is
  // fetched here and shown from a blob: URL (no link that works for anyone else).
  function storedMedia(r) {
    if (!r || typeof r !== 'object') return null;
    if (r.error) return h('div', { class: 'caption', 'data-testid': 'rd-media-failed' }, T.fileFailed);
    if (typeof r.id !== 'string' || !/^[0-9a-f]{32}$/.test(r.id)) return null;
    const name = typeof r.filename === 'string' && r.filename ? r.filename : T.file;
    const node = r.kind === 'image'
      ? h('img', { alt: name, 'data-testid': 'rd-media-image' })
      : h('a', { href: '#', download: name, 'data-testid': 'rd-media-file' }, `${T.file}: ${name}`);
    fetch(`${serverBase}/widget/media/${r.id}`, { headers: { 'X-Relaydesk-Widget-Token': store.get(KEY.token) || '' } })
      .then((res) => (res.ok ? res.blob() : Promise.reject(new Error(String(res.status)))))
      .then((blob) => {
        const url = URL.createObjectURL(blob);
        if (node.tagName === 'IMG') {
          node.onload = () => { if (nearBottom()) log.scrollTop = log.scrollHeight; };
          node.src = url;
        } else node.href = url;
      })
      .catch(() => { node.replaceWith(h('div', { class: 'caption' }, `${T.fileFailed}: ${name}`)); });
    return node;
  }

  let lastConversation = null;
  async function uploadFile() {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    const token = store.get(KEY.token);
    if (!file || !token) return;
    hideError();
    const data = new FormData();
    data.append('file', file, file.name);
    const caption = input.value.trim();
    if (caption) data.append('caption', caption);
    data.append('client_id', uuid());
    data.append('language', lang); // a photo as the first message is answered in it
    let res;
    try {
      res = await fetch(`${serverBase}/widget/upload`, {
        method: 'POST', body: data, headers: { 'X-Relaydesk-Widget-Token': token },
      });
    } catch { showError(T.error); return; }
    let body = null;
    try { body = await res.json(); } catch { body = null; }
    if (!res.ok) { showError((body && typeof body.message === 'string' && body.message) || T.error); return; }
    if (caption && input.value.trim() === caption) { input.value = ''; autoGrow(); }
    // A first message opens a conversation this socket does not watch yet: reconnect, and the
    // hello picks it up (nothing is lost: the cursor replays what came after it).
    if (body && body.conversation_id !== lastConversation && ws) ws.close();
  }

  // Quick replies belong to the newest turn; older ones would send answers to stale questions.
  function retireQuickReplies(el, isSystem) {
    const hasQuick = !!(el && el.querySelector('.quick'));
    if (!hasQuick && isSystem) return; // a queue notice doesn't take the bot's buttons away
    if (quickHolder && quickHolder !== el) quickHolder.querySelector('.quick')?.remove();
    quickHolder = hasQuick ? el : null;
  }

  function onMessage(m) {
    const id = Number(m.id);
    if (!(Number.isInteger(id) && id > 0) || shown.has(id)) return;
    shown.add(id);
    const sender = SENDERS.has(m.sender) ? m.sender : 'system';
    const payload = m.payload && typeof m.payload === 'object' ? m.payload : {};
    const stick = nearBottom();
    const conv = typeof m.conversation_id === 'string' ? m.conversation_id : null;
    if (conv && lastConversation && conv !== lastConversation) {
      // A new conversation after an ended one: a line between them, above any pending message.
      log.insertBefore(l10n(h('div', { class: 'separator', 'data-testid': 'rd-separator', role: 'separator' }),
        () => T.ended), log.querySelector('.msg.pending'));
    }
    if (conv) lastConversation = conv;

    let el = m.client_id ? pendingEls.get(m.client_id) : null;
    if (m.client_id) ackOutbox(m.client_id);
    if (el) { // the echo of our own message: it is acknowledged, keep showing what was displayed
      pendingEls.delete(m.client_id);
      el.classList.remove('pending');
      el.querySelector('.pending-note')?.remove();
      el.setAttribute('data-id', String(id));
      addTime(el, m.at);
    } else {
      el = buildMessage(m, sender, payload);
    }
    // Confirmed messages go above the pending ones, which stay at the bottom until echoed.
    log.insertBefore(el, log.querySelector('.msg.pending'));
    if (id > lastId) { lastId = id; store.set(KEY.cursor, String(id)); }

    retireQuickReplies(el, sender === 'system');
    if (conv) el.setAttribute('data-conversation', conv);
    if (sender === 'customer') applyMarks(el);
    if (sender === 'bot' || sender === 'agent') {
      setTyping(false);
      if (conv) convUpTo.set(conv, Math.max(convUpTo.get(conv) || 0, id));
      arrived(id, sender, conv);
    }
    refreshTopics();
    const rateButtons = Array.isArray(payload.buttons) && payload.buttons.some((b) => b && RATE_PAYLOAD.test(b.payload));
    if (payload.event === 'ask_rating' || rateButtons) askRating(true);
    else if (sender !== 'customer') ratingAnswered();
    if (stick || sender === 'customer') log.scrollTop = log.scrollHeight;
  }

  // ---------------------------------------------------------------- greeting and topics
  let options = { greeting: null, reply_time: null, topics: [], telegram: false, notify: {} };
  let lastStatus = 'bot';

  function onOptions(o) {
    if (!o || typeof o !== 'object') return;
    const str = (v) => (typeof v === 'string' && v ? v : null);
    const topics = (Array.isArray(o.topics) ? o.topics : [])
      .filter((t) => t && str(t.title) && str(t.payload)).slice(0, 6);
    options = {
      greeting: str(o.greeting), reply_time: str(o.reply_time), topics,
      telegram: o.telegram === true, notify: o.notify && typeof o.notify === 'object' ? o.notify : {},
    };
    greetingText.textContent = options.greeting || '';
    greetingText.hidden = !options.greeting;
    promise.textContent = options.reply_time || '';
    promise.hidden = !options.reply_time;
    topicsBox.replaceChildren(...topics.map((t) => {
      buttonTitles.set(t.payload, t.title);
      return h('button', {
        type: 'button', 'data-testid': 'rd-topic', 'data-payload': t.payload,
        onclick: () => { sendText(t.payload, t.title); input.focus(); },
      }, t.title);
    }));
    welcomeBox.hidden = !(options.greeting || options.reply_time || topics.length);
    tgOffered = options.telegram;
    tgButton.hidden = !tgOffered || tgOff;
    refreshTopics();
  }

  // Topics start a conversation: offered until the customer writes, and again once it ended.
  function refreshTopics() {
    const wrote = lastConversation
      && log.querySelector(`.msg[data-sender="customer"][data-conversation="${CSS.escape(lastConversation)}"]`);
    topicsBox.hidden = !options.topics.length || (!!wrote && lastStatus !== 'resolved')
      || !!log.querySelector('.msg.pending');
  }

  // ---------------------------------------------------------------- delivered and read
  const convUpTo = new Map(); // conversation -> highest bot/agent message id shown
  const agentMarks = new Map(); // conversation -> {read, received}: the agents' marks (receipt frames)
  let readMark = Number(store.get(KEY.read)) || 0; // the customer has seen bot/agent messages up to here
  let readKnown = store.get(KEY.read) !== null;
  const unread = new Set(); // bot/agent message ids above readMark
  let live = false; // past the first replay of this page load: new arrivals may notify
  let receivedTimer = 0;

  function onReceipt(f) {
    if (typeof f.conversation_id !== 'string') return;
    const idOr0 = (v) => (Number.isInteger(v) && v > 0 ? v : 0);
    const old = agentMarks.get(f.conversation_id) || { read: 0, received: 0 };
    const read = Math.max(old.read, idOr0(f.read_up_to));
    agentMarks.set(f.conversation_id, { read, received: Math.max(old.received, idOr0(f.received_up_to), read) });
    for (const el of log.querySelectorAll(`.msg[data-sender="customer"][data-conversation="${CSS.escape(f.conversation_id)}"]`)) applyMarks(el);
  }

  // "Read" / "Delivered" under the customer's own messages, from the agents' marks.
  function applyMarks(el) {
    const id = Number(el.getAttribute('data-id'));
    const marks = agentMarks.get(el.getAttribute('data-conversation'));
    const state = !marks || !id ? '' : id <= marks.read ? 'read' : id <= marks.received ? 'delivered' : '';
    let mark = el.querySelector('.mark');
    if (!state) { mark?.remove(); return; }
    if (!mark) {
      let meta = el.querySelector('.meta:not(.pending-note)');
      if (!meta) { meta = h('div', { class: 'meta' }); el.append(meta); }
      mark = h('span', { class: 'mark', 'data-testid': 'rd-mark' });
      meta.append(mark);
    }
    mark.setAttribute('data-mark', state);
    l10n(mark, () => (state === 'read' ? T.read : T.delivered));
  }

  // A bot or agent message reached the page: say so (received), and notify if nobody sees it.
  function arrived(id, sender, conv) {
    const firstAgent = sender === 'agent' && conv && !agentSeen.has(conv);
    if (sender === 'agent' && conv) agentSeen.add(conv);
    if (conv) {
      clearTimeout(receivedTimer);
      receivedTimer = setTimeout(() => sendMarks('received'), 300);
    }
    if (!readKnown && !live) return; // an older widget's visitor: their history counts as read
    if (id <= readMark) return;
    unread.add(id);
    if (visible()) { seen(); return; }
    notify();
    if (live && firstAgent && autoOpen()) open();
  }
  const agentSeen = new Set(); // conversations with an agent message already (auto-open once)

  function sendMarks(kind) {
    for (const [conv, upTo] of convUpTo) {
      const key = `${kind}:${conv}`;
      if ((sentMarks.get(key) || 0) >= upTo || (kind === 'read' && upTo > readMark)) continue;
      if (sendFrame({ type: kind, conversation_id: conv, up_to: upTo })) sentMarks.set(key, upTo);
    }
  }
  const sentMarks = new Map(); // "kind:conversation" -> up_to sent on this socket

  const visible = () => !panel.hidden && document.visibilityState === 'visible';

  // The customer sees the panel: everything shown is read.
  function seen() {
    if (!visible()) return;
    if (lastId > readMark) { readMark = lastId; store.set(KEY.read, String(readMark)); readKnown = true; }
    unread.clear();
    renderUnread();
    sendMarks('read');
  }

  // ---------------------------------------------------------------- notifications
  const sound = () => (soundAttr ?? options.notify.sound === true);
  const autoOpen = () => (autoOpenAttr ?? options.notify.auto_open !== 'off');
  let pageTitle = document.title;
  let flashTimer = 0;
  let flashOn = false;

  function notify() {
    renderUnread();
    if (sound() && live) beep();
  }

  function renderUnread() {
    const n = unread.size;
    badge.textContent = n > 99 ? '99+' : String(n);
    badge.hidden = n === 0;
    launcher.setAttribute('aria-label', n ? T.unread(n) : T.launcher);
    if (n && !visible()) startFlash(); else stopFlash();
  }
  bindings.push(renderUnread);

  // The page title alternates "(2) New message" with the page's own while something is unread
  // and the customer is elsewhere; restored as soon as they look.
  function startFlash() {
    if (flashTimer) return;
    pageTitle = document.title;
    const tick = () => {
      flashOn = !flashOn;
      document.title = flashOn ? `(${unread.size}) ${T.newMessage}` : pageTitle;
    };
    tick();
    flashTimer = setInterval(tick, 1000);
  }
  function stopFlash() {
    if (!flashTimer) return;
    clearInterval(flashTimer);
    flashTimer = 0;
    flashOn = false;
    document.title = pageTitle;
  }

  // A short two-note chime made on the spot (no sound file to host). Browsers allow audio only
  // after the page had a gesture; until then this stays silent.
  let audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === 'suspended') audio.resume().catch(() => {});
      const t = audio.currentTime;
      const gain = audio.createGain();
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.35);
      gain.connect(audio.destination);
      const osc = audio.createOscillator();
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(1320, t + 0.12);
      osc.connect(gain);
      osc.start(t);
      osc.stop(t + 0.36);
    } catch { /* no audio here: the badge and the title still tell */ }
  }

  document.addEventListener('visibilitychange', () => { if (visible()) seen(); else renderUnread(); });

  // ---------------------------------------------------------------- typing, language
  let typingSentAt = 0;
  let typingIdle = 0;
  function composing() {
    clearTimeout(typingIdle);
    if (!input.value.trim()) { stopComposing(); return; }
    const now = Date.now();
    if (!typingSentAt || now - typingSentAt >= TYPING_EVERY_MS) {
      if (sendFrame({ type: 'typing', on: true })) typingSentAt = now;
    }
    typingIdle = setTimeout(stopComposing, TYPING_IDLE_MS);
  }
  function stopComposing() {
    clearTimeout(typingIdle);
    if (!typingSentAt) return;
    typingSentAt = 0;
    sendFrame({ type: 'typing', on: false });
  }

  // The header switch: every string again in the other language, remembered, and the server
  // told through a fresh hello (its greeting and topics come back in that language).
  function switchLanguage(to) {
    lang = to;
    T = STRINGS[lang];
    store.set(KEY.language, lang);
    for (const apply of bindings) apply();
    relocalize();
    if (lastState) onState(lastState);
    if (ws) {
      const old = ws;
      ws = null;
      old.onclose = null;
      old.close(1000, 'language');
      connect();
    }
  }

  // ---------------------------------------------------------------- outbox and sending
  function readOutbox() {
    try {
      const v = JSON.parse(store.get(KEY.outbox) || '[]');
      return Array.isArray(v) ? v.filter((o) => o && typeof o.client_id === 'string' && typeof o.text === 'string') : [];
    } catch { return []; }
  }
  // Re-read before every write: another tab of the same shop shares the outbox.
  function writeOutbox(list) { store.set(KEY.outbox, JSON.stringify(list.slice(-50))); }
  function ackOutbox(cid) {
    const list = readOutbox();
    const rest = list.filter((o) => o.client_id !== cid);
    if (rest.length !== list.length) writeOutbox(rest);
  }

  function renderPending(item) {
    const el = buildMessage({ text: item.display || item.text }, 'customer', {});
    el.classList.add('pending');
    el.append(l10n(h('div', { class: 'meta pending-note' }), () => T.pending));
    pendingEls.set(item.client_id, el);
    log.append(el);
    retireQuickReplies(el, false);
    log.scrollTop = log.scrollHeight;
  }

  // Sends over the socket only once the server has welcomed us; otherwise the outbox covers it.
  function sendFrame(frame) {
    if (!ws || !welcomed || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function sendText(raw, display) {
    const text = typeof raw === 'string' ? raw.trim() : '';
    if (!text) return false;
    if ([...text].length > MAX_LEN) { showError(T.tooLong); return false; } // code points, as the server counts
    hideError();
    if (rateState === 'thanked') thanks.hidden = true;
    const item = { client_id: uuid(), text, display: display || text };
    writeOutbox([...readOutbox(), item]);
    renderPending(item);
    if (!sendFrame({ type: 'message', text, client_id: item.client_id }) && !ws && !stopped) {
      attempts = 0; // the customer is waiting: retry now instead of at the end of the backoff
      connect();
    }
    return true;
  }

  function sendFromInput() {
    if (!input.value.trim()) return;
    if (sendText(input.value)) { input.value = ''; autoGrow(); stopComposing(); }
    input.focus();
  }

  // ---------------------------------------------------------------- status and rating
  let lastState = null;
  function onState(s) {
    lastState = s;
    if (typeof s.status === 'string') lastStatus = s.status;
    if (!live) { // the first replay of this page load is drawn
      live = true;
      if (!readKnown) { readMark = lastId; readKnown = true; store.set(KEY.read, String(readMark)); }
      unread.forEach((id) => { if (id <= readMark) unread.delete(id); });
      renderUnread();
    }
    seen();
    refreshTopics();
    let text = '';
    if (s.status === 'queued') text = T.queued(num(s.position), num(s.wait_minutes));
    else if (s.status === 'assigned') text = T.assigned(typeof s.agent === 'string' ? s.agent : '');
    else if (s.status === 'resolved') text = T.resolved;
    else if (s.ticket && typeof s.ticket.number === 'string') {
      text = T.ticket(s.ticket.number, typeof s.ticket.due === 'string' ? s.ticket.due : '');
    }
    status.textContent = text;
    status.hidden = !text;

    // awaiting_rating is authoritative when present; "resolved" is the fallback signal.
    const explicit = typeof s.awaiting_rating === 'boolean';
    if (rateState === 'sent') { if (!s.awaiting_rating) ratingAnswered(); }
    else if (explicit ? s.awaiting_rating : s.status === 'resolved') askRating(explicit);
    else hideRating();
    if (s.status !== 'resolved' && rateState === 'thanked') rateState = 'idle'; // a new conversation
  }

  // idle -> asking -> sent -> thanked. "thanked" blocks the weak "resolved" signal from asking again.
  let rateState = 'idle';
  let pendingRate = null;

  function askRating(explicitAsk) {
    if (rateState === 'asking' || rateState === 'sent') return;
    if (rateState === 'thanked' && !explicitAsk) return;
    rateState = 'asking';
    pickScore(0);
    comment.value = '';
    comment.disabled = false;
    thanks.hidden = true;
    rateForm.hidden = false;
  }

  function hideRating() {
    if (rateState !== 'asking') return;
    rateState = 'idle';
    rateForm.hidden = true;
  }

  function ratingAnswered() {
    if (rateState !== 'sent') return;
    rateState = 'thanked';
    rateForm.hidden = true;
    thanks.hidden = false;
  }

  function pickScore(n) {
    score = n;
    for (const s of stars) { // pressed = the chosen score; the stars below it are only filled in
      const k = Number(s.dataset.score);
      s.setAttribute('aria-pressed', String(k === n));
      s.classList.toggle('on', k <= n);
    }
    rateSubmit.disabled = !n;
  }

  function submitRating() {
    if (rateState !== 'asking' || !score) return;
    const frame = { type: 'rate', score, comment: comment.value.trim() };
    rateState = 'sent';
    rateSubmit.disabled = true;
    comment.disabled = true;
    if (!sendFrame(frame)) pendingRate = frame; // sent after the next welcome
  }

  // ---------------------------------------------------------------- Telegram deep link
  let linkWanted = false; // a click is waiting for its link answer (or for the socket)
  let linkTimer = 0;

  function askTelegramLink() {
    if (linkWanted || tgButton.hidden) return;
    linkWanted = true;
    tgButton.setAttribute('aria-busy', 'true');
    clearTimeout(linkTimer);
    linkTimer = setTimeout(linkDone, 10000); // no answer: let the customer try again
    if (!sendFrame({ type: 'link', channel: 'telegram' }) && !ws && !stopped) { attempts = 0; connect(); }
  }

  function linkDone() {
    linkWanted = false;
    clearTimeout(linkTimer);
    tgButton.removeAttribute('aria-busy');
  }

  function onLink(f) {
    const url = safeUrl(f.url);
    const wanted = linkWanted;
    linkDone();
    // Only an answer to this page's own click opens anything, and only an http(s) URL.
    if (wanted && f.channel === 'telegram' && url) window.open(url, '_blank', 'noopener');
  }

  // The server has no Telegram: stop offering it for this browser session, quietly.
  function telegramUnavailable() {
    linkDone();
    const hadFocus = root.activeElement === tgButton;
    tgButton.hidden = true;
    try { sessionStorage.setItem(TG_OFF, '1'); } catch { /* this page load only */ }
    if (hadFocus) input.focus();
  }

  function onError(f) {
    if (f.code === 'identity') { stopped = true; showConn('identity'); return; }
    if (f.code === 'unavailable') { telegramUnavailable(); return; }
    if ((f.code === 'rate_limited' || f.code === 'retry') && typeof f.client_id === 'string') {
      // Not stored (rate_limited), or not answered (retry: the server's database was away): the
      // message is still in the outbox; send it again after the wait the server asked for (it
      // stays shown as pending meanwhile; the server stores each client_id once).
      const item = readOutbox().find((o) => o.client_id === f.client_id);
      const wait = Math.min(60, Math.max(1, Number(f.retry_after) || 1)) * 1000;
      if (item) setTimeout(() => sendFrame({ type: 'message', text: item.text, client_id: item.client_id }), wait);
      return;
    }
    showError(typeof f.message === 'string' && f.message ? f.message : T.error);
    if (rateState === 'sent') { rateState = 'asking'; rateSubmit.disabled = !score; comment.disabled = false; }
  }

  // ---------------------------------------------------------------- dwell on a product page
  // Visible time on a page whose path contains welcome.options.dwell.path_pattern; at the
  // threshold (data-dwell-seconds, else the server's seconds) one `dwell` frame per page view,
  // sent again after a reconnect until the socket took it (the server stores a view once).
  const dwellAttr = (() => {
    const n = Number(ds.dwellSeconds);
    return ds.dwellSeconds && Number.isInteger(n) && n >= 1 && n <= 86400 ? n : null;
  })();
  const dwellView = uuid(); // this page view
  let dwellNeed = null; // ms of visible time that report the dwell; null: not a dwell page
  let dwellMs = 0;
  let dwellFrom = document.visibilityState === 'visible' ? performance.now() : 0;
  let dwellTimer = 0;
  let dwellSent = false;

  function dwellTick() {
    clearTimeout(dwellTimer);
    const now = performance.now();
    if (dwellFrom) dwellMs += now - dwellFrom;
    dwellFrom = document.visibilityState === 'visible' ? now : 0;
    if (dwellNeed == null || dwellSent) return;
    if (dwellMs >= dwellNeed) {
      dwellSent = sendFrame({
        type: 'dwell', page_url: location.href.slice(0, 500),
        seconds: Math.max(1, Math.round(dwellMs / 1000)), view_id: dwellView,
      });
      return; // not sent: the next welcome ticks again
    }
    if (dwellFrom) dwellTimer = setTimeout(dwellTick, Math.min(1000, dwellNeed - dwellMs + 20));
  }

  function onDwell(o) {
    const d = o && o.dwell && typeof o.dwell === 'object' ? o.dwell : null;
    const pattern = d && typeof d.path_pattern === 'string' ? d.path_pattern : '';
    const seconds = dwellAttr ?? (Number.isInteger(d && d.seconds) && d.seconds > 0 ? d.seconds : null);
    dwellNeed = pattern && seconds && location.pathname.includes(pattern) ? seconds * 1000 : null;
    dwellTick();
  }
  document.addEventListener('visibilitychange', dwellTick);

  // ---------------------------------------------------------------- the socket
  let ws = null;
  let welcomed = false;
  let everWelcomed = false;
  let attempts = 0;
  let retryTimer = 0;
  let stopped = false; // identity refused: retrying would only be refused again

  function connect() {
    clearTimeout(retryTimer);
    if (stopped) return;
    showConn(everWelcomed ? 'reconnecting' : 'connecting');
    let sock;
    try { sock = new WebSocket(wsUrl); } catch { scheduleReconnect(); return; }
    ws = sock;
    welcomed = false;
    sock.onopen = () => {
      // First connect of a page load: after = 0, so the server replays the history we need to
      // draw; later reconnects ask only for what this page has not shown yet.
      const hello = {
        type: 'hello', token: store.get(KEY.token) || null, after: lastId, language: lang, context: pageContext(),
      };
      if (ds.userId) {
        hello.user_id = ds.userId;
        hello.user_hash = ds.userHash || '';
        if (ds.userTs) hello.user_ts = ds.userTs; // when the host signed it; the server checks its age
      }
      sock.send(JSON.stringify(hello));
    };
    sock.onmessage = (ev) => { if (sock === ws) onFrame(ev.data); };
    sock.onerror = () => {}; // a close event always follows; handled there
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      welcomed = false;
      setTyping(false);
      if (ev.code === 4401) { stopped = true; showConn('identity'); return; }
      if (ev.code === 1012) { // the server is restarting: another instance (or it) is back soon
        showConn('reconnecting');
        attempts = 0;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(connect, 200 + Math.random() * 800);
        return;
      }
      scheduleReconnect();
    };
  }

  // Where the customer is, for the agents (hello.context; each value at most 500 characters).
  function pageContext() {
    const cut = (v) => (typeof v === 'string' ? v.slice(0, 500) : '');
    let timezone = '';
    try { timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { /* unknown */ }
    return {
      page_url: cut(location.href), page_title: cut(flashTimer ? pageTitle : document.title),
      referrer: cut(document.referrer), timezone: cut(timezone),
      screen: window.screen ? `${screen.width}x${screen.height}` : '',
    };
  }

  function scheduleReconnect() {
    if (stopped) return;
    showConn(everWelcomed ? 'reconnecting' : 'connecting');
    // 0.5 s doubling to 10 s; ±20 % jitter so many widgets don't reconnect in lockstep.
    const base = Math.min(10000, 500 * 2 ** attempts);
    attempts += 1;
    retryTimer = setTimeout(connect, Math.min(10000, base * (0.8 + Math.random() * 0.4)));
  }

  function onFrame(data) {
    let f;
    try { f = JSON.parse(data); } catch { return; }
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
      case 'welcome':
        if (typeof f.token === 'string' && f.token) store.set(KEY.token, f.token);
        welcomed = true;
        everWelcomed = true;
        attempts = 0;
        showConn('');
        sentMarks.clear();
        onOptions(f.options);
        onDwell(f.options);
        // Resend everything not yet echoed; the server stores each client_id only once.
        for (const o of readOutbox()) sendFrame({ type: 'message', text: o.text, client_id: o.client_id });
        if (pendingRate && sendFrame(pendingRate)) pendingRate = null;
        if (linkWanted) sendFrame({ type: 'link', channel: 'telegram' }); // clicked while offline
        break;
      case 'message': onMessage(f); break;
      case 'state': onState(f); break;
      case 'typing': setTyping(f.on === true, f.who, f.name); break;
      case 'receipt': onReceipt(f); break;
      case 'link': onLink(f); break;
      case 'error': onError(f); break;
      default: break; // unknown frame types are ignored, so the server can add new ones
    }
  }

  // ---------------------------------------------------------------- start
  function init() {
    document.body.append(host);
    for (const item of readOutbox()) renderPending(item); // unsent from an earlier page: still pending
    let wasOpen = false;
    try { wasOpen = sessionStorage.getItem(OPEN_KEY) === '1'; } catch { /* closed */ }
    if (wasOpen) open();
    renderUnread();
    connect();
    window.addEventListener('online', () => { if (!ws && !stopped) { attempts = 0; connect(); } });
  }

  window.relaydesk = {
    open, close,
    send: (text) => sendText(String(text ?? '')),
    socket: () => ws,
    _loaded: true,
  };

  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init, { once: true });
})();
