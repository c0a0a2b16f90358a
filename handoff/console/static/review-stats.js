// The dashboard's "Knowledge contributions" table: per agent and month, drafts and changes
// contributed, review decisions made, and their contributions published
// (GET /api/review/contributions). Kept apart from dashboard.js: it owns only #kc-* elements and
// its own strings, and follows the page's language selector.
(() => {
  'use strict';

  const STRINGS = {
    en: {
      heading: 'Knowledge contributions', from: 'From month', to: 'To month', show: 'Show',
      month: 'Month', agent: 'Agent', contributed: 'Contributed', reviewed: 'Reviewed', published: 'Published',
      total: 'Total', none: 'No knowledge contributions in these months.',
      explain: 'Contributed: drafts saved from conversations and changes proposed to published articles. '
        + 'Reviewed: approvals and rejections made. Published: the agent\'s own contributions approved.',
      open_review: 'Open knowledge review', error: 'Could not load the contributions: {msg}',
    },
    zh: {
      heading: '知识贡献', from: '起始月份', to: '结束月份', show: '显示',
      month: '月份', agent: '坐席', contributed: '贡献', reviewed: '审核', published: '发布',
      total: '合计', none: '这些月份没有知识贡献。',
      explain: '贡献：从会话保存的草稿，以及对已发布文章提出的修改。审核：做出的通过和驳回。发布：本人贡献被通过发布的数量。',
      open_review: '打开知识审核', error: '无法加载知识贡献：{msg}',
    },
  };
  const { $, pickLang } = RD;
  let lang = pickLang(navigator.language);
  const t = RD.translator(STRINGS, () => lang);
  const cell = (tag, text, cls) => {
    const n = document.createElement(tag);
    n.textContent = String(text);
    if (cls) n.className = cls;
    return n;
  };

  let rows = null;
  let error = '';

  function applyStatic() {
    for (const n of document.querySelectorAll('[data-kc-i18n]')) n.textContent = t(n.dataset.kcI18n);
  }

  function render() {
    const body = $('kc-body');
    if (!body) return;
    body.replaceChildren();
    $('kc-error').hidden = !error;
    $('kc-error').textContent = error;
    $('kc-empty').hidden = !(rows && rows.length === 0);
    if (!rows) return;
    const sum = { contributed: 0, reviewed: 0, published: 0 };
    const fmt = new Intl.NumberFormat(RD.locale(lang));
    for (const r of rows) {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'kc-row';
      tr.append(cell('td', r.month), cell('td', r.username));
      for (const k of ['contributed', 'reviewed', 'published']) {
        tr.append(cell('td', fmt.format(r[k]), 'num'));
        sum[k] += r[k];
      }
      body.append(tr);
    }
    if (rows.length) {
      const tr = document.createElement('tr');
      tr.className = 'kc-total';
      tr.append(cell('th', t('total')), cell('td', ''));
      for (const k of ['contributed', 'reviewed', 'published']) tr.append(cell('td', fmt.format(sum[k]), 'num'));
      body.append(tr);
    }
  }

  async function load() {
    const q = new URLSearchParams();
    if ($('kc-from').value) q.set('from', $('kc-from').value);
    if ($('kc-to').value) q.set('to', $('kc-to').value);
    try {
      const res = await fetch(`/api/review/contributions?${q}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      const data = await res.json().catch(() => null);
      if (res.status === 401 || res.status === 403) { $('kc').hidden = true; return; }
      if (!res.ok) throw new Error((data && data.message) || `HTTP ${res.status}`);
      $('kc').hidden = false;
      $('kc-from').value = data.from;
      $('kc-to').value = data.to;
      rows = data.rows;
      error = '';
    } catch (e) {
      rows = null;
      error = t('error', { msg: e.message });
    }
    render();
  }

  function init() {
    if (!$('kc')) return;
    applyStatic();
    const select = $('lang-select');
    if (select) {
      select.addEventListener('change', (e) => {
        lang = pickLang(e.target.value);
        applyStatic();
        render();
      });
    }
    $('kc-form').addEventListener('submit', (e) => { e.preventDefault(); load(); });
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
