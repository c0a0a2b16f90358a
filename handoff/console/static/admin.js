// The administration page: agents, skill groups and their hours, holidays, canned responses and
// the audit log, over /api/admin/*. The server decides who may do what; this page only hides
// what the caller's role cannot change. Text from the server is only ever set as text.
(() => {
  'use strict';

  const STRINGS = {
    en: {
      title: 'relaydesk administration', brand: 'relaydesk administration', to_console: 'Agent console',
      language: 'Language', signed_out: 'Please sign in', login_link: 'Sign in at the console',
      forbidden: 'Supervisors and admins only', forbidden_hint: 'Ask a supervisor if you need a change to your account.',
      tab_agents: 'Agents', tab_groups: 'Skill groups and hours', tab_holidays: 'Holidays',
      tab_canned: 'Canned responses', tab_audit: 'Audit log',
      username: 'Username', display_name: 'Name', role: 'Role', skills: 'Skills', languages: 'Languages',
      max_chats: 'Max chats', state: 'State', add_agent: 'Add an agent', edit_agent: 'Edit {name}',
      password_optional: 'Password (optional; at least 10 characters)', save: 'Save', cancel: 'Cancel',
      edit: 'Edit', disable: 'Disable', enable: 'Enable', reset_password: 'Reset password',
      disabled: 'disabled', role_agent: 'agent', role_supervisor: 'supervisor', role_admin: 'admin',
      st_online: 'online', st_away: 'away', st_offline: 'offline',
      confirm_disable: 'Disable {name}? They are logged out and cannot log in or take chats.',
      confirm_reset: 'Reset the password of {name}? Their sessions end.',
      new_password: 'New password for {name} (shown once, hand it over safely): ',
      agent_added: 'Added {name}.', agent_saved: 'Saved {name}.',
      groups_hint_admin: 'Hours are daily, in {tz}. Changes apply to the next handoff on every instance.',
      groups_hint_other: 'Only admins change skill groups and their hours. Hours are daily, in {tz}.',
      intents: 'Intents (comma-separated)', categories: 'Knowledge categories (comma-separated)',
      hours: 'Hours', name_zh: 'Name (中文)', name_en: 'Name (English)', delete: 'Delete',
      default_group: 'default group', overflow_group: 'overflow group', add_group: 'Add a skill group',
      group_name: 'Name (a-z, 0-9, _)', add: 'Add', group_saved: 'Saved group {name}.',
      confirm_delete_group: 'Delete the group {name}? Agents lose this skill; its holidays go too.',
      holidays_hint: 'A holiday closes a group (or every group) all day, or sets that day\'s hours. Dates are in {tz}.',
      day: 'Day', holiday_name: 'Name', group: 'Group', all_groups: 'Every group',
      special_hours: 'Hours that day (empty: closed)', add_holiday: 'Add a holiday or special hours',
      closed: 'closed', holiday_added: 'Added {name}.',
      add_canned: 'Add a canned response', canned_title: 'Title', canned_text: 'Text', canned_saved: 'Saved.',
      when: 'When', who: 'Who', action: 'Action', target: 'What', changes: 'Changes', older: 'Older entries',
      deleted: 'Deleted.', error: 'Error: {msg}', network: 'Network error; try again.',
    },
    zh: {
      title: 'relaydesk 管理', brand: 'relaydesk 管理', to_console: '客服工作台', language: '语言',
      signed_out: '请先登录', login_link: '去工作台登录', forbidden: '仅主管和管理员可用',
      forbidden_hint: '如需修改您的账号，请联系主管。',
      tab_agents: '客服', tab_groups: '技能组与服务时间', tab_holidays: '节假日', tab_canned: '快捷回复',
      tab_audit: '操作日志',
      username: '用户名', display_name: '姓名', role: '角色', skills: '技能组', languages: '语言',
      max_chats: '最大接待数', state: '状态', add_agent: '新增客服', edit_agent: '编辑 {name}',
      password_optional: '密码（可选，至少 10 个字符）', save: '保存', cancel: '取消', edit: '编辑',
      disable: '停用', enable: '启用', reset_password: '重置密码', disabled: '已停用',
      role_agent: '客服', role_supervisor: '主管', role_admin: '管理员',
      st_online: '在线', st_away: '离开', st_offline: '离线',
      confirm_disable: '停用 {name}？其登录会被注销，且不能再登录或接待。',
      confirm_reset: '重置 {name} 的密码？其登录会被注销。',
      new_password: '{name} 的新密码（只显示这一次，请安全转交）：',
      agent_added: '已新增 {name}。', agent_saved: '已保存 {name}。',
      groups_hint_admin: '服务时间为每天的时间段（{tz}）。修改对所有实例的下一次转人工生效。',
      groups_hint_other: '只有管理员可以修改技能组和服务时间。服务时间为每天的时间段（{tz}）。',
      intents: '意图（逗号分隔）', categories: '知识分类（逗号分隔）', hours: '服务时间',
      name_zh: '名称（中文）', name_en: '名称（English）', delete: '删除', default_group: '默认组',
      overflow_group: '溢出组', add_group: '新增技能组', group_name: '名称（a-z、0-9、_）', add: '添加',
      group_saved: '已保存技能组 {name}。',
      confirm_delete_group: '删除技能组 {name}？客服会失去该技能，其节假日设置也会删除。',
      holidays_hint: '节假日可让某个技能组（或全部技能组）全天休息，或设置当天的服务时间。日期按 {tz}。',
      day: '日期', holiday_name: '名称', group: '技能组', all_groups: '全部技能组',
      special_hours: '当天服务时间（留空：休息）', add_holiday: '新增节假日或特殊服务时间', closed: '休息',
      holiday_added: '已添加 {name}。',
      add_canned: '新增快捷回复', canned_title: '标题', canned_text: '内容', canned_saved: '已保存。',
      when: '时间', who: '操作人', action: '操作', target: '对象', changes: '变更', older: '更早的记录',
      deleted: '已删除。', error: '错误：{msg}', network: '网络错误，请重试。',
    },
  };
  const { $ } = RD;
  let lang = RD.storedLang();
  const t = RD.translator(STRINGS, () => lang);

  /** An element with attributes/properties and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k in node && k !== 'list') node[k] = v;
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  let csrf = '';
  let me = null;
  let settings = null;
  let agents = [];
  let auditBefore = null;
  let tab = 'agents';
  let editing = null; // username being edited, or null for a new agent

  function flash(text, ok = true) {
    const f = $('flash');
    f.textContent = text;
    f.className = `flash ${ok ? 'ok' : 'bad'}`;
  }

  // A refusal or a lost connection is flashed, then thrown on to the caller.
  async function api(method, path, body) {
    try {
      return await RD.api(method, path, body, { csrf });
    } catch (e) {
      if (e.status === undefined) flash(t('network'), false);
      else flash(t('error', { msg: (e.data && e.data.message) || e.status }), false);
      throw e;
    }
  }

  const csv = (s) => String(s || '').split(/[,，]/).map((x) => x.trim()).filter(Boolean);
  const roleName = (r) => t(`role_${r}`);
  const localTime = (iso) => RD.localTime(iso, lang);

  // -- agents --------------------------------------------------------------------------------
  function renderAgents() {
    const body = $('agents-body');
    body.replaceChildren(...agents.map((a) => {
      const mayTouch = me.role === 'admin' || a.role === 'agent';
      const state = a.disabled
        ? el('span', { className: 'badge off' }, t('disabled'))
        : el('span', { className: `badge ${a.status === 'online' ? 'on' : ''}` }, t(`st_${a.status}`));
      const actions = !mayTouch ? [] : [
        el('button', { type: 'button', on: { click: () => startEdit(a) } }, t('edit')),
        a.username === me.username ? null : el('button', {
          type: 'button', className: a.disabled ? '' : 'danger', dataset: { testid: `toggle-${a.username}` },
          on: { click: () => toggle(a) },
        }, a.disabled ? t('enable') : t('disable')),
        el('button', { type: 'button', on: { click: () => resetPassword(a) } }, t('reset_password')),
      ];
      return el('tr', { className: a.disabled ? 'disabled' : '', dataset: { username: a.username } },
        el('td', {}, a.username), el('td', {}, a.display_name), el('td', {}, roleName(a.role)),
        el('td', {}, a.skills.join(', ') || '—'), el('td', {}, a.languages.join(', ')),
        el('td', {}, String(a.max_concurrent)), el('td', {}, state),
        el('td', {}, el('div', { className: 'row-actions' }, actions)));
    }));
    const roles = $('agent-form').elements.role;
    const allowed = me.role === 'admin' ? ['agent', 'supervisor', 'admin'] : ['agent'];
    const current = roles.value;
    roles.replaceChildren(...allowed.map((r) => el('option', { value: r }, roleName(r))));
    if (allowed.includes(current)) roles.value = current;
  }

  function renderSkillChecks(selected) {
    const names = settings ? settings.groups.map((g) => g.name) : [];
    $('agent-skills').replaceChildren(...names.map((n) => el('label', {},
      el('input', { type: 'checkbox', name: 'skill', value: n, checked: selected.includes(n) }), ` ${n}`)));
  }

  function startEdit(a) {
    editing = a.username;
    const f = $('agent-form');
    f.elements.username.value = a.username;
    f.elements.username.readOnly = true;
    f.elements.display_name.value = a.display_name;
    f.elements.role.value = a.role;
    f.elements.max_concurrent.value = a.max_concurrent;
    for (const c of f.querySelectorAll('input[name=lang]')) c.checked = a.languages.includes(c.value);
    renderSkillChecks(a.skills);
    $('agent-password-row').hidden = true;
    $('agent-cancel').hidden = false;
    $('agent-form-title').textContent = t('edit_agent', { name: a.display_name });
    f.elements.display_name.focus();
  }

  function resetForm() {
    editing = null;
    const f = $('agent-form');
    f.reset();
    f.elements.username.readOnly = false;
    renderSkillChecks([]);
    $('agent-password-row').hidden = false;
    $('agent-cancel').hidden = true;
    $('agent-form-title').textContent = t('add_agent');
  }

  async function saveAgent(ev) {
    ev.preventDefault();
    const f = $('agent-form');
    const fields = {
      display_name: f.elements.display_name.value.trim() || f.elements.username.value.trim(),
      role: f.elements.role.value,
      skills: [...f.querySelectorAll('input[name=skill]:checked')].map((c) => c.value),
      languages: [...f.querySelectorAll('input[name=lang]:checked')].map((c) => c.value),
      max_concurrent: Number(f.elements.max_concurrent.value),
    };
    try {
      if (editing) {
        const target = agents.find((a) => a.username === editing);
        if (target && target.role === fields.role) delete fields.role; // unchanged: not a role change
        await api('POST', `/api/admin/agents/${encodeURIComponent(editing)}`, fields);
        flash(t('agent_saved', { name: fields.display_name }));
      } else {
        const body = { username: f.elements.username.value.trim(), ...fields };
        if (f.elements.password.value) body.password = f.elements.password.value;
        await api('POST', '/api/admin/agents', body);
        flash(t('agent_added', { name: fields.display_name }));
      }
      resetForm();
      await loadAgents();
    } catch (e) { /* flashed */ }
  }

  async function toggle(a) {
    if (!a.disabled && !confirm(t('confirm_disable', { name: a.display_name }))) return;
    try {
      await api('POST', `/api/admin/agents/${encodeURIComponent(a.username)}/${a.disabled ? 'enable' : 'disable'}`, {});
      await loadAgents();
      flash(t('agent_saved', { name: a.display_name }));
    } catch (e) { /* flashed */ }
  }

  async function resetPassword(a) {
    if (!confirm(t('confirm_reset', { name: a.display_name }))) return;
    try {
      const res = await api('POST', `/api/admin/agents/${encodeURIComponent(a.username)}/password`, {});
      const f = $('flash');
      f.className = 'flash ok';
      f.replaceChildren(t('new_password', { name: a.display_name }), el('span', { className: 'secret' }, res.password));
    } catch (e) { /* flashed */ }
  }

  async function loadAgents() {
    const data = await api('GET', '/api/admin/agents');
    agents = data.agents;
    renderAgents();
  }

  // -- skill groups --------------------------------------------------------------------------
  function renderGroups() {
    const may = settings.may_edit_groups;
    $('groups-hint').textContent = t(may ? 'groups_hint_admin' : 'groups_hint_other', { tz: settings.timezone });
    $('group-new').hidden = !may;
    $('groups-list').replaceChildren(...settings.groups.map((g) => {
      const marks = [];
      if (g.name === settings.default_group) marks.push(t('default_group'));
      if (g.name === settings.overflow_group) marks.push(t('overflow_group'));
      const input = (name, value, label, extra) => el('label', {}, el('span', {}, label),
        el('input', { name, value, disabled: !may, ...extra }));
      const form = el('form', { className: 'card', dataset: { group: g.name }, novalidate: true },
        el('h3', {}, g.name, marks.length ? ` (${marks.join(', ')})` : ''),
        input('name_zh', g.display_name.zh || '', t('name_zh'), { maxLength: 100 }),
        input('name_en', g.display_name.en || '', t('name_en'), { maxLength: 100 }),
        input('hours', g.hours, t('hours'), { maxLength: 11, dataset: { testid: `hours-${g.name}` } }),
        el('fieldset', {}, el('legend', {}, t('languages')), el('div', { className: 'checks' },
          ['zh', 'en'].map((l) => el('label', {}, el('input', {
            type: 'checkbox', name: 'lang', value: l, checked: g.languages.includes(l), disabled: !may,
          }), ` ${l}`)))),
        input('intents', g.intents.join(', '), t('intents'), { size: 40 }),
        input('categories', g.categories.join(', '), t('categories'), { size: 30 }),
        may ? el('div', { className: 'actions' },
          el('button', { type: 'submit' }, t('save')),
          el('button', { type: 'button', className: 'danger', on: { click: () => deleteGroup(g.name) } }, t('delete')))
          : null);
      form.addEventListener('submit', (ev) => { ev.preventDefault(); saveGroup(g.name, form); });
      return form;
    }));
  }

  async function saveGroup(name, form) {
    const e = form.elements;
    const names = {};
    if (e.name_zh.value.trim()) names.zh = e.name_zh.value.trim();
    if (e.name_en.value.trim()) names.en = e.name_en.value.trim();
    try {
      await api('POST', `/api/admin/groups/${encodeURIComponent(name)}`, {
        hours: e.hours.value.trim(),
        languages: [...form.querySelectorAll('input[name=lang]:checked')].map((c) => c.value),
        intents: csv(e.intents.value), categories: csv(e.categories.value), display_name: names,
      });
      await loadSettings();
      flash(t('group_saved', { name }));
    } catch (err) { /* flashed */ }
  }

  async function deleteGroup(name) {
    if (!confirm(t('confirm_delete_group', { name }))) return;
    try {
      await api('POST', `/api/admin/groups/${encodeURIComponent(name)}/delete`, {});
      await loadSettings();
      flash(t('deleted'));
    } catch (err) { /* flashed */ }
  }

  async function addGroup(ev) {
    ev.preventDefault();
    const name = $('group-new').elements.name.value.trim();
    try {
      await api('POST', `/api/admin/groups/${encodeURIComponent(name)}`, { hours: '09:00-21:00' });
      $('group-new').reset();
      await loadSettings();
      flash(t('group_saved', { name }));
    } catch (err) { /* flashed */ }
  }

  // -- holidays ------------------------------------------------------------------------------
  function renderHolidays() {
    $('holidays-hint').textContent = t('holidays_hint', { tz: settings.timezone });
    const sel = $('holiday-group');
    const current = sel.value;
    sel.replaceChildren(el('option', { value: '' }, t('all_groups')),
      ...settings.groups.map((g) => el('option', { value: g.name }, g.name)));
    sel.value = current;
    $('holidays-body').replaceChildren(...settings.holidays.map((h) => el('tr', {},
      el('td', {}, h.day), el('td', {}, h.name), el('td', {}, h.skill_group || t('all_groups')),
      el('td', {}, h.hours || t('closed')),
      el('td', {}, el('button', { type: 'button', className: 'danger', on: { click: () => deleteHoliday(h.id) } }, t('delete'))))));
  }

  async function addHoliday(ev) {
    ev.preventDefault();
    const e = $('holiday-form').elements;
    try {
      await api('POST', '/api/admin/holidays', {
        day: e.day.value, name: e.name.value.trim(),
        skill_group: e.skill_group.value || null, hours: e.hours.value.trim() || null,
      });
      flash(t('holiday_added', { name: e.name.value.trim() }));
      $('holiday-form').reset();
      await loadSettings();
    } catch (err) { /* flashed */ }
  }

  async function deleteHoliday(id) {
    try {
      await api('POST', `/api/admin/holidays/${id}/delete`, {});
      await loadSettings();
      flash(t('deleted'));
    } catch (err) { /* flashed */ }
  }

  // -- canned responses ----------------------------------------------------------------------
  function renderCanned() {
    $('canned-list').replaceChildren(...['zh', 'en'].map((l) => el('section', {},
      el('h2', {}, l === 'zh' ? '中文' : 'English'),
      ...settings.canned.filter((c) => c.language === l).map((c) => {
        const form = el('form', { className: 'card', novalidate: true },
          el('label', {}, el('span', {}, t('canned_title')), el('input', { name: 'title', value: c.title, maxLength: 100 })),
          el('label', {}, el('span', {}, t('canned_text')), el('textarea', { name: 'text', rows: 2, maxLength: 2000, value: c.text })),
          el('div', { className: 'actions' }, el('button', { type: 'submit' }, t('save')),
            el('button', { type: 'button', className: 'danger', on: { click: () => deleteCanned(c.id) } }, t('delete'))));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          try {
            await api('POST', `/api/admin/canned/${c.id}`, { title: form.elements.title.value, text: form.elements.text.value });
            await loadSettings();
            flash(t('canned_saved'));
          } catch (err) { /* flashed */ }
        });
        return form;
      }))));
  }

  async function addCanned(ev) {
    ev.preventDefault();
    const e = $('canned-form').elements;
    try {
      await api('POST', '/api/admin/canned', { language: e.language.value, title: e.title.value, text: e.text.value });
      $('canned-form').reset();
      await loadSettings();
      flash(t('canned_saved'));
    } catch (err) { /* flashed */ }
  }

  async function deleteCanned(id) {
    try {
      await api('POST', `/api/admin/canned/${id}/delete`, {});
      await loadSettings();
      flash(t('deleted'));
    } catch (err) { /* flashed */ }
  }

  // -- audit log -----------------------------------------------------------------------------
  async function loadAudit(more) {
    const q = more && auditBefore ? `?before=${auditBefore}` : '';
    const data = await api('GET', `/api/admin/audit${q}`);
    const rows = data.entries.map((e) => el('tr', {},
      el('td', {}, localTime(e.at)), el('td', {}, e.actor), el('td', {}, e.action), el('td', {}, e.target),
      el('td', { className: 'changes' }, JSON.stringify(e.changes, null, 1))));
    if (more) $('audit-body').append(...rows); else $('audit-body').replaceChildren(...rows);
    auditBefore = data.entries.length ? data.entries[data.entries.length - 1].id : auditBefore;
    $('audit-more').hidden = data.entries.length < 100;
  }

  // -- page ----------------------------------------------------------------------------------
  async function loadSettings() {
    settings = await api('GET', '/api/admin/settings');
    renderGroups();
    renderHolidays();
    renderCanned();
    if (!editing) renderSkillChecks([...document.querySelectorAll('#agent-skills input:checked')].map((c) => c.value));
  }

  function show(name) {
    tab = name;
    for (const b of document.querySelectorAll('[data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
    for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== `panel-${name}`;
    if (name === 'audit') loadAudit(false).catch(() => {});
  }

  function applyLang() {
    RD.applyI18n(t, lang);
    $('lang-select').value = lang;
    if (me) $('me').textContent = `${me.display_name} · ${roleName(me.role)}`;
    if (settings) { renderGroups(); renderHolidays(); renderCanned(); }
    if (agents.length) renderAgents();
    if (me && editing === null) $('agent-form-title').textContent = t('add_agent');
  }

  async function start() {
    applyLang();
    $('lang-select').addEventListener('change', (ev) => {
      lang = ev.target.value;
      localStorage.setItem('relaydesk.lang', lang);
      applyLang();
    });
    const res = await fetch('/api/console/me', { credentials: 'same-origin' });
    if (res.status === 401) { $('signed-out').hidden = false; return; }
    const who = await res.json();
    me = who.agent;
    csrf = who.csrf;
    $('me').textContent = `${me.display_name} · ${roleName(me.role)}`;
    if (me.role !== 'supervisor' && me.role !== 'admin') { $('forbidden').hidden = false; return; }
    $('app').hidden = false;
    for (const b of document.querySelectorAll('[data-tab]')) b.addEventListener('click', () => show(b.dataset.tab));
    $('agent-form').addEventListener('submit', saveAgent);
    $('agent-cancel').addEventListener('click', resetForm);
    $('group-new').addEventListener('submit', addGroup);
    $('holiday-form').addEventListener('submit', addHoliday);
    $('canned-form').addEventListener('submit', addCanned);
    $('audit-more').addEventListener('click', () => loadAudit(true).catch(() => {}));
    await loadSettings();
    await loadAgents();
    show(tab);
  }

  document.addEventListener('DOMContentLoaded', () => { start().catch(() => {}); });
})();
