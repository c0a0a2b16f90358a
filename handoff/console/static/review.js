// relaydesk knowledge review: drafts and articles in review, their diff against the published
// version, edit, submit, approve (publish) and reject with a reason. Text from articles and
// agents is always set as text, never as markup.
(() => {
  'use strict';

  const STRINGS = {
    en: {
      title: 'relaydesk knowledge review', brand: 'relaydesk knowledge review', skip: 'Skip to the article',
      to_console: 'Agent console', to_dashboard: 'Dashboard', language: 'Language',
      checking: 'Checking who is signed in…', login_heading: 'Please sign in',
      login_text: 'Knowledge review uses your agent console session.', login_link: 'Sign in at the console',
      pending: 'Waiting for review', filter: 'Show', f_all: 'All', f_review: 'In review', f_draft: 'Drafts',
      empty: 'Nothing is waiting for review.', revise_heading: 'Change a published article',
      search_label: 'Search published articles', search_placeholder: 'Title or id', search: 'Search',
      no_match: 'No published article matches.', propose: 'Propose a change',
      choose: 'Choose an article on the left.',
      diff_heading: 'Changes against the published version', legend_add: '+ added', legend_del: '− removed',
      new_article: 'New article: everything is added.',
      edit_heading: 'Text', e_title: 'Title', e_questions: 'Customer questions (one per line)',
      e_tags: 'Tags (comma-separated)', e_body: 'Answer', save: 'Save changes', submit: 'Submit for review',
      decide_heading: 'Decision', approve: 'Approve and publish', reason: 'Reason for rejecting (the author sees it)',
      reject: 'Reject', history_heading: 'History', discard: 'Discard',
      confirm_discard: 'Discard this? A new article\'s file is deleted; a proposed change is dropped and the published version stays.',
      discarded: 'Discarded.', ev_discarded: '{who} discarded it',
      st_draft: 'Draft', st_review: 'In review', st_published: 'Published',
      k_new: 'new article', k_revision: 'change to v{v}',
      by: 'by {who}', unknown_author: 'author unknown',
      meta: '{status} · {kind} · {lang} · {category} · {author}',
      rejected_by: 'Rejected by {who}: {reason}', approved_by: 'Approved by {who}',
      earlier: 'Before it was resubmitted: {said}',
      ev_contributed: '{who} saved it from a conversation', ev_revised: '{who} proposed a change',
      ev_edited: '{who} edited it', ev_submitted: '{who} submitted it for review',
      ev_approved: '{who} approved and published v{v}', ev_rejected: '{who} rejected it: {reason}',
      versions: 'Published versions: {list}', versions_none: 'Not published yet.',
      saved: 'Saved.', submitted: 'Submitted for review.', rejected: 'Sent back to the author.',
      published: 'Published as version {v} ({path}). The bot answers from it now.',
      proposed: 'A copy is ready to edit; the published version stays live until approved.',
      need_reason: 'Say why, so the author can fix it.', busy: 'Working…',
      publishing: 'Publishing: writing the file and re-indexing. This can take a minute…',
      stale: 'Someone changed this article since you opened it. The current text is shown now.',
      error: 'Failed: {msg}', network_error: 'The server could not be reached.',
      role_agent: 'agent', role_supervisor: 'supervisor', role_admin: 'admin',
      lang_zh: 'Chinese', lang_en: 'English', returned: 'sent back',
    },
    zh: {
      title: 'relaydesk 知识审核', brand: 'relaydesk 知识审核', skip: '跳到文章',
      to_console: '坐席工作台', to_dashboard: '数据看板', language: '语言',
      checking: '正在确认登录状态…', login_heading: '请先登录',
      login_text: '知识审核使用坐席工作台的登录会话。', login_link: '到工作台登录',
      pending: '待审核', filter: '显示', f_all: '全部', f_review: '审核中', f_draft: '草稿',
      empty: '没有待审核的文章。', revise_heading: '修改已发布的文章',
      search_label: '搜索已发布的文章', search_placeholder: '标题或 ID', search: '搜索',
      no_match: '没有匹配的已发布文章。', propose: '提出修改',
      choose: '请在左侧选择一篇文章。',
      diff_heading: '与已发布版本的差异', legend_add: '+ 新增', legend_del: '− 删除',
      new_article: '新文章：全部为新增内容。',
      edit_heading: '正文', e_title: '标题', e_questions: '客户问法（每行一个）',
      e_tags: '标签（逗号分隔）', e_body: '答案', save: '保存修改', submit: '提交审核',
      decide_heading: '审核决定', approve: '通过并发布', reason: '驳回原因（作者可见）',
      reject: '驳回', history_heading: '记录', discard: '丢弃',
      confirm_discard: '确定丢弃？新文章的文件会被删除；提出的修改会被撤销，已发布版本保持不变。',
      discarded: '已丢弃。', ev_discarded: '{who} 丢弃了它',
      st_draft: '草稿', st_review: '审核中', st_published: '已发布',
      k_new: '新文章', k_revision: '修改 v{v}',
      by: '作者 {who}', unknown_author: '作者未知',
      meta: '{status} · {kind} · {lang} · {category} · {author}',
      rejected_by: '{who} 驳回：{reason}', approved_by: '{who} 已通过',
      earlier: '重新提交前：{said}',
      ev_contributed: '{who} 从会话中保存', ev_revised: '{who} 提出修改',
      ev_edited: '{who} 编辑', ev_submitted: '{who} 提交审核',
      ev_approved: '{who} 通过并发布 v{v}', ev_rejected: '{who} 驳回：{reason}',
      versions: '已发布版本：{list}', versions_none: '尚未发布。',
      saved: '已保存。', submitted: '已提交审核。', rejected: '已退回作者。',
      published: '已发布为第 {v} 版（{path}）。机器人现在按新版本回答。',
      proposed: '已复制一份可编辑的文本；通过前客户仍看到已发布的版本。',
      need_reason: '请写明原因，方便作者修改。', busy: '处理中…',
      publishing: '正在发布：写入文件并重建索引，可能需要一分钟…',
      stale: '在你打开之后有人修改了这篇文章，现在显示的是最新文本。',
      error: '失败：{msg}', network_error: '无法连接服务器。',
      role_agent: '坐席', role_supervisor: '主管', role_admin: '管理员',
      lang_zh: '中文', lang_en: '英文', returned: '已退回',
    },
  };

  const { $, el } = RD;
  let lang = RD.pickLang(navigator.language);
  const t = RD.translator(STRINGS, () => lang);
  const setText = (node, value) => { node.textContent = value == null ? '' : String(value); };

  const S = { me: null, csrf: '', items: [], filter: 'all', current: null, found: [], message: null };

  // ---------------------------------------------------------------- server
  const api = (method, path, body) => RD.api(method, path, body, { csrf: S.csrf, network: t('network_error') });

  const enc = (id) => id.split('/').map(encodeURIComponent).join('/');

  // ---------------------------------------------------------------- messages
  function say(key, vars, kind) {
    S.message = { key, vars, kind };
    renderMessage();
  }
  function renderMessage() {
    const box = $('msg');
    const m = S.message;
    box.className = `rv-msg${m && m.kind ? ` ${m.kind}` : ''}`;
    setText(box, m ? t(m.key, m.vars) : '');
  }
  const fail = (e) => say('error', { msg: e.message }, 'bad');

  // ---------------------------------------------------------------- list
  const statusLabel = (s) => t(`st_${s}`);
  const kindLabel = (it) => (it.kind === 'revision' ? t('k_revision', { v: it.published_version }) : t('k_new'));

  function renderItems() {
    const list = $('items');
    list.replaceChildren();
    const shown = S.items.filter((it) => S.filter === 'all' || it.status === S.filter);
    $('items-empty').hidden = shown.length > 0;
    for (const it of shown) {
      const current = S.current && S.current.id === it.id;
      const rejected = it.status === 'draft' && it.last_decision && it.last_decision.action === 'rejected';
      list.append(el('li', {},
        el('button', {
          type: 'button', class: `rv-item${current ? ' current' : ''}`, testid: 'review-item',
          'data-id': it.id, 'data-status': it.status, 'aria-current': current ? 'true' : undefined,
          onclick: () => open(it.id),
        },
        el('span', { class: 'rv-item-title', lang: it.language }, it.title),
        el('span', { class: 'rv-item-meta' },
          el('span', { class: `rv-badge st-${it.status}` }, statusLabel(it.status)), ' ',
          kindLabel(it), ' · ', it.author ? t('by', { who: it.author }) : t('unknown_author'),
          rejected ? el('span', { class: 'rv-badge st-rejected' }, t('returned')) : null))));
    }
  }

  async function loadItems() {
    const data = await api('GET', '/api/review/items');
    S.items = data.items;
    renderItems();
  }

  // ---------------------------------------------------------------- one article
  function renderDetail() {
    const d = S.current;
    $('placeholder').hidden = !!d;
    $('detail').hidden = !d;
    if (!d) return;
    setText($('d-title'), d.article.title);
    $('d-title').lang = d.language;
    setText($('d-meta'), t('meta', {
      status: statusLabel(d.status), kind: kindLabel(d), lang: t(`lang_${d.language}`), category: d.category,
      author: d.author ? t('by', { who: d.author }) : t('unknown_author'),
    }));
    const dec = d.last_decision;
    $('d-decision').hidden = !dec;
    if (dec) {
      $('d-decision').className = `rv-decision ${dec.superseded ? 'earlier' : dec.action}`;
      const said = dec.action === 'rejected'
        ? t('rejected_by', { who: dec.username, reason: dec.reason || '' })
        : t('approved_by', { who: dec.username });
      setText($('d-decision'), dec.superseded ? t('earlier', { said }) : said);
    }
    const diff = $('d-diff');
    diff.replaceChildren();
    diff.lang = d.language;
    if (!d.published) diff.append(el('span', { class: 'rv-note' }, t('new_article'), '\n'));
    for (const line of d.diff) {
      const cls = line.op === '+' ? 'add' : line.op === '-' ? 'del' : 'same';
      const mark = line.op === '+' ? '+ ' : line.op === '-' ? '− ' : '  ';
      diff.append(el(line.op === '+' ? 'ins' : line.op === '-' ? 'del' : 'span', { class: `rv-line ${cls}` }, mark + line.text, '\n'));
    }
    const a = d.article;
    const editable = d.may_edit;
    for (const id of ['e-title', 'e-questions', 'e-tags', 'e-body']) $(id).disabled = !editable;
    $('e-title').value = a.title;
    $('e-questions').value = a.questions.join('\n');
    $('e-tags').value = a.tags.join(', ');
    $('e-body').value = a.body;
    for (const id of ['e-title', 'e-questions', 'e-body']) $(id).lang = d.language;
    $('save').hidden = !editable;
    $('submit').hidden = d.status !== 'draft';
    $('decide').hidden = !d.may_decide;
    $('discard').hidden = !d.may_discard;
    const events = $('d-events');
    events.replaceChildren();
    for (const e of d.events) {
      const when = RD.localTime(e.at, lang);
      events.append(el('li', {}, el('time', { datetime: e.at }, when), ' ',
        t(`ev_${e.action}`, { who: e.username, v: e.version, reason: e.reason || '' })));
    }
    setText($('d-versions'), d.versions.length
      ? t('versions', { list: d.versions.map((v) => `v${v.version} (${v.updated})`).join(', ') })
      : t('versions_none'));
  }

  async function open(id) {
    S.message = null;
    renderMessage();
    try {
      S.current = await api('GET', `/api/review/items/${enc(id)}`);
    } catch (e) {
      S.current = null;
      fail(e);
    }
    renderItems();
    renderDetail();
    if (S.current) $('rv-detail').focus();
  }

  const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

  // A move on the open article; a 409 because the text changed shows the current text.
  async function move(path, body, doneKey, after) {
    const d = S.current;
    if (!d) return;
    const buttons = document.querySelectorAll('#detail button');
    buttons.forEach((b) => { b.disabled = true; });
    say(path === 'approve' ? 'publishing' : 'busy');
    try {
      const data = await api('POST', `/api/review/items/${enc(d.id)}/${path}`, body);
      await after(data);
      if (doneKey) say(doneKey.key, doneKey.vars ? doneKey.vars(data) : undefined, 'ok');
    } catch (e) {
      if (e.status === 409 && /changed since/.test(e.message)) {
        await open(d.id);
        say('stale', undefined, 'bad');
      } else fail(e);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  async function afterDetail(data) {
    S.current = data;
    await loadItems();
    renderDetail();
  }

  function save(ev) {
    ev.preventDefault();
    const d = S.current;
    return move('edit', {
      title: $('e-title').value,
      body: $('e-body').value,
      questions: lines($('e-questions').value),
      tags: $('e-tags').value.split(/[,，]/).map((s) => s.trim()).filter(Boolean),
      base: d.hash,
    }, { key: 'saved' }, afterDetail);
  }

  const submit = () => move('submit', {}, { key: 'submitted' }, afterDetail);

  const approve = () => move('approve', { base: S.current.hash }, {
    key: 'published', vars: (data) => ({ v: data.published.version, path: data.published.path }),
  }, async () => {
    S.current = null;
    await loadItems();
    renderDetail();
  });

  function reject() {
    const reason = $('reason').value.trim();
    if (!reason) {
      say('need_reason', undefined, 'bad');
      $('reason').focus();
      return undefined;
    }
    return move('reject', { reason }, { key: 'rejected' }, async (data) => {
      $('reason').value = '';
      await afterDetail(data);
    });
  }

  function discard() {
    if (!window.confirm(t('confirm_discard'))) return undefined;
    return move('discard', {}, { key: 'discarded' }, async () => {
      S.current = null;
      await loadItems();
      renderDetail();
    });
  }

  // ---------------------------------------------------------------- published articles
  function renderFound() {
    const list = $('found');
    list.replaceChildren();
    if (S.found === null) return;
    if (!S.found.length) {
      list.append(el('li', { class: 'rv-empty' }, t('no_match')));
      return;
    }
    for (const a of S.found) {
      list.append(el('li', { class: 'rv-found-item' },
        el('span', { lang: a.language }, `${a.title} (v${a.version})`), ' ',
        el('button', { type: 'button', class: 'link', testid: 'revise', 'data-id': a.id, onclick: () => revise(a.id) }, t('propose'))));
    }
  }

  async function search(ev) {
    ev.preventDefault();
    try {
      const q = $('search-q').value.trim();
      S.found = (await api('GET', `/api/review/articles?q=${encodeURIComponent(q)}`)).articles;
    } catch (e) {
      fail(e);
    }
    renderFound();
  }

  async function revise(id) {
    try {
      S.current = await api('POST', `/api/review/articles/${enc(id)}/revise`, {});
      await loadItems();
      renderDetail();
      say('proposed', undefined, 'ok');
    } catch (e) {
      fail(e);
    }
  }

  // ---------------------------------------------------------------- page
  function applyStatic() {
    RD.applyI18n(t, lang);
    document.title = t('title');
    $('lang-select').value = lang;
  }

  function renderMe() {
    if (!S.me) return;
    $('me').hidden = false;
    setText($('me-name'), S.me.display_name);
    setText($('me-role'), t(`role_${S.me.role}`));
    $('to-dashboard').hidden = !['supervisor', 'admin'].includes(S.me.role);
  }

  function setLang(next) {
    lang = next === 'zh' ? 'zh' : 'en';
    applyStatic();
    renderMe();
    renderItems();
    renderDetail();
    renderFound();
    renderMessage();
  }

  function showOnly(id) {
    for (const v of ['boot', 'login-view', 'rv']) $(v).hidden = v !== id;
  }

  async function init() {
    applyStatic();
    $('lang-select').addEventListener('change', (e) => setLang(e.target.value));
    for (const b of document.querySelectorAll('.rv-tab')) {
      b.addEventListener('click', () => {
        S.filter = b.dataset.filter;
        for (const o of document.querySelectorAll('.rv-tab')) o.setAttribute('aria-pressed', String(o === b));
        renderItems();
      });
    }
    $('edit-form').addEventListener('submit', save);
    $('submit').addEventListener('click', submit);
    $('approve').addEventListener('click', approve);
    $('reject').addEventListener('click', reject);
    $('discard').addEventListener('click', discard);
    $('search-form').addEventListener('submit', search);
    S.found = null;
    try {
      const res = await fetch('/api/console/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (res.status === 401) { showOnly('login-view'); return; }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const me = await res.json();
      S.me = me.agent;
      S.csrf = me.csrf;
    } catch (e) {
      setText($('boot'), t('network_error'));
      return;
    }
    renderMe();
    showOnly('rv');
    try {
      await loadItems();
      const wanted = new URLSearchParams(location.search).get('id');
      if (wanted) await open(wanted);
    } catch (e) {
      fail(e);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
