// The tickets page: the queue of the agent's skill groups, their own tickets (and, for
// supervisors, every open ticket), one ticket's clocks, actions, notes, updates and history.
// Text from the server is only ever set as text, never as markup.
(() => {
  'use strict';

  const STRINGS = {
    en: {
      title: 'relaydesk tickets', brand: 'relaydesk tickets', skip: 'Skip to the ticket',
      to_console: 'Agent console', dashboard: 'Dashboard', alerts: 'Alerts', language: 'Language',
      checking: 'Checking who is signed in…', signed_out: 'Please sign in', login_link: 'Sign in at the console',
      mark_read: 'Mark all read', lists: 'Ticket lists', queue: 'Queue', mine: 'My tickets', all: 'All open',
      group: 'Skill group', tier: 'Tier', any: 'Any', all_groups: 'All my groups', empty: 'No tickets here.',
      pick: 'Pick a ticket on the left.', customer: 'Customer', holder: 'Held by', nobody: 'nobody',
      first_response: 'First response', resolution: 'Resolution', claim: 'Claim', assign_to: 'Assign to',
      assign: 'Assign', back_to_queue: '(back to the queue)', move_to: 'Move to', move: 'Move',
      escalate: 'Escalate to tier 2', cross: 'Cross-department (longer resolution time)',
      update_label: 'Progress update (the customer receives it)', send_update: 'Send to customer',
      note_label: 'Internal note (agents only)', save_note: 'Save note', follow_up: 'Follow-up',
      history: 'History', tier_n: 'Tier {n}', conversation: 'Conversation with the customer',
      s_customer: 'Customer', s_bot: 'Bot', s_agent: 'Agent', s_system: 'System',
      due_in: 'due in {t}', overdue: 'overdue by {t}', met: 'met at {at}', late: 'late: {at} (due {due})',
      breached: 'SLA breached',
      st_new: 'Open', st_assigned: 'Assigned', st_in_progress: 'In progress',
      st_waiting_customer: 'Waiting on customer', st_resolved: 'Resolved', st_closed: 'Closed',
      k_status: 'Status: {s}', k_assigned: 'Assignment', k_note: 'Internal note', k_update: 'Sent to the customer',
      k_escalated: 'Escalated to tier 2', k_details: 'Details changed', k_follow_up: 'Follow-up',
      fu_pending: 'Follow-up due {at}, not sent yet.', fu_sent: 'Follow-up sent {at}; no answer yet.',
      fu_answer: 'Solved: {solved}. Fast enough: {fast}. Suggestions: {sug}', yes: 'yes', no: 'no',
      alert_escalated: '{n} went to tier 2: {text}', sent_ok: 'Sent to the customer on {channel}.',
      window_closed: 'The channel window is closed ({why}); the update goes by template message where one is configured.',
      network: 'Network error; retrying.', error: 'Error',
    },
    zh: {
      title: 'relaydesk 工单', brand: 'relaydesk 工单', skip: '跳到工单', to_console: '客服工作台',
      dashboard: '数据看板', alerts: '提醒', language: '语言', checking: '正在确认登录状态…',
      signed_out: '请先登录', login_link: '去工作台登录', mark_read: '全部标为已读', lists: '工单列表',
      queue: '待领取', mine: '我的工单', all: '全部未结', group: '技能组', tier: '层级', any: '全部',
      all_groups: '我的全部技能组', empty: '这里没有工单。', pick: '请在左侧选择一个工单。', customer: '客户',
      holder: '处理人', nobody: '无人', first_response: '首次响应', resolution: '解决时限', claim: '领取',
      assign_to: '指派给', assign: '指派', back_to_queue: '（退回队列）', move_to: '改为', move: '更新状态',
      escalate: '升级到二线', cross: '跨部门（解决时限更长）', update_label: '进展更新（客户会收到）',
      send_update: '发送给客户', note_label: '内部备注（仅客服可见）', save_note: '保存备注', follow_up: '回访',
      history: '处理记录', tier_n: '{n} 线', conversation: '与客户的对话',
      s_customer: '客户', s_bot: '机器人', s_agent: '客服', s_system: '系统', due_in: '剩余 {t}', overdue: '已超时 {t}', met: '已于 {at} 达成',
      late: '超时达成：{at}（时限 {due}）', breached: '已违反 SLA',
      st_new: '待处理', st_assigned: '已分配', st_in_progress: '处理中', st_waiting_customer: '等待客户',
      st_resolved: '已解决', st_closed: '已关闭',
      k_status: '状态：{s}', k_assigned: '分配', k_note: '内部备注', k_update: '已发送给客户',
      k_escalated: '已升级到二线', k_details: '信息变更', k_follow_up: '回访',
      fu_pending: '回访将于 {at} 发送。', fu_sent: '回访已于 {at} 发送，尚未回复。',
      fu_answer: '已解决：{solved}。够快：{fast}。建议：{sug}', yes: '是', no: '否',
      alert_escalated: '{n} 已升级到二线：{text}', sent_ok: '已通过 {channel} 发送给客户。',
      window_closed: '该渠道的会话窗口已关闭（{why}），已配置模板消息时将以模板消息送达。',
      network: '网络错误，正在重试。', error: '错误',
    },
  };
  const { $, el } = RD;
  let lang = RD.storedLang();
  const t = RD.translator(STRINGS, () => lang);

  const S = { me: null, csrf: '', view: 'queue', list: [], current: null, ticket: null, agents: [], groups: [] };
  const SUPER = () => S.me && ['supervisor', 'admin'].includes(S.me.role);

  // ---------------------------------------------------------------- talking to the server
  const api = (method, path, body) => RD.api(method, path, body, { csrf: S.csrf });
  const showError = (msg) => { $('tk-error').textContent = msg || ''; };

  // ---------------------------------------------------------------- time
  const fmtTime = (iso) => (iso ? RD.localTime(iso, lang, {
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }) : '');
  function span(seconds) {
    const s = Math.abs(Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h >= 24) return `${Math.floor(h / 24)}d ${h % 24}h`;
    return h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
  }
  // A clock's text now: counting down locally between reloads.
  function clockText(c) {
    if (!c || !c.due_at) return '—';
    if (c.done_at) return c.breached ? t('late', { at: fmtTime(c.done_at), due: fmtTime(c.due_at) }) : t('met', { at: fmtTime(c.done_at) });
    const left = (new Date(c.due_at) - Date.now()) / 1000;
    return left >= 0 ? t('due_in', { t: span(left) }) : t('overdue', { t: span(left) });
  }
  const clockLate = (c) => !!(c && c.due_at && (c.breached || (!c.done_at && new Date(c.due_at) < Date.now())));

  // ---------------------------------------------------------------- the list
  async function loadList() {
    const q = new URLSearchParams({ view: S.view });
    const g = $('f-group').value, tier = $('f-tier').value;
    if (g && S.view !== 'mine') q.set('group', g);
    if (tier) q.set('tier', tier);
    try {
      const data = await api('GET', `/api/tickets?${q}`);
      S.list = data.tickets; S.agents = data.agents;
      if (!S.groups.length) { S.groups = data.groups; fillGroups(); }
      renderList();
      showError('');
    } catch (e) { showError(e.status ? e.message : t('network')); }
  }

  function fillGroups() {
    const sel = $('f-group');
    sel.replaceChildren(el('option', { value: '', text: t('all_groups') }), ...S.groups.map((g) => el('option', { value: g, text: g })));
  }

  function renderList() {
    const list = $('tk-list');
    list.replaceChildren(...S.list.map((tk) => {
      const late = clockLate(tk.sla.first_response) || clockLate(tk.sla.resolution);
      return el('li', {
        class: `tk-item${late ? ' breached' : ''}${tk.number === S.current ? ' current' : ''}`,
        testid: 'ticket-item', 'data-number': tk.number, tabindex: 0,
        onclick: () => open(tk.number),
        onkeydown: (ev) => { if (ev.key === 'Enter') open(tk.number); },
      },
      el('div', { class: 'tk-row' }, el('span', { class: 'num', text: tk.number }),
        el('span', { class: 'tk-badges' },
          el('span', { class: `badge st-${tk.status}`, text: t(`st_${tk.status}`) }),
          tk.tier >= 2 ? el('span', { class: 'badge tier2', text: t('tier_n', { n: tk.tier }) }) : null,
          late ? el('span', { class: 'badge late', testid: 'breach-badge', text: t('breached') }) : null)),
      el('span', { class: 'subject', text: tk.subject }),
      el('span', { class: 'meta', text: `${tk.skill_group || ''} · ${t('first_response')}: ${clockText(tk.sla.first_response)}` }));
    }));
    $('tk-empty').hidden = S.list.length > 0;
  }

  // ---------------------------------------------------------------- one ticket
  async function open(number) {
    S.current = number;
    renderList();
    try {
      const data = await api('GET', `/api/tickets/${encodeURIComponent(number)}`);
      S.ticket = data.ticket;
      renderTicket();
      showError('');
    } catch (e) { showError(e.message); }
  }

  function renderClock(id, c) {
    const box = $(id);
    box.querySelector('dd').textContent = clockText(c);
    box.classList.toggle('breached', clockLate(c));
    box.classList.toggle('met', !!(c && c.done_at && !c.breached));
  }

  function renderTicket() {
    const tk = S.ticket;
    $('detail-empty').hidden = !!tk;
    $('detail').hidden = !tk;
    if (!tk) return;
    $('d-number').textContent = tk.number;
    $('d-subject').textContent = tk.subject;
    const st = $('d-status');
    st.textContent = t(`st_${tk.status}`); st.className = `badge st-${tk.status}`; st.dataset.status = tk.status;
    const tier = $('d-tier');
    tier.textContent = t('tier_n', { n: tk.tier }); tier.className = `badge${tk.tier >= 2 ? ' tier2' : ''}`;
    $('d-group').textContent = tk.skill_group || '';
    $('d-customer').textContent = (tk.customer && (tk.customer.name || tk.customer.id)) || tk.customer_id;
    $('d-holder').textContent = tk.assigned_to ? tk.assigned_to.display_name : t('nobody');
    renderClock('clock-first', tk.sla.first_response);
    renderClock('clock-resolution', tk.sla.resolution);

    const mineNow = tk.assigned_to && tk.assigned_to.username === S.me.username;
    const canWork = mineNow || SUPER();
    const done = tk.status === 'resolved' || tk.status === 'closed';
    $('a-claim').hidden = !!tk.assigned_to || done;
    $('a-assign-box').hidden = !SUPER() || tk.status === 'closed';
    $('a-assign-go').hidden = !SUPER() || tk.status === 'closed';
    $('a-assign').replaceChildren(
      el('option', { value: '', text: t('back_to_queue') }),
      ...S.agents.map((a) => el('option', { value: a.username, text: a.display_name, selected: tk.assigned_to && tk.assigned_to.username === a.username })),
    );
    const moves = $('a-status');
    moves.replaceChildren(...tk.moves.map((m) => el('option', { value: m, text: t(`st_${m}`) })));
    for (const id of ['a-status', 'a-move']) $(id).disabled = !canWork || !tk.moves.length;
    $('a-escalate').hidden = tk.tier >= 2 || done;
    $('a-escalate').disabled = !canWork;
    $('a-cross').checked = !!tk.cross_department;
    $('a-cross').disabled = !canWork || done;
    $('update-form').hidden = !canWork || tk.status === 'closed';

    const fu = tk.follow_up;
    $('d-followup').hidden = !fu;
    if (fu) {
      const yn = (v) => (v === null || v === undefined ? '—' : t(v ? 'yes' : 'no'));
      $('d-followup-text').textContent = fu.answered_at
        ? t('fu_answer', { solved: yn(fu.solved), fast: yn(fu.fast_enough), sug: fu.suggestions || '—' })
        : fu.sent_at ? t('fu_sent', { at: fmtTime(fu.sent_at) }) : t('fu_pending', { at: fmtTime(fu.due_at) });
    }
    $('d-conv').replaceChildren(...(tk.conversation || []).map((m) => el('li', { class: `s-${m.sender}`, 'data-sender': m.sender },
      el('div', { class: 'meta', text: `${fmtTime(m.at)} · ${t(`s_${m.sender}`)}` }), el('div', { text: m.text }))));
    $('d-history').replaceChildren(...tk.history.map((e) => el('li', { class: `k-${e.kind}`, 'data-kind': e.kind },
      el('div', { class: 'meta', text: `${fmtTime(e.at)} · ${(S.agents.find((a) => a.username === e.actor) || {}).display_name || e.actor || ''} · ${e.kind === 'status' ? t('k_status', { s: t(`st_${e.status}`) }) : t(`k_${e.kind}`)}` }),
      e.note ? el('div', { text: e.note }) : null)));
  }

  async function act(method, path, body) {
    try {
      const data = await api(method, path, body);
      if (data && data.ticket) { S.ticket = { ...S.ticket, ...data.ticket }; }
      await open(S.current);
      await loadList();
      return data;
    } catch (e) { showError(e.message); return null; }
  }
  const base = () => `/api/tickets/${encodeURIComponent(S.current)}`;

  // ---------------------------------------------------------------- alerts
  async function loadAlerts() {
    try {
      const data = await api('GET', '/api/tickets/alerts');
      $('alerts-button').hidden = !(SUPER() || data.alerts.length);
      $('alerts-count').textContent = String(data.unread);
      $('alerts-button').classList.toggle('unread', data.unread > 0);
      $('alerts-list').replaceChildren(...data.alerts.map((a) => el('li', { class: a.read_at ? 'meta' : '', testid: 'alert-item' },
        el('a', { href: '#', text: t('alert_escalated', { n: a.ticket_number, text: a.text }), onclick: (ev) => { ev.preventDefault(); S.view = 'all'; markTab(); open(a.ticket_number); } }),
        ` · ${fmtTime(a.created_at)}`)));
    } catch { /* the list's own error says it */ }
  }

  // ---------------------------------------------------------------- wiring
  function markTab() {
    for (const b of document.querySelectorAll('.tk-tab')) b.setAttribute('aria-selected', String(b.dataset.view === S.view));
  }

  function applyStatic() {
    RD.applyI18n(t, lang);
    document.title = t('title');
    $('lang-select').value = lang;
  }

  function wire() {
    $('lang-select').addEventListener('change', (ev) => {
      lang = RD.pickLang(ev.target.value);
      localStorage.setItem('relaydesk.lang', lang);
      applyStatic(); if (S.groups.length) fillGroups(); renderList(); renderTicket(); loadAlerts();
    });
    for (const b of document.querySelectorAll('.tk-tab')) {
      b.addEventListener('click', () => { S.view = b.dataset.view; markTab(); loadList(); });
    }
    $('f-group').addEventListener('change', loadList);
    $('f-tier').addEventListener('change', loadList);
    $('a-claim').addEventListener('click', () => act('POST', `${base()}/claim`));
    $('a-assign-go').addEventListener('click', () => act('POST', `${base()}/assign`, { username: $('a-assign').value || null }));
    $('a-move').addEventListener('click', () => act('POST', `${base()}/status`, { status: $('a-status').value }));
    $('a-escalate').addEventListener('click', () => act('POST', `${base()}/escalate`, {}));
    $('a-cross').addEventListener('change', (ev) => act('POST', `${base()}/details`, { cross_department: ev.target.checked }));
    $('update-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = $('update-text').value.trim();
      if (!text) return;
      const data = await act('POST', `${base()}/updates`, { text });
      if (data) {
        $('update-text').value = '';
        const w = data.channel_window;
        showError(w && w.closed_because ? t('window_closed', { why: w.closed_because }) : '');
      }
    });
    $('note-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = $('note-text').value.trim();
      if (!text) return;
      if (await act('POST', `${base()}/notes`, { text })) $('note-text').value = '';
    });
    $('alerts-button').addEventListener('click', () => { $('alerts-panel').hidden = !$('alerts-panel').hidden; });
    $('alerts-read').addEventListener('click', async () => { await api('POST', '/api/tickets/alerts/read', {}); loadAlerts(); });
  }

  async function init() {
    applyStatic();
    wire();
    let me;
    try {
      const res = await fetch('/api/console/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      $('boot').hidden = true;
      if (res.status === 401) { $('login-view').hidden = false; return; }
      me = await res.json();
    } catch { $('boot').textContent = t('network'); return; }
    S.me = me.agent; S.csrf = me.csrf;
    $('me').hidden = false;
    $('me-name').textContent = S.me.display_name;
    $('me-role').textContent = S.me.role;
    $('tab-all').hidden = !SUPER();
    $('dashboard-link').hidden = !SUPER();
    $('app').hidden = false;
    const wanted = new URLSearchParams(location.search).get('ticket');
    markTab();
    await loadList();
    loadAlerts();
    if (wanted) open(wanted);
    setInterval(() => { loadList(); loadAlerts(); }, 10000);
    // The open ticket's clocks count down every second; the list is re-read every 10 s.
    setInterval(() => { if (S.ticket) { renderClock('clock-first', S.ticket.sla.first_response); renderClock('clock-resolution', S.ticket.sla.resolution); } }, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
