// What the console's own pages (administration, tickets, knowledge review) share, written once:
// the language choice and string look-up, the page's static texts, building elements (text from
// the server is only ever set as text, never as markup) and the JSON call with the session's
// CSRF token. Served by the console's asset route; loaded before each page's script.
(() => {
  'use strict';

  const pickLang = (tag) => (String(tag || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  // The language the agent chose last (any console page), else the browser's.
  const storedLang = () => pickLang(localStorage.getItem('relaydesk.lang') || navigator.language);
  const locale = (lang) => (lang === 'zh' ? 'zh-CN' : 'en');

  /** t(key, vars) over two languages' strings; currentLang() is asked on every call. */
  const translator = (strings, currentLang) => (key, vars) => {
    const s = strings[currentLang()][key] ?? strings.en[key] ?? key;
    return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
  };

  /** The page's fixed texts: data-i18n, data-i18n-aria-label, data-i18n-placeholder. */
  function applyI18n(t, lang) {
    document.documentElement.lang = locale(lang);
    for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll('[data-i18n-aria-label]')) n.setAttribute('aria-label', t(n.dataset.i18nAriaLabel));
    for (const n of document.querySelectorAll('[data-i18n-placeholder]')) n.placeholder = t(n.dataset.i18nPlaceholder);
  }

  const localTime = (iso, lang, options) => new Date(iso).toLocaleString(locale(lang), options);

  const $ = (id) => document.getElementById(id);

  /** An element; class, text, testid and on<event> are special, string children become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      else if (k === 'testid') node.dataset.testid = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  /**
   * A JSON call with the session cookie; anything but GET carries the CSRF token. A refusal
   * throws an Error with the server's message, its status and the answer (err.data). A failed
   * fetch throws as it is, or, given opts.network, an Error with that message and status 0.
   */
  async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      headers['X-CSRF-Token'] = opts.csrf || '';
    }
    let res;
    try {
      res = await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      if (opts.network === undefined) throw e;
      throw Object.assign(new Error(opts.network), { status: 0 });
    }
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (!res.ok) {
      throw Object.assign(new Error((data && data.message) || `HTTP ${res.status}`), { status: res.status, data });
    }
    return data;
  }

  /**
   * A panel of the dashboard page that follows the dashboard's period: it reads `path?from&to`
   * once the dashboard has read the period from the address, again on every apply, preset and
   * reset, and draws again on a language change. A period the dashboard refuses (it says why
   * next to the form) is not asked for; a refused answer (not a supervisor, signed out) or a
   * network error leaves the panel as it is, since the dashboard reports those itself.
   */
  function followDashboardPeriod(path, render) {
    let last = null;
    async function load() {
      // The form's period; before dashboard.js has filled the form, the page address's.
      const p = new URLSearchParams(location.search);
      const from = ($('f-from') && $('f-from').value) || p.get('from') || '';
      const to = ($('f-to') && $('f-to').value) || p.get('to') || '';
      if (from && to && to < from) return;
      if (document.querySelector('#filters [aria-invalid="true"]')) return;
      const q = new URLSearchParams();
      if (from) q.set('from', from);
      if (to) q.set('to', to);
      try {
        const res = await fetch(`${path}?${q}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
        if (!res.ok) return;
        last = await res.json();
        render(last);
      } catch { /* the dashboard shows its own network errors */ }
    }
    function init() {
      setTimeout(load, 300); // after the dashboard's own script has read the period
      const form = $('filters');
      if (form) form.addEventListener('submit', () => setTimeout(load, 0));
      for (const b of document.querySelectorAll('.preset')) b.addEventListener('click', () => setTimeout(load, 50));
      const reset = $('dash-reset');
      if (reset) reset.addEventListener('click', () => setTimeout(load, 50));
      const sel = $('lang-select');
      if (sel) sel.addEventListener('change', () => { if (last) render(last); });
    }
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
    else init();
  }

  window.RD = Object.freeze({ pickLang, storedLang, locale, translator, applyI18n, localTime, $, el, api, followDashboardPeriod });
})();
