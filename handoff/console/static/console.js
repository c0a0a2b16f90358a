// relaydesk agent console: vanilla ES2020, no dependencies, no build step.
// Protocol: docs/web-protocol.md, section "Agent console".
// SECURITY: server and customer data reach the DOM only through textContent / createTextNode
// (see el() and setText()). There is deliberately no innerHTML anywhere in this file.
'use strict';

(() => {
  // ---------------------------------------------------------------- strings
  const STRINGS = {
    en: {
      title: 'relaydesk agent console', brand: 'relaydesk console', skip: 'Skip to conversation',
      language: 'Language', dismiss: 'Dismiss',
      login_heading: 'Agent sign-in', username: 'Username', password: 'Password',
      sign_in: 'Sign in', bad_login: 'wrong username or password',
      locked: 'Too many failed attempts: the account is locked for 15 minutes.',
      need_credentials: 'Enter your username and password.',
      session_lost: 'Your session has ended. Please sign in again.',
      network_error: 'Cannot reach the server.', logout: 'Log out', dashboard: 'Dashboard',
      role_agent: 'Agent', role_supervisor: 'Supervisor', role_admin: 'Admin',
      status_online: 'Online', status_away: 'Away', status_offline: 'Offline',
      status_toggle_label: 'Status: {status}. Switch to {next}.',
      conn_live: 'Live', conn_retry: 'Reconnecting…', nav_label: 'Queue and my conversations',
      queue: 'Queue', queue_empty: 'Nobody is waiting.',
      mine: 'My conversations', mine_empty: 'You hold no conversations.',
      claim: 'Claim', view: 'View', claim_label: 'Claim conversation with {name}',
      waiting: 'waiting {time}', priority: 'priority {n}',
      sla_ok: 'within SLA', sla_warn: 'near SLA', sla_over: 'over SLA',
      assigned_to: 'with {who}', unread: 'new messages', anonymous: 'Customer',
      supervisor: 'Supervisor', agents_online: 'Agents', agent_col: 'Agent', status_col: 'Status',
      load_col: 'Load', groups: 'Queue by skill group', group_col: 'Skill group',
      waiting_col: 'Waiting', longest_col: 'Longest wait',
      no_conversation: 'Select a conversation from the queue or from My conversations.',
      transcript: 'Transcript',
      sender_customer: 'Customer', sender_bot: 'Bot', sender_agent: 'Agent', sender_system: 'System',
      intent: 'intent', sentiment: 'sentiment', not_parsed: 'not parsed',
      cites: 'cites {id} v{version}', clear_cite: 'Remove citation',
      reply: 'Reply', reply_hint: 'Enter sends, Shift+Enter adds a new line.', send: 'Send',
      attach: 'Attach an image or PDF', attachment: 'attachment', media_failed: 'File not received: {error}',
      canned: 'Canned response', canned_pick: 'Insert a canned response…',
      suggestions: 'Knowledge suggestions', no_suggestions: 'No suggestions.',
      actions: 'Actions', transfer_to: 'Transfer to', transfer: 'Transfer',
      pick_group: 'Choose a skill group…', return_to_bot: 'Hand back to bot', resolve: 'Resolve',
      draft_open: 'Save as knowledge draft', draft_question: 'Question', draft_answer: 'Answer',
      draft_category: 'Category (optional)', draft_save: 'Save draft',
      draft_saved: 'Draft {id} v{version} saved ({status}).', draft_need: 'Question and answer are both needed.',
      notes: 'Private notes', no_notes: 'No notes yet.', note_input: 'New note', note_add: 'Add note',
      customer: 'Customer', no_customer: 'No customer selected.', tags: 'Tags',
      segments: 'Segments', tag_new: 'New tag', tag_add: 'Add tag', tag_remove: 'Remove tag {tag}',
      tag_auto: 'computed from the data', profile: 'Profile', profile_edit: 'Edit profile',
      pf_name: 'Name', pf_email: 'E-mail', pf_phone: 'Phone', pf_region: 'Region', pf_language: 'Language',
      pf_language_unset: 'not set', pf_save: 'Save', pf_cancel: 'Cancel', profile_saved: 'Profile saved.',
      pf_ref: 'Shop number', pf_since: 'Customer since', pf_spend: 'Spent in the last year',
      pf_channels: 'Known on', orders: 'Recent orders', changes: 'Profile changes',
      change_line: '{who} · {field}: {old} → {new}', empty_value: '(empty)',
      life_new: 'New customer', life_active: 'Active', life_steady: 'Steady', life_dormant: 'Dormant',
      life_churned: 'Churned', value_high: 'Value: high', value_mid: 'Value: mid', value_low: 'Value: low',
      autotag_high_value: 'high-value', autotag_complaint_sensitive: 'complaint-sensitive',
      ord_paid: 'paid', ord_shipped: 'shipped', ord_delivered: 'delivered', ord_cancelled: 'cancelled',
      ord_refunded: 'refunded', value_none: 'No purchases', segments_overview: 'Customer segments', fld_name: 'name', fld_email: 'e-mail', fld_phone: 'phone',
      fld_region: 'region', fld_language: 'language', fld_tags: 'tags', fld_external_ref: 'shop number',
      attributes: 'Attributes', past_conversations: 'Past conversations', tickets: 'Tickets', shop_events: 'Shop events',
      none: 'None.', lang_label: 'Language: {lang}', current: 'this one',
      channel: 'channel', status: 'status', skill_group: 'group', reason: 'reason',
      buttons: 'buttons', sent_negative: 'negative', sent_neutral: 'neutral', sent_positive: 'positive',
      dlv_sent_api: 'Delivered to the customer\'s app', dlv_sent_passive: 'Delivered as a passive reply',
      dlv_pending: 'sending…', dlv_failed: 'Not delivered: {error}', dlv_failed_bare: 'Not delivered',
      dlv_attempts: 'attempt {n}',
      win_open: 'WeChat: {n} messages left, window closes in {time}',
      win_open_one: 'WeChat: 1 message left, window closes in {time}',
      win_hours: '{n} h', win_minutes: '{n} min', win_closed: '{why}',
      win_none: 'the customer has not written on WeChat',
      win_expired: 'WeChat\'s 48-hour window closed; the customer must write again first',
      win_used_up: 'WeChat allows no more messages until the customer writes again',
      reply_blocked: 'Replies are off: {why}',
      notify_on: 'Notifications on', notify_off: 'Notifications off',
      notify_denied: 'Notifications blocked by the browser', notify_unsupported: 'No notifications here',
      notify_label: 'Browser notifications for new chats and messages',
      sound_on: 'Sound on', sound_off: 'Sound off', sound_label: 'A sound for new chats and messages',
      n_queue_title: 'New chat waiting', n_queue_body: '{name} · {group}',
      n_msg_title: 'New message from {name}', n_attachment: '(a file)',
      typing_customer: 'Customer is typing…', mark_delivered: 'Delivered', mark_read: 'Read',
      lock_claim: 'Claim this conversation to reply', lock_other: '{name} is handling this conversation',
      lock_bot: 'Handed back to the bot', lock_resolved: 'Resolved', lock_none: 'Replies are off here',
      another_agent: 'another agent', holder: 'Handled by {name}', holder_you: 'Handled by you',
      err_not_holder: 'You do not hold this conversation: claim it to reply.',
      err_not_found: 'This conversation or item no longer exists.',
      err_window_closed: 'The channel\'s window is closed: the customer must write first.',
      err_too_large: 'The file is too large to send.', err_bad_type: 'Only images and PDF files can be sent.',
      err_resolved: 'This conversation is already resolved.',
      err_rate_limited: 'Too many requests: wait a moment and try again.',
      err_invalid: 'The server did not accept this input.',
      err_agent_unavailable: 'That colleague is offline or has no free slot.',
      err_already_claimed: 'Another agent took this conversation first.',
      err_forbidden: 'You may not do this in this conversation.',
      err_conflict: 'The conversation changed meanwhile; the view is refreshed.',
      err_unavailable: 'The server is restarting; try again in a moment.',
      err_server: 'The server had a problem; try again.', err_generic: 'That did not work; try again.',
      err_network: 'Cannot reach the server.', err_session: 'Your session has ended. Please sign in again.',
      err_at_capacity: 'You already hold as many chats as you may.',
      err_returned: 'This conversation is back with the bot.',
      err_send_down: 'Not sent: the connection is down. Your text is kept; send it again once reconnected.',
      pick_target: 'Choose a group or a colleague…', og_groups: 'Skill groups', og_agents: 'Colleagues',
      colleague_opt: '{name} · {status} · {load}/{max}', transferred: 'Transferred to {to}.',
      pv_customer: 'Customer', pv_bot: 'Bot', pv_agent: 'Agent', pv_system: 'System', pv_sep: ': ',
      web_context: 'On the website', wc_page: 'Page', wc_browser: 'Browser', wc_referrer: 'Came from',
      wc_identity: 'Signed in as', wc_timezone: 'Time zone', wc_screen: 'Screen', wc_language: 'Browser language',
      wc_seen: 'Seen', wc_email: 'E-mail', wc_phone: 'Phone',
      open_past: 'Open the transcript of {when}',
      ch_web: 'Website', ch_telegram: 'Telegram', ch_wechat: 'WeChat', ch_rest: 'API',
      cst_bot: 'with the bot', cst_queued: 'waiting', cst_assigned: 'with an agent',
      cst_resolved: 'resolved', cst_closed: 'closed',
      rsn_explicit_request: 'asked for a person', rsn_failed_turns: 'the bot did not understand',
      rsn_negative_sentiment: 'upset customer',
      grp_after_sales: 'after-sales', grp_pre_sales: 'pre-sales', grp_tech_support: 'tech support',
    },
    zh: {
      title: 'relaydesk 坐席工作台', brand: 'relaydesk 工作台', skip: '跳到会话', language: '语言', dismiss: '关闭',
      login_heading: '坐席登录', username: '用户名', password: '密码', sign_in: '登录', bad_login: '用户名或密码错误',
      locked: '失败次数过多：账号已锁定 15 分钟。', need_credentials: '请输入用户名和密码。', session_lost: '登录已失效，请重新登录。',
      network_error: '无法连接服务器。', logout: '退出登录', dashboard: '数据看板', role_agent: '坐席', role_supervisor: '主管', role_admin: '管理员',
      status_online: '在线', status_away: '离开', status_offline: '离线',
      status_toggle_label: '状态：{status}。切换为{next}。', conn_live: '已连接', conn_retry: '正在重连…',
      nav_label: '排队和我的会话', queue: '排队', queue_empty: '没有人在等待。', mine: '我的会话', mine_empty: '你还没有接入的会话。',
      claim: '接入', view: '查看', claim_label: '接入与{name}的会话', waiting: '已等待 {time}', priority: '优先级 {n}',
      sla_ok: 'SLA 内', sla_warn: '接近 SLA', sla_over: '超出 SLA',
      assigned_to: '由 {who} 处理', unread: '有新消息', anonymous: '客户',
      supervisor: '主管视图', agents_online: '坐席', agent_col: '坐席', status_col: '状态',
      load_col: '负载', groups: '各技能组排队', group_col: '技能组', waiting_col: '等待人数', longest_col: '最长等待',
      no_conversation: '从排队或“我的会话”中选择一个会话。', transcript: '会话记录',
      sender_customer: '客户', sender_bot: '机器人', sender_agent: '坐席', sender_system: '系统',
      intent: '意图', sentiment: '情绪', not_parsed: '未解析', cites: '引用 {id} v{version}', clear_cite: '去掉引用',
      reply: '回复', reply_hint: '回车发送，Shift+回车换行。', send: '发送', canned: '快捷回复', canned_pick: '插入快捷回复…',
      attach: '附加图片或 PDF', attachment: '附件', media_failed: '文件未收到：{error}',
      suggestions: '知识推荐', no_suggestions: '暂无推荐。', actions: '操作', transfer_to: '转接到', transfer: '转接',
      pick_group: '选择技能组…', return_to_bot: '交还机器人', resolve: '解决',
      draft_open: '存为知识草稿', draft_question: '问题', draft_answer: '答案',
      draft_category: '分类（可选）', draft_save: '保存草稿',
      draft_saved: '草稿 {id} v{version} 已保存（{status}）。', draft_need: '问题和答案都需要填写。',
      notes: '内部备注', no_notes: '暂无备注。', note_input: '新备注', note_add: '添加备注',
      customer: '客户', no_customer: '未选择客户。', tags: '标签',
      segments: '客户分层', tag_new: '新标签', tag_add: '添加标签', tag_remove: '删除标签 {tag}',
      tag_auto: '根据数据自动计算', profile: '客户资料', profile_edit: '编辑资料',
      pf_name: '姓名', pf_email: '邮箱', pf_phone: '电话', pf_region: '地区', pf_language: '语言',
      pf_language_unset: '未设置', pf_save: '保存', pf_cancel: '取消', profile_saved: '资料已保存。',
      pf_ref: '商城客户号', pf_since: '成为客户', pf_spend: '近一年消费',
      pf_channels: '渠道身份', orders: '最近订单', changes: '资料变更记录',
      change_line: '{who} · {field}：{old} → {new}', empty_value: '（空）',
      life_new: '新客户', life_active: '活跃', life_steady: '稳定', life_dormant: '沉睡',
      life_churned: '流失', value_high: '价值：高', value_mid: '价值：中', value_low: '价值：低',
      autotag_high_value: '高价值', autotag_complaint_sensitive: '投诉敏感',
      ord_paid: '已付款', ord_shipped: '已发货', ord_delivered: '已签收', ord_cancelled: '已取消',
      ord_refunded: '已退款', value_none: '未购买', segments_overview: '客户分层', fld_name: '姓名', fld_email: '邮箱', fld_phone: '电话',
      fld_region: '地区', fld_language: '语言', fld_tags: '标签', fld_external_ref: '商城客户号',
      attributes: '属性', past_conversations: '历史会话', tickets: '工单', shop_events: '商城事件',
      none: '无。', lang_label: '语言：{lang}', current: '当前',
      channel: '渠道', status: '状态', skill_group: '技能组', reason: '原因',
      buttons: '按钮', sent_negative: '负面', sent_neutral: '中性', sent_positive: '正面',
      dlv_sent_api: '已送达客户的应用', dlv_sent_passive: '已作为被动回复送达',
      dlv_pending: '发送中…', dlv_failed: '未送达：{error}', dlv_failed_bare: '未送达',
      dlv_attempts: '第 {n} 次尝试',
      win_open: '微信：还可发送 {n} 条，窗口 {time}后关闭',
      win_open_one: '微信：还可发送 1 条，窗口 {time}后关闭',
      win_hours: '{n} 小时', win_minutes: '{n} 分钟', win_closed: '{why}',
      win_none: '客户尚未在微信上发过消息',
      win_expired: '微信 48 小时窗口已关闭，需客户先发消息',
      win_used_up: '客户再次发消息前，微信不允许再发送',
      reply_blocked: '无法回复：{why}',
      notify_on: '通知已开启', notify_off: '通知已关闭',
      notify_denied: '浏览器已阻止通知', notify_unsupported: '此浏览器不支持通知',
      notify_label: '新会话和新消息的浏览器通知',
      sound_on: '提示音开', sound_off: '提示音关', sound_label: '新会话和新消息的提示音',
      n_queue_title: '有新会话在排队', n_queue_body: '{name} · {group}',
      n_msg_title: '{name} 发来新消息', n_attachment: '（文件）',
      typing_customer: '客户正在输入…', mark_delivered: '已送达', mark_read: '已读',
      lock_claim: '接入此会话后才能回复', lock_other: '{name} 正在接待此会话',
      lock_bot: '已交还机器人', lock_resolved: '已解决', lock_none: '此处无法回复',
      another_agent: '其他坐席', holder: '接待坐席：{name}', holder_you: '由你接待',
      err_not_holder: '你没有接待此会话，接入后才能回复。',
      err_not_found: '该会话或内容已不存在。',
      err_window_closed: '渠道窗口已关闭，需客户先发消息。',
      err_too_large: '文件太大，无法发送。', err_bad_type: '只能发送图片或 PDF 文件。',
      err_resolved: '此会话已解决。',
      err_rate_limited: '操作太频繁，请稍后再试。',
      err_invalid: '输入无效，服务器未接受。',
      err_agent_unavailable: '该同事不在线或已满负荷。',
      err_already_claimed: '其他坐席已先接入此会话。',
      err_forbidden: '你无权在此会话中执行此操作。',
      err_conflict: '会话状态已变化，页面已刷新。',
      err_unavailable: '服务器正在重启，请稍后再试。',
      err_server: '服务器出错，请重试。', err_generic: '操作未成功，请重试。',
      err_network: '无法连接服务器。', err_session: '登录已失效，请重新登录。',
      err_at_capacity: '你接待的会话已达上限。',
      err_returned: '此会话已交还机器人。',
      err_send_down: '未发送：连接已断开。你的文字已保留，重新连接后再发送。',
      pick_target: '选择技能组或同事…', og_groups: '技能组', og_agents: '同事',
      colleague_opt: '{name} · {status} · {load}/{max}', transferred: '已转接给 {to}。',
      pv_customer: '客户', pv_bot: '机器人', pv_agent: '坐席', pv_system: '系统', pv_sep: '：',
      web_context: '网站访问信息', wc_page: '页面', wc_browser: '浏览器', wc_referrer: '来源',
      wc_identity: '登录身份', wc_timezone: '时区', wc_screen: '屏幕', wc_language: '浏览器语言',
      wc_seen: '访问时间', wc_email: '邮箱', wc_phone: '电话',
      open_past: '打开 {when} 的会话记录',
      ch_web: '网站', ch_telegram: 'Telegram', ch_wechat: '微信', ch_rest: 'API',
      cst_bot: '机器人接待中', cst_queued: '排队中', cst_assigned: '坐席接待中',
      cst_resolved: '已解决', cst_closed: '已关闭',
      rsn_explicit_request: '客户要求转人工', rsn_failed_turns: '机器人未能理解', rsn_negative_sentiment: '客户情绪不满',
      grp_after_sales: '售后', grp_pre_sales: '售前', grp_tech_support: '技术支持',
    },
  };

  const pickLang = (tag) => (String(tag || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  // The language the agent chose last on any console page, else the browser's (console-common.js).
  let lang = RD.storedLang();

  function t(key, vars) {
    const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
    return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
  }

  // A server code (status, role, sentiment) in words when we know it, else the code itself.
  const tc = (prefix, code) => STRINGS[lang][`${prefix}_${code}`] ?? STRINGS.en[`${prefix}_${code}`] ?? String(code ?? '?');

  // ---------------------------------------------------------------- DOM helpers
  // Builds an element; string/number children become text nodes, never markup (console-common.js).
  const { $, el } = RD;

  const setText = (node, value) => { node.textContent = value == null ? '' : String(value); };

  function fmtDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = (n) => String(n).padStart(2, '0');
    return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
  }

  // Times in the agent's own time zone (the browser's, through Intl) and language; never the
  // server's ISO text. Without withDate a time of today shows as hours:minutes, an older one
  // with its date.
  function fmtTime(iso, withDate) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const loc = lang === 'zh' ? 'zh-CN' : 'en';
    const hm = { hour: '2-digit', minute: '2-digit' };
    const today = d.toDateString() === new Date().toDateString();
    if (withDate || !today) return d.toLocaleString(loc, { year: 'numeric', month: 'short', day: 'numeric', ...hm });
    return d.toLocaleTimeString(loc, hm);
  }

  // Only http(s) URLs become links; anything else (javascript:, data:) stays plain text.
  function safeUrl(raw) {
    try {
      const u = new URL(String(raw), location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch { return null; }
  }

  // Re-rendering a list would drop keyboard focus; put it back on the same control.
  function keepFocus(container, render) {
    const a = document.activeElement;
    let key = null;
    if (a && container.contains(a)) {
      const holder = a.closest('[data-conversation-id]');
      key = { testid: a.dataset.testid, cid: holder && holder.dataset.conversationId };
    }
    render();
    if (!key || !key.cid) return;
    for (const h of container.querySelectorAll('[data-conversation-id]')) {
      if (h.dataset.conversationId !== key.cid) continue;
      const target = key.testid && h.dataset.testid !== key.testid
        ? h.querySelector(`[data-testid="${key.testid}"]`) : h;
      if (target) target.focus();
      return;
    }
  }

  // ---------------------------------------------------------------- state
  const S = {
    agent: null,
    convLoads: 0,           // conversation loads started: only the newest one's answer is shown
    csrf: null,             // memory only, never localStorage
    queue: [], sla: 30,
    mine: [],
    sup: null,
    gen: { queue: 0, mine: 0, sup: 0 },   // bumped by socket frames so older GETs don't overwrite newer frames
    unread: new Set(),
    canned: null, groups: [],
    openCid: null, conv: null, handoff: null,
    msgs: new Map(),        // id -> Message for the open conversation (dedupe)
    notes: [], suggestions: [], cite: null,
    customer: null, profile: null, profileFormFor: null, segments: null,
    window: null,           // the open WeChat conversation's channel_window, else null
    replyNote: '',          // the server's words when it refused a send (409), shown by the reply box
    pollN: 0,               // re-fetches so far while a delivery is still pending (backoff)
    ws: null, wsWanted: false, wsAttempt: 0, wsTimer: null, reloadTimer: null,
    busy: false,
    // Issue 20: who holds the open chat ({username, display_name} from the transcript GET, or
    // undefined when the server does not say), the customer's marks on our messages, the web
    // visit, colleagues to transfer to, typing, read marks sent, and what waits for attention.
    holder: undefined, marks: null, webContext: null, contact: null, colleagues: [],
    typingOn: false, typingAt: 0, typingCid: null, typingIdle: null, custTypingTimer: null,
    readSent: new Map(),    // cid -> the customer message id we last marked read
    queueKnown: null,       // conversation ids in the queue at the last look (null: not yet)
    queueNew: new Set(),    // queue items that arrived while the agent was away from the page
    unreadN: new Map(),     // cid -> customer messages the agent has not seen yet
    historyMounted: false,
  };

  // Channels whose messages are pushed to the customer's app; each outbound message there has a
  // delivery state (docs/web-protocol.md, "Delivery on Telegram and WeChat").
  const PUSHED = new Set(['telegram', 'wechat']);

  // ---------------------------------------------------------------- HTTP
  class ApiError extends Error {
    constructor(message, status, fromJson, data) {
      super(message);
      this.status = status; this.fromJson = !!fromJson; this.data = data || null;
    }
  }

  async function api(method, path, body, retried) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET' && S.csrf) headers['X-CSRF-Token'] = S.csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(t('network_error'), 0);
    }
    const raw = await res.text();
    let data = null;
    try { data = raw ? JSON.parse(raw) : null; } catch { data = null; }
    if (res.ok) return data;
    const jsonMessage = data && typeof data.message === 'string' && data.message;
    const message = jsonMessage || raw.trim() || res.statusText;
    const isSession = path.startsWith('/api/console/');
    // A 403 may mean our CSRF token went stale (e.g. the session was renewed): refresh once.
    if (res.status === 403 && method === 'POST' && !retried && !isSession) {
      const used = S.csrf;
      try {
        const me = await api('GET', '/api/console/me');
        if (me && me.csrf && me.csrf !== used) { S.csrf = me.csrf; return api(method, path, body, true); }
      } catch { /* fall through to the original error */ }
    }
    if (res.status === 401 && !isSession && S.agent) sessionLost();
    throw new ApiError(message, res.status, !!jsonMessage, data);
  }

  const post = (path, body) => api('POST', path, body);
  const convPath = (cid, tail) => `/api/agent/conversations/${encodeURIComponent(cid)}${tail || ''}`;

  function notify(message) {
    setText($('notice-text'), message);
    $('notice').hidden = !message;
  }

  // A refusal in the agent's language, from the API's stable `code` (docs/web-protocol.md),
  // else from the HTTP status; never the server's own sentence ("amy does not hold conversation
  // c47a…"), except a 400's explanation of what was wrong with the input, in English only.
  function errText(e) {
    if (!e) return t('err_generic');
    // The stable code: `code` (a string), or `error` where `code` is the HTTP status number.
    const d = e.data || {};
    const code = typeof d.code === 'string' ? d.code : typeof d.error === 'string' ? d.error : null;
    const s = Number(e.status);
    // What was wrong with the input, as the server explains it: useful in English only.
    if ((s === 400 || s === 422) && (!code || code === 'invalid')) {
      return lang === 'en' && e.fromJson && e.message ? e.message : t('err_invalid');
    }
    const alias = { internal: 'server', unauthorized: 'session' };
    const key = code && `err_${alias[code] || code}`;
    if (key && STRINGS.en[key]) return t(key);
    if (s === 0) return t('err_network');
    const byStatus = { 403: 'err_forbidden', 404: 'err_not_found', 409: 'err_conflict', 413: 'err_too_large',
      415: 'err_bad_type', 429: 'err_rate_limited', 502: 'err_unavailable', 503: 'err_unavailable' };
    if (byStatus[s]) return t(byStatus[s]);
    return s >= 500 ? t('err_server') : t('err_generic');
  }

  // The error line under the reply box (role=alert): where the agent is looking when a send,
  // claim, transfer or resolve fails, on the phone size too.
  function replyError(message) {
    const p = $('reply-error');
    setText(p, message);
    p.hidden = !message;
    if (message && p.scrollIntoView) p.scrollIntoView({ block: 'nearest' });
  }

  // Runs a user action: shows its error (in the agent's language) in the notice, or by the reply
  // box when `near` (the open conversation's own actions), instead of failing silently.
  async function act(button, fn, near) {
    if (button) button.disabled = true;
    try {
      if (near) replyError(''); else notify('');
      return await fn();
    } catch (err) {
      if (err.status !== 401) {
        if (near) replyError(errText(err)); else notify(errText(err));
        if (near && err.status === 409 && S.openCid) loadConversation(S.openCid, false);
      }
      return undefined;
    } finally { if (button) button.disabled = false; }
  }

  // ---------------------------------------------------------------- static strings
  function applyStatic() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    $('lang-select').value = lang;
    for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll('[data-i18n-aria-label]')) n.setAttribute('aria-label', t(n.dataset.i18nAriaLabel));
    renderToggles();
    updateTitle();
  }

  // ---------------------------------------------------------------- attention (console-notify.js)
  const N = window.RDNotify || null;

  // The agent is looking at the console: the page is shown and has the focus.
  const attending = () => document.visibilityState === 'visible' && document.hasFocus();

  function renderToggles() {
    const bell = $('notify-toggle'), sound = $('sound-toggle');
    if (!N) { bell.hidden = true; sound.hidden = true; return; }
    const p = N.prefs(), perm = N.permission();
    const key = perm === 'unsupported' ? 'notify_unsupported' : perm === 'denied' ? 'notify_denied'
      : N.desktopOn() ? 'notify_on' : 'notify_off';
    setText(bell, t(key));
    bell.setAttribute('aria-pressed', String(N.desktopOn()));
    bell.title = t('notify_label');
    bell.dataset.state = key.slice(7);
    setText(sound, t(p.sound ? 'sound_on' : 'sound_off'));
    sound.setAttribute('aria-pressed', String(p.sound));
    sound.title = t('sound_label');
  }

  async function toggleNotify() {
    if (!N) return;
    await N.setDesktop(!N.desktopOn()); // asks the browser now: this runs from the click
    renderToggles();
  }

  function toggleSound() {
    if (!N) return;
    N.setSound(!N.prefs().sound);
    renderToggles();
  }

  // "(n) relaydesk agent console": queue items that came while the agent was away and customer
  // messages they have not seen.
  function updateTitle() {
    let n = S.queueNew.size;
    for (const v of S.unreadN.values()) n += v;
    if (N) N.setCount(n, t('title')); else document.title = t('title');
  }

  function alertAgent(title, body, tag, onclick) {
    if (!N) return;
    N.beep();
    if (!attending()) N.show(title, body, tag, onclick);
  }

  // The agent came back to the page: what they can now see is seen.
  function onAttention() {
    if (!attending() && document.visibilityState !== 'visible') return;
    if (document.visibilityState === 'visible') sendRead();
    if (!attending()) return;
    S.queueNew.clear();
    if (S.openCid) { S.unreadN.delete(S.openCid); S.unread.delete(S.openCid); renderMine(); }
    updateTitle();
  }

  // Past conversations (console-history.js, when present): the search box in the top bar.
  function mountHistory() {
    if (S.historyMounted || !window.RDHistory || typeof window.RDHistory.mount !== 'function') return;
    const root = $('history-search');
    root.hidden = false;
    try { window.RDHistory.mount(root); S.historyMounted = true; } catch (e) { root.hidden = true; console.warn(e); }
  }

  function openPast(cid) {
    if (window.RDHistory && typeof window.RDHistory.open === 'function') window.RDHistory.open(cid);
    else location.hash = `conversation=${encodeURIComponent(cid)}`;
  }

  // ---------------------------------------------------------------- session
  function showView(signedIn) {
    for (const id of ['app', 'me', 'logout']) $(id).hidden = !signedIn;
    $('login-view').hidden = signedIn;
  }

  function showLogin(message) {
    showView(false);
    setText($('login-error'), message || '');
    $('login-username').focus();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    const err = $('login-error');
    if (!username || !password) { setText(err, t('need_credentials')); return; }
    $('login-submit').disabled = true;
    setText(err, '');
    try {
      const data = await post('/api/console/login', { username, password });
      $('login-password').value = '';
      startSession(data);
    } catch (e) {
      // The server's own words first; fall back to ours when it sent none.
      // In the agent's language, from the status (the server's words are English).
      setText(err, e.status === 429 ? t('locked') : e.status === 401 ? t('bad_login')
        : e.status === 400 ? t('need_credentials') : errText(e));
      $('login-password').focus();
    } finally {
      $('login-submit').disabled = false;
    }
  }

  function startSession(data) {
    S.agent = data.agent;
    S.csrf = data.csrf;
    showView(true);
    renderMe();
    $('supervisor').hidden = !isSupervisor();
    $('dashboard-link').hidden = !isSupervisor();
    loadReference();
    refreshAll();
    mountHistory();
    S.wsWanted = true;
    connect();
  }

  function resetState() {
    Object.assign(S, {
      agent: null, csrf: null, queue: [], mine: [], sup: null, canned: null, groups: [],
      openCid: null, conv: null, handoff: null, notes: [], suggestions: [], cite: null,
      customer: null, profile: null, wsAttempt: 0, window: null, replyNote: '', pollN: 0,
      holder: undefined, marks: null, webContext: null, contact: null, colleagues: [],
      typingOn: false, typingCid: null, queueKnown: null,
    });
    clearTimeout(S.reloadTimer);
    clearTimeout(S.typingIdle);
    S.readSent.clear();
    S.queueNew.clear();
    S.unreadN.clear();
    updateTitle();
    S.unread.clear();
    S.msgs.clear();
    for (const id of ['queue', 'mine', 'sup-agents', 'sup-groups', 'transcript', 'notes', 'suggestions']) $(id).replaceChildren();
    for (const id of ['conv-body', 'cust-body']) $(id).hidden = true;
    for (const id of ['conv-empty', 'cust-empty']) $(id).hidden = false;
    renderWindow();
    notify('');
  }

  function endSession(message) {
    disconnect();
    resetState();
    showLogin(message);
  }

  function sessionLost() { endSession(t('session_lost')); }

  async function logout() {
    try { await post('/api/console/logout'); } catch { /* leaving anyway */ }
    endSession('');
  }

  const isSupervisor = () => !!S.agent && (S.agent.role === 'supervisor' || S.agent.role === 'admin');

  function renderMe() {
    const a = S.agent;
    if (!a) return;
    setText($('me-name'), a.display_name || a.username);
    setText($('me-role'), tc('role', a.role));
    const status = a.status || 'offline';
    const next = status === 'online' ? 'away' : 'online';
    const btn = $('status-toggle');
    setText(btn, tc('status', status));
    btn.className = `status-toggle status-${status}`;
    btn.setAttribute('aria-label', t('status_toggle_label', { status: tc('status', status), next: tc('status', next) }));
    btn.dataset.status = status;
  }

  async function toggleStatus() {
    const next = S.agent && S.agent.status === 'online' ? 'away' : 'online';
    await act($('status-toggle'), async () => {
      const data = await post('/api/agent/status', { status: next });
      S.agent = { ...S.agent, ...((data && data.agent) || { status: next }) };
      renderMe();
    });
  }

  // ---------------------------------------------------------------- data loading
  async function loadReference() {
    try {
      const [canned, groups] = await Promise.all([api('GET', '/api/agent/canned'), api('GET', '/api/agent/skill-groups')]);
      S.canned = canned || {};
      S.groups = (groups && groups.groups) || [];
      renderCanned();
      renderGroups();
    } catch (e) { if (e.status !== 401) notify(errText(e)); }
  }

  // A fetch that only lands when no socket frame of the same kind arrived meanwhile.
  async function fetchFresh(kind, path, apply) {
    const gen = S.gen[kind];
    try {
      const data = await api('GET', path);
      if (S.agent && S.gen[kind] === gen) apply(data || {});
    } catch (e) { if (e.status !== 401) notify(errText(e)); }
  }

  function refreshLists() {
    fetchFresh('queue', '/api/agent/queue', applyQueue);
    fetchFresh('mine', '/api/agent/mine', applyMine);
  }

  function refreshAll() {
    refreshLists();
    loadColleagues();
    if (isSupervisor()) fetchFresh('sup', '/api/agent/supervisor', applySupervisor);
    if (isSupervisor()) loadSegments();
    if (S.openCid) loadConversation(S.openCid, false);
  }

  // ---------------------------------------------------------------- socket
  function connect() {
    if (!S.wsWanted || S.ws) return;
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/console`;
    let ws;
    try { ws = new WebSocket(url); } catch { scheduleReconnect(); return; }
    S.ws = ws;
    ws.onopen = () => {
      S.wsAttempt = 0;
      setConn(true);
      S.readSent.clear(); // marks sent on the old socket may not have landed: send them again
      // Re-send the watch, and catch up on whatever changed while no socket was open (also on
      // the first open, which may come after the initial GETs); the transcript dedupes by id.
      if (S.openCid) sendWs({ type: 'watch', conversation_id: S.openCid });
      refreshAll();
    };
    ws.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame && typeof frame === 'object') onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;
      S.ws = null;
      setConn(false); // at once: never "Live" while nothing gets through
      S.typingOn = false;
      // 1012: the server is restarting and asks us to come back (to another instance) now.
      scheduleReconnect(ev && ev.code === 1012);
    };
    ws.onerror = () => { /* onclose follows and handles it */ };
  }

  function scheduleReconnect(restart) {
    if (!S.wsWanted) return;
    clearTimeout(S.wsTimer);
    // Exponential backoff with jitter, capped at 10 s, so a restarting server is not stampeded;
    // a restart (1012) is answered after 0.2–1 s, with no back-off.
    if (restart) S.wsAttempt = 0;
    const base = Math.min(10000, 1000 * 2 ** S.wsAttempt++);
    const delay = restart ? 200 + Math.random() * 800 : base / 2 + Math.random() * base / 2;
    S.wsTimer = setTimeout(async () => {
      // A closed socket may mean the session is gone: ask before hammering the socket again.
      try {
        const me = await api('GET', '/api/console/me');
        if (me && me.csrf) S.csrf = me.csrf;
      } catch (e) {
        if (e.status === 401) { sessionLost(); return; }
      }
      connect();
    }, delay);
  }

  function disconnect() {
    S.wsWanted = false;
    clearTimeout(S.wsTimer);
    const ws = S.ws;
    S.ws = null;
    if (ws) ws.close();
  }

  const wsLive = () => !!(S.ws && S.ws.readyState === WebSocket.OPEN);

  function sendWs(frame) {
    if (!wsLive()) return false;
    S.ws.send(JSON.stringify(frame));
    return true;
  }

  function setConn(live) {
    const c = $('conn');
    setText(c, live ? t('conn_live') : t('conn_retry'));
    c.className = `conn ${live ? 'live' : 'down'}`;
    c.dataset.state = live ? 'live' : 'down';
  }

  function onFrame(f) {
    switch (f.type) {
      case 'queue': S.gen.queue++; applyQueue(f); break;
      case 'mine': S.gen.mine++; applyMine(f); break;
      case 'supervisor': S.gen.sup++; applySupervisor(f); break;
      case 'message': onMessageFrame(f); break;
      case 'typing': onTypingFrame(f); break;
      case 'receipt': onReceiptFrame(f); break;
      // The socket's protocol complaints are for developers, not a banner in English.
      case 'error': console.warn('console socket:', f.message); break;
      default: break; // unknown frames are ignored so the server can add new ones
    }
  }

  // One debounced re-fetch of the open conversation: several frames in a row cause one GET.
  function scheduleReload(delay) {
    clearTimeout(S.reloadTimer);
    const cid = S.openCid;
    if (!cid) return;
    S.reloadTimer = setTimeout(() => { if (S.openCid === cid) loadConversation(cid, false); }, delay);
  }

  function onMessageFrame(f) {
    const m = f.message;
    if (!m || !f.conversation_id) return;
    if (m.sender === 'customer') customerWrote(f.conversation_id, m);
    if (f.conversation_id === S.openCid) {
      addMessage(m);
      if (m.sender === 'customer') { showCustomerTyping(false); sendRead(); }
      const channel = m.channel || (S.conv && S.conv.channel);
      // System messages mark state changes (joined, transferred, resolved): refresh the header.
      if (m.sender === 'system') scheduleReload(300);
      // Frames carry no delivery state: on Telegram and WeChat, re-fetch so "sending…" turns
      // into sent or failed within a second or two.
      else if (m.sender !== 'customer' && PUSHED.has(channel)) { S.pollN = 0; scheduleReload(800); }
      // A customer writing on WeChat reopens the window: refresh the header and the reply box.
      else if (m.sender === 'customer' && channel === 'wechat') scheduleReload(300);
    }
  }

  // A customer's new message: unseen when it is not the open chat, or the agent is away from the
  // page. It counts in the title, marks the chat in "My conversations", sounds, and (page away)
  // shows a browser notification that opens the chat.
  function customerWrote(cid, m) {
    if (cid === S.openCid && attending()) return;
    S.unreadN.set(cid, (S.unreadN.get(cid) || 0) + 1);
    S.unread.add(cid);
    renderMine();
    updateTitle();
    const item = S.mine.find((q) => q.conversation_id === cid);
    const name = (item && (item.customer_name || customerLabel(item.customer_id)))
      || (cid === S.openCid && S.customer && S.customer.name) || t('anonymous');
    alertAgent(t('n_msg_title', { name }), m.text || t('n_attachment'), `msg-${cid}`, () => openConversation(cid));
  }

  // ---------------------------------------------------------------- typing and read marks
  // The agent's typing, throttled: one "on" at most every 3 s while they type, "off" after 5 s
  // without a key or when the message goes.
  function agentTyping() {
    const cid = S.openCid;
    if (!cid || !holdsOpen()) return;
    if (!$('reply-input').value) { stopTyping(); return; }
    const now = Date.now();
    if (!S.typingOn || S.typingCid !== cid || now - S.typingAt >= 3000) {
      if (S.typingOn && S.typingCid !== cid) stopTyping();
      if (sendWs({ type: 'typing', conversation_id: cid, on: true })) {
        S.typingOn = true; S.typingAt = now; S.typingCid = cid;
      }
    }
    clearTimeout(S.typingIdle);
    S.typingIdle = setTimeout(stopTyping, 5000);
  }

  function stopTyping() {
    clearTimeout(S.typingIdle);
    if (S.typingOn && S.typingCid) sendWs({ type: 'typing', conversation_id: S.typingCid, on: false });
    S.typingOn = false;
  }

  function onTypingFrame(f) {
    if (f.conversation_id !== S.openCid || (f.who && f.who !== 'customer')) return;
    showCustomerTyping(!!f.on);
  }

  // "Customer is typing…" under the transcript; it goes by itself if no "off" ever comes.
  function showCustomerTyping(on) {
    const p = $('typing');
    clearTimeout(S.custTypingTimer);
    setText(p, on ? t('typing_customer') : '');
    p.hidden = !on;
    if (on) S.custTypingTimer = setTimeout(() => showCustomerTyping(false), 8000);
  }

  // The agents have read the open chat up to its latest customer message: said while the page
  // is shown (a hidden tab reads nothing), once per message.
  function sendRead() {
    const cid = S.openCid;
    if (!cid || document.visibilityState !== 'visible') return;
    let last = 0;
    for (const m of S.msgs.values()) if (m.sender === 'customer' && Number(m.id) > last) last = Number(m.id);
    if (!last || (S.readSent.get(cid) || 0) >= last) return;
    if (sendWs({ type: 'read', conversation_id: cid, up_to: last })) S.readSent.set(cid, last);
  }

  // The customer's marks on our messages: they only move forward.
  function onReceiptFrame(f) {
    if (f.conversation_id !== S.openCid) return;
    applyMarks(f);
  }

  function applyMarks(m) {
    if (!m || typeof m !== 'object') return;
    const prev = S.marks || {};
    const up = (a, b) => (Number.isFinite(Number(b)) && b !== null ? Math.max(Number(a) || 0, Number(b)) : (a ?? null));
    S.marks = { received_up_to: up(prev.received_up_to, m.received_up_to), read_up_to: up(prev.read_up_to, m.read_up_to) };
    if (S.marks.read_up_to) S.marks.received_up_to = Math.max(S.marks.received_up_to || 0, S.marks.read_up_to);
    for (const li of $('transcript').querySelectorAll('li[data-sender="agent"]')) {
      const msg = S.msgs.get(Number(li.dataset.id)) || S.msgs.get(li.dataset.id);
      const old = li.querySelector('.rmark');
      const fresh = msg ? readMark(msg) : null;
      if (old && fresh) old.replaceWith(fresh);
      else if (old) old.remove();
      else if (fresh) li.append(fresh);
    }
  }

  // Delivered / Read on an agent's message, from the customer's marks (widget receipts).
  function readMark(m) {
    const k = S.marks;
    if (!k || m.sender !== 'agent') return null;
    const id = Number(m.id);
    const state = k.read_up_to && id <= k.read_up_to ? 'read' : k.received_up_to && id <= k.received_up_to ? 'delivered' : null;
    if (!state) return null;
    return el('p', { class: `rmark rmark-${state}`, testid: 'read-mark', 'data-state': state },
      el('span', { 'aria-hidden': 'true' }, state === 'read' ? '✓✓ ' : '✓ '), t(`mark_${state}`));
  }

  // ---------------------------------------------------------------- queue
  // Waiting time keeps ticking locally from the server's waiting_s (not queued_at, so a
  // skewed agent clock does not matter).
  const stamp = (items) => items.map((q) => ({ ...q, _t0: Date.now() - (Number(q.waiting_s) || 0) * 1000 }));
  const waited = (q) => (Date.now() - q._t0) / 1000;

  function slaLevel(seconds) {
    const sla = Number(S.sla) || 30;
    return seconds < sla / 2 ? 'ok' : seconds < sla ? 'warn' : 'over';
  }

  function applyQueue(data) {
    S.queue = stamp(Array.isArray(data.queue) ? data.queue : []);
    if (data.sla_seconds) S.sla = Number(data.sla_seconds);
    noticeQueue();
    renderQueue();
  }

  // A chat that joined the queue since the last look: a sound, and while the agent is away from
  // the page a browser notification and a count in the title (cleared when they come back).
  function noticeQueue() {
    const waiting = S.queue.filter((q) => q.status !== 'assigned');
    const ids = new Set(waiting.map((q) => q.conversation_id));
    if (S.queueKnown) {
      const fresh = waiting.filter((q) => !S.queueKnown.has(q.conversation_id));
      if (!attending()) for (const q of fresh) S.queueNew.add(q.conversation_id);
      if (fresh.length) {
        const q = fresh[0];
        const name = q.customer_name || customerLabel(q.customer_id);
        alertAgent(t('n_queue_title'), t('n_queue_body', { name, group: q.skill_group ? tc('grp', q.skill_group) : '' }),
          `queue-${q.conversation_id}`, () => openConversation(q.conversation_id));
      }
    }
    for (const id of [...S.queueNew]) if (!ids.has(id)) S.queueNew.delete(id);
    S.queueKnown = ids;
    updateTitle();
  }

  // The latest message of a chat, as the queue and "My conversations" show it: who, then at
  // most 120 characters.
  function preview(q) {
    const lm = q.last_message;
    if (!lm || typeof lm !== 'object') return null;
    const who = ['customer', 'bot', 'agent', 'system'].includes(lm.sender) ? lm.sender : 'system';
    const raw = typeof lm.text === 'string' ? lm.text.replace(/\s+/g, ' ').trim() : '';
    const text = raw ? (raw.length > 120 ? `${raw.slice(0, 119)}…` : raw) : t('n_attachment');
    return el('p', { class: `preview pv-${who}`, testid: 'preview', 'data-sender': who },
      el('span', { class: 'pv-who' }, `${t(`pv_${who}`)}${t('pv_sep')}`), text);
  }

  const badge = (text, cls, extra) => el('span', { class: `badge ${cls || ''}`, ...extra }, text);

  function itemFacts(q) {
    return el('div', { class: 'facts' },
      badge(q.language || '?', 'lang'),
      badge(tc('grp', q.skill_group), 'group'),
      badge(tc('rsn', q.reason), 'reason'),
      badge(t('priority', { n: q.priority ?? 0 }), `prio prio-${q.priority ?? 0}`),
      q.sentiment ? badge(tc('sent', q.sentiment), `sent sent-${q.sentiment}`) : null,
      segmentBadges(q, 'queue'),
      (q.tags || []).map((tag) => badge(tag, `tag tag-${cssSafe(tag)}`, { testid: 'queue-tag' })));
  }

  const cssSafe = (value) => String(value).replace(/[^a-z0-9_-]/gi, '');

  // The segments computed from the data (bot/store/segments.py): lifecycle, value band and the
  // automatic tags, outlined so they read differently from the tags agents set.
  function segmentBadges(c, where) {
    return [
      c.lifecycle ? badge(tc('life', c.lifecycle), `seg life-${cssSafe(c.lifecycle)}`,
        { testid: `${where}-lifecycle`, 'data-segment': c.lifecycle }) : null,
      c.value_segment ? badge(tc('value', c.value_segment), `seg value-${cssSafe(c.value_segment)}`,
        { testid: `${where}-value`, 'data-segment': c.value_segment }) : null,
      ...(c.auto_tags || []).map((tag) => badge(tc('autotag', tag), `seg seg-auto tag-${cssSafe(tag)}`,
        { testid: `${where}-auto-tag`, 'data-tag': tag, title: t('tag_auto') })),
    ].filter(Boolean);
  }

  function renderQueue() {
    const list = $('queue');
    keepFocus(list, () => {
      list.replaceChildren(...S.queue.map((q) => {
        const name = q.customer_name || customerLabel(q.customer_id);
        const wait = el('span', { class: 'wait-time' });
        const label = el('span', { class: 'sla-label' });
        return el('li', { class: 'item', testid: 'queue-item', 'data-conversation-id': q.conversation_id },
          el('div', { class: 'item-head' },
            el('strong', { class: 'who' }, name),
            el('span', { class: 'wait', 'data-cid': q.conversation_id }, wait, ' ', label)),
          itemFacts(q),
          preview(q),
          q.assigned_to ? el('p', { class: 'meta', testid: 'assignee' }, t('assigned_to', { who: q.assigned_to_name || q.assigned_to })) : null,
          el('div', { class: 'item-actions' },
            q.status === 'assigned' ? null : el('button', {
              type: 'button', class: 'primary', testid: 'claim', text: t('claim'),
              'aria-label': t('claim_label', { name }), onclick: (e) => claim(q.conversation_id, e.currentTarget),
            }),
            el('button', { type: 'button', testid: 'view', text: t('view'), onclick: () => openConversation(q.conversation_id) })));
      }));
    });
    setText($('queue-count'), S.queue.length ? `(${S.queue.length})` : '');
    $('queue-empty').hidden = S.queue.length > 0;
    tick();
  }

  let windowTick = 0;

  function tick() {
    if (S.window && ++windowTick % 30 === 0) renderWindow(); // the countdown, every 30 s
    for (const q of S.queue) {
      const w = $('queue').querySelector(`.wait[data-cid="${CSS.escape(q.conversation_id)}"]`);
      if (!w) continue;
      const secs = waited(q), level = slaLevel(secs);
      w.className = `wait sla-${level}`;
      setText(w.firstChild, t('waiting', { time: fmtDuration(secs) }));
      setText(w.lastChild, t(`sla_${level}`));
    }
    for (const row of $('sup-groups').querySelectorAll('tr[data-t0]')) {
      const secs = (Date.now() - Number(row.dataset.t0)) / 1000;
      const cell = row.lastChild;
      cell.className = `sla-${slaLevel(secs)}`;
      setText(cell, `${fmtDuration(secs)} · ${t(`sla_${slaLevel(secs)}`)}`);
    }
  }

  async function claim(cid, button, near) {
    const ok = await act(button, async () => { await post(convPath(cid, '/claim')); return true; }, near);
    if (!ok) return;
    openConversation(cid);
    refreshLists();
  }

  // ---------------------------------------------------------------- mine
  function applyMine(data) {
    S.mine = Array.isArray(data.conversations) ? data.conversations : [];
    // What waits for attention only in chats the agent still holds (or has open).
    const keep = new Set(S.mine.map((q) => q.conversation_id));
    for (const cid of [...S.unreadN.keys()]) if (!keep.has(cid) && cid !== S.openCid) { S.unreadN.delete(cid); S.unread.delete(cid); }
    updateTitle();
    renderMine();
    if (S.openCid) { renderConvHead(); renderReplyState(); }
  }

  function renderMine() {
    const list = $('mine');
    keepFocus(list, () => {
      list.replaceChildren(...S.mine.map((q) => {
        const cid = q.conversation_id;
        const unread = S.unread.has(cid);
        return el('li', {},
          el('button', {
            type: 'button', class: `mine-item${unread ? ' unread' : ''}`, testid: 'mine-item',
            'data-conversation-id': cid, 'aria-current': cid === S.openCid ? 'true' : null,
            onclick: () => openConversation(cid),
          },
          el('strong', { class: 'who' }, q.customer_name || customerLabel(q.customer_id)),
          unread ? el('span', { class: 'dot', title: t('unread') }, el('span', { class: 'sr-only' }, t('unread'))) : null,
          el('span', { class: 'facts' }, badge(q.language || '?', 'lang'), badge(tc('grp', q.skill_group), 'group'),
            q.sentiment ? badge(tc('sent', q.sentiment), `sent sent-${q.sentiment}`) : null),
          preview(q)));
      }));
    });
    $('mine-empty').hidden = S.mine.length > 0;
  }

  // ---------------------------------------------------------------- supervisor
  function applySupervisor(data) {
    S.sup = { agents: data.agents || [], groups: data.groups || [] };
    renderSupervisor();
  }

  function renderSupervisor() {
    if (!isSupervisor() || !S.sup) return;
    $('sup-agents').replaceChildren(...S.sup.agents.map((a) => el('tr', {},
      el('td', {}, a.display_name || a.username),
      el('td', {}, badge(tc('status', a.status), `st st-${a.status}`)),
      el('td', { class: a.load >= a.max_concurrent ? 'full' : '' }, `${a.load ?? 0} / ${a.max_concurrent ?? '?'}`))));
    $('sup-groups').replaceChildren(...S.sup.groups.map((g) => el('tr', {
      'data-t0': g.waiting > 0 ? String(Date.now() - (Number(g.longest_wait_s) || 0) * 1000) : null,
    },
    el('td', {}, tc('grp', g.skill_group)),
    el('td', {}, String(g.waiting ?? 0)),
    el('td', {}, g.waiting > 0 ? fmtDuration(g.longest_wait_s || 0) : '—'))));
    renderSegments();
    tick();
  }

  // How many customers are in each segment (the last run), for supervisors.
  async function loadSegments() {
    try {
      const d = await api('GET', '/api/agent/segments');
      S.segments = (d && d.segments) || null;
      renderSegments();
    } catch (e) { if (e.status !== 401) notify(errText(e)); }
  }

  function segmentLabel(key) {
    const [kind, name] = String(key).split(':');
    if (kind === 'lifecycle') return tc('life', name);
    if (kind === 'value') return name === 'none' ? t('value_none') : tc('value', name);
    if (kind === 'tag') return tc('autotag', name);
    return String(key);
  }

  function renderSegments() {
    const s = S.segments;
    $('sup-segments').replaceChildren(...(s && Object.keys(s.counts || {}).length
      ? Object.entries(s.counts).map(([key, n]) => el('li', { testid: 'segment-count', 'data-segment': key },
        badge(`${segmentLabel(key)} · ${n}`, `seg ${key.startsWith('tag:') ? 'seg-auto' : ''}`)))
      : [el('li', { class: 'empty' }, t('none'))]));
  }

  // ---------------------------------------------------------------- conversation
  async function openConversation(cid) {
    if (S.openCid !== cid) {
      stopTyping();
      S.openCid = cid;
      S.conv = null; S.handoff = null; S.notes = []; S.suggestions = []; S.cite = null;
      S.customer = null; S.profile = null; S.window = null; S.replyNote = ''; S.pollN = 0;
      S.holder = undefined; S.marks = null; S.webContext = null; S.contact = null; S.lost = false;
      showCustomerTyping(false);
      replyError('');
      clearTimeout(S.reloadTimer);
      S.msgs.clear();
      $('transcript').replaceChildren();
      $('reply-input').value = '';
      $('draft-form').hidden = true;
      $('draft-open').setAttribute('aria-expanded', 'false');
      setText($('draft-result'), '');
      renderCite();
      renderWindow();
    }
    S.unread.delete(cid);
    S.unreadN.delete(cid);
    updateTitle();
    renderMine();
    renderReplyState();
    $('conv-empty').hidden = true;
    $('conv-body').hidden = false;
    sendWs({ type: 'watch', conversation_id: cid });
    loadColleagues();
    await loadConversation(cid, true);
    // One column (the phone): bring the conversation into view; the lists are above it.
    if (window.matchMedia && window.matchMedia('(max-width: 1000px)').matches) $('conv').scrollIntoView({ block: 'start' });
    if (!$('reply-input').disabled) $('reply-input').focus({ preventScroll: true });
    else $('conv').focus({ preventScroll: true });
  }

  async function loadConversation(cid, busy) {
    const log = $('transcript');
    // aria-busy keeps screen readers from announcing a whole transcript being loaded.
    if (busy) log.setAttribute('aria-busy', 'true');
    // An older load answering late (one started before a claim or a transfer) would put back
    // the holder and state it read; only the newest load's answer counts.
    const seq = ++S.convLoads;
    try {
      const data = await api('GET', convPath(cid));
      if (S.openCid !== cid || !data || seq !== S.convLoads) return;
      S.conv = data.conversation || {};
      S.handoff = data.handoff || null;
      S.notes = data.notes || [];
      S.suggestions = data.suggestions || [];
      S.window = data.channel_window || null;
      if (S.window && !windowClosed()) S.replyNote = ''; // the customer wrote again: refusal is moot
      // Issue 20 additions (docs/web-protocol.md): absent keys leave the older behaviour.
      if ('holder' in data) S.holder = data.holder || null;
      S.lost = false;
      S.webContext = data.web_context || null;
      S.contact = (data.customer && data.customer.contact) || null;
      for (const m of data.messages || []) addMessage(m);
      if (data.read_marks && data.read_marks.customer) applyMarks(data.read_marks.customer);
      sendRead();
      renderConvHead();
      renderWindow();
      pollPendingDeliveries(cid);
      renderNotes();
      renderSuggestions();
      renderCanned();
      const custId = (data.customer && data.customer.id) || S.conv.customer_id;
      if (data.customer) { S.customer = data.customer; renderCustomer(); }
      if (custId) loadCustomer(cid, custId);
    } catch (e) {
      if (seq !== S.convLoads) return;
      if (e.status === 403 && S.openCid === cid && S.conv) {
        // Someone else holds it now (a transfer, a supervisor): keep the view, reply box off.
        S.lost = true;
        if (S.holder && S.agent && S.holder.username === S.agent.username) S.holder = null;
        renderConvHead();
      } else if (e.status !== 401 && S.openCid === cid) notify(errText(e));
    } finally {
      log.removeAttribute('aria-busy');
    }
  }

  // Anonymous visitors have no name: a short, stable handle beats a 32-character id.
  function customerLabel(id) {
    return id ? `${t('anonymous')} ${String(id).slice(0, 6)}` : t('anonymous');
  }

  function renderConvHead() {
    const c = S.conv || {};
    const h = S.handoff;
    const name = (S.customer && S.customer.name) || customerLabel(c.customer_id);
    setText($('conv-title'), name);
    const parts = [`${t('channel')}: ${c.channel ? tc('ch', c.channel) : '?'}`,
      `${t('status')}: ${c.status ? tc('cst', c.status) : '?'}`, c.language || ''];
    if (h) parts.push(`${t('skill_group')}: ${tc('grp', h.skill_group)}`, `${t('reason')}: ${tc('rsn', h.reason)}`);
    setText($('conv-meta'), parts.filter(Boolean).join(' · '));
    const holder = holderName();
    const line = holdsOpen() ? t('holder_you') : holder ? t('holder', { name: holder }) : '';
    setText($('conv-holder'), line);
    $('conv-holder').hidden = !line;
    renderReplyState();
  }

  // ---------------------------------------------------------------- who may reply
  // Whether this agent holds the open chat: the server's `holder` when it says, else whether
  // the chat is in their "My conversations".
  function holdsOpen() {
    const cid = S.openCid, c = S.conv;
    if (!cid || !c || !S.agent || S.lost) return false;
    if (['resolved', 'closed', 'bot'].includes(c.status)) return false;
    if (S.holder !== undefined) return !!S.holder && S.holder.username === S.agent.username;
    return !!(S.handoff && S.handoff.status === 'assigned') && S.mine.some((q) => q.conversation_id === cid);
  }

  // The display name of whoever else holds the open chat, when someone does.
  function holderName() {
    if (S.holder) return S.holder.display_name || S.holder.username;
    const h = S.handoff;
    if (!h || h.status !== 'assigned') return null;
    const q = S.queue.find((i) => i.conversation_id === S.openCid);
    return (q && (q.assigned_to_name || q.assigned_to)) || null;
  }

  // Why the reply box is off ({key, claim}), or null when this agent may reply.
  function lockReason() {
    if (!S.openCid) return { key: 'lock_none', claim: false };
    const c = S.conv;
    if (!c) return { key: 'lock_none', claim: false };
    if (holdsOpen()) return null;
    if (S.lost) return { key: 'lock_other', claim: false, name: holderName() || t('another_agent') };
    if (c.status === 'resolved' || c.status === 'closed') return { key: 'lock_resolved', claim: false };
    const h = S.handoff;
    if (h && h.status === 'queued') {
      const mayClaim = isSupervisor() || (S.agent && (S.agent.skills || []).includes(h.skill_group));
      return { key: 'lock_claim', claim: !!mayClaim };
    }
    if (c.status === 'bot' || !h) return { key: 'lock_bot', claim: false };
    return { key: 'lock_other', claim: false, name: holderName() || t('another_agent') };
  }

  // The reply box (text, send, file, canned) is on only for the agent holding the chat, and
  // while the channel's window lets a message through; otherwise one line says why.
  function renderReplyState() {
    const lock = lockReason();
    const closed = windowClosed();
    const w = S.window;
    const textOff = !!lock || (closed && !(w && w.fallback));
    $('reply-input').disabled = textOff;
    $('reply-send').disabled = textOff;
    $('reply-file').disabled = !!lock || closed;
    $('reply-form').classList.toggle('locked', !!lock);
    $('canned').disabled = cannedShown.length === 0 || textOff;
    $('reply-lock').hidden = !lock || !S.conv;
    setText($('reply-lock-text'), lock ? t(lock.key, { name: lock.name || '' }) : '');
    $('reply-lock').dataset.reason = lock ? lock.key.slice(5) : '';
    $('conv-claim').hidden = !(lock && lock.claim);
    if (lock && S.typingOn) stopTyping();
  }

  // While a message of the open conversation still waits for delivery, look again: after 1, 2,
  // 4 … 30 s (a channel may be retrying with backoff), at most 10 times until a new frame.
  function pollPendingDeliveries(cid) {
    if (S.openCid !== cid || !PUSHED.has(S.conv && S.conv.channel)) return;
    const pending = [...S.msgs.values()].some((m) => m.delivery && m.delivery.status === 'pending');
    if (!pending || S.pollN >= 10) return;
    scheduleReload(Math.min(30000, 1000 * 2 ** S.pollN++));
  }

  // ---------------------------------------------------------------- WeChat's window
  // The server's window: {channel, last_customer_at, closes_at, remaining, open, closed_because}.
  function windowClosed() {
    const w = S.window;
    if (!w) return false;
    if (w.closed_because || w.open === false || !(Number(w.remaining) > 0)) return true;
    const closes = Date.parse(w.closes_at);
    return !Number.isNaN(closes) && closes <= Date.now(); // it closed while the page was open
  }

  // Why it is closed, in the agent's language when we know the case; else the server's words.
  function windowWhy() {
    const w = S.window;
    const closes = Date.parse(w.closes_at);
    const server = typeof w.closed_because === 'string' ? w.closed_because : '';
    if (lang === 'en' && server) return server;
    if (!w.last_customer_at || Number.isNaN(closes)) return t('win_none');
    if (closes <= Date.now()) return t('win_expired');
    if (!(Number(w.remaining) > 0)) return t('win_used_up');
    return server || t('win_expired');
  }

  function windowLeft(ms) {
    const mins = Math.max(1, Math.ceil(ms / 60000));
    return mins < 60 ? t('win_minutes', { n: mins }) : t('win_hours', { n: Math.floor(mins / 60) });
  }

  function renderWindow() {
    const box = $('conv-window');
    const w = S.window;
    const closed = windowClosed();
    box.hidden = !w;
    let why = '';
    if (w) {
      if (closed) why = windowWhy();
      const n = Math.max(0, Math.floor(Number(w.remaining) || 0));
      setText(box, closed ? t('win_closed', { why })
        : t(n === 1 ? 'win_open_one' : 'win_open', { n, time: windowLeft(Date.parse(w.closes_at) - Date.now()) }));
      box.className = `window ${closed ? 'window-closed' : n <= 1 ? 'window-low' : 'window-open'}`;
      box.dataset.open = String(!closed);
    }
    // A closed window turns the reply box off, and says why next to it; when a template message
    // can still carry a text reply (w.fallback, WeChat), the text box stays on, files do not.
    renderReplyState();
    const note = S.replyNote || (closed ? t('reply_blocked', { why }) : '');
    setText($('reply-note'), note);
    $('reply-note').hidden = !note;
  }

  // Inserts one message in id order. A message already shown (by id) is only redrawn when its
  // delivery state changed (socket frames have none; the transcript GET brings it).
  function addMessage(m) {
    if (!m || m.id == null) return;
    const known = S.msgs.get(m.id);
    if (known) {
      if (!('delivery' in m) || JSON.stringify(known.delivery) === JSON.stringify(m.delivery)) return;
      const merged = { ...known, delivery: m.delivery };
      S.msgs.set(m.id, merged);
      const old = $('transcript').querySelector(`li[data-id="${CSS.escape(String(m.id))}"]`);
      if (old) old.replaceWith(renderMessage(merged));
      return;
    }
    S.msgs.set(m.id, m);
    const log = $('transcript');
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    const node = renderMessage(m);
    const after = [...log.children].find((n) => Number(n.dataset.id) > Number(m.id));
    log.insertBefore(node, after || null);
    if (nearBottom || !after) log.scrollTop = log.scrollHeight;
  }

  function renderMessage(m) {
    const sender = ['customer', 'bot', 'agent', 'system'].includes(m.sender) ? m.sender : 'system';
    let who = t(`sender_${sender}`);
    if (sender === 'agent' && (m.agent || m.sender_id)) who += ` · ${m.agent || m.sender_id}`;
    const p = m.payload || {};
    const links = ['image', 'video', 'link'].map((k) => {
      const href = p[k] && safeUrl(p[k]);
      return href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, `${k}: ${p[k]}`) : null;
    }).filter(Boolean);
    const warn = sender === 'system' && p.event === 'delivery_failed';
    return el('li', {
      class: `msg msg-${sender}${warn ? ' msg-warn' : ''}`, testid: 'msg', 'data-sender': sender,
      'data-id': String(m.id), 'data-event': typeof p.event === 'string' ? p.event : null,
    },
    el('div', { class: 'msg-head' },
      el('span', { class: 'msg-who' }, warn ? el('span', { 'aria-hidden': 'true' }, '⚠ ') : null, who),
      el('time', { datetime: m.created_at || null }, fmtTime(m.created_at))),
    el('p', { class: 'msg-text' }, m.text || ''),
      p.caption ? el('p', { class: 'meta' }, p.caption) : null,
      Array.isArray(p.buttons) && p.buttons.length
        ? el('p', { class: 'meta' }, `${t('buttons')}: `, p.buttons.map((b) => badge(b.title || b.payload || '', 'btn-chip')))
        : null,
      links.length ? el('p', { class: 'meta' }, links) : null,
      mediaInfo(p.media),
      sharedInfo(p.location, p.contact),
      m.kb_article_id ? el('p', { class: 'meta cite-line' }, t('cites', { id: m.kb_article_id, version: m.kb_article_version ?? '?' })) : null,
      sender === 'customer' ? parseInfo(m.parse) : null,
      sender === 'customer' ? null : deliveryInfo(m, p),
      readMark(m));
  }

  // Files with the message, from the media store: images shown, other files as links. The
  // endpoint checks the agent's session and that they may see the conversation.
  function mediaInfo(items) {
    if (!Array.isArray(items) || !items.length) return null;
    return el('div', { class: 'msg-media', testid: 'msg-media' }, items.map((r) => {
      if (!r || typeof r !== 'object') return null;
      if (r.error) return el('p', { class: 'meta msg-warn', testid: 'media-failed' }, t('media_failed', { error: String(r.error) }));
      if (typeof r.id !== 'string' || !/^[0-9a-f]{32}$/.test(r.id)) return null;
      const href = `/api/media/${r.id}`;
      const name = typeof r.filename === 'string' && r.filename ? r.filename : t('attachment');
      if (r.kind === 'image') {
        return el('a', { href, target: '_blank', rel: 'noopener noreferrer' },
          el('img', { src: href, alt: name, class: 'msg-img', testid: 'media-image', loading: 'lazy' }));
      }
      return el('a', { href, download: name, testid: 'media-file' }, `${t('attachment')}: ${name}`);
    }));
  }

  // What the customer shared (bot/dialogue/inbound.py): a place as a line with its
  // OpenStreetMap link, a contact card as its name and phone (masked when transcripts are).
  function sharedInfo(place, contact) {
    const lines = [];
    if (place && typeof place === 'object' && Number.isFinite(place.lat) && Number.isFinite(place.lon)) {
      const lat = place.lat.toFixed(6), lon = place.lon.toFixed(6);
      const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
      const label = [place.label, place.address].filter((x) => typeof x === 'string' && x).join(' · ');
      lines.push(el('p', { class: 'meta', testid: 'msg-location' }, `📍 ${label ? `${label} ` : ''}(${lat}, ${lon}) `,
        el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, 'OpenStreetMap')));
    }
    if (contact && typeof contact === 'object' && (contact.name || contact.phone)) {
      const parts = [contact.name, contact.phone].filter((x) => typeof x === 'string' && x);
      lines.push(el('p', { class: 'meta', testid: 'msg-contact' }, `👤 ${parts.join(' · ')}`));
    }
    return lines.length ? el('div', { class: 'msg-shared' }, lines) : null;
  }

  async function sendAttachment() {
    const input = $('reply-file');
    const file = input.files && input.files[0];
    if (!file || !S.openCid || windowClosed() || lockReason()) { input.value = ''; return; }
    const cid = S.openCid;
    const form = new FormData();
    form.append('file', file, file.name);
    const text = $('reply-input').value;
    if (text.trim()) form.append('text', text);
    await act($('reply-send'), async () => {
      let res;
      try {
        res = await fetch(convPath(cid, '/attachments'), {
          method: 'POST', body: form, credentials: 'same-origin',
          headers: { Accept: 'application/json', 'X-CSRF-Token': S.csrf || '' },
        });
      } catch { throw new ApiError(t('network_error'), 0); }
      let data = null;
      try { data = await res.json(); } catch { data = null; }
      if (!res.ok) throw new ApiError((data && data.message) || res.statusText, res.status, !!data, data);
      if (S.openCid === cid) {
        if ($('reply-input').value === text) $('reply-input').value = '';
        if (data && data.message) addMessage(data.message);
        if (PUSHED.has(S.conv && S.conv.channel)) { S.pollN = 0; scheduleReload(800); }
      }
    }, true).catch(() => {});
    input.value = '';
    renderReplyState(); // act() re-enabled the send button
  }

  // Did an outbound message reach the customer's Telegram or WeChat? Only messages that were
  // sent to the customer have a delivery; a socket frame has none yet, so a message to a pushed
  // channel counts as "sending…" until the transcript says otherwise.
  function deliveryInfo(m, p) {
    let d = m.delivery;
    if (d === undefined && !p.internal && PUSHED.has(m.channel || (S.conv && S.conv.channel))) d = { status: 'pending' };
    if (!d || typeof d !== 'object') return null;
    if (d.status === 'sent') {
      const label = t(d.via === 'passive' ? 'dlv_sent_passive' : 'dlv_sent_api');
      return el('p', { class: 'dlv dlv-sent', testid: 'delivery', 'data-status': 'sent', 'data-via': d.via || null, title: label },
        el('span', { 'aria-hidden': 'true' }, d.via === 'passive' ? '✓ ↩' : '✓'),
        el('span', { class: 'sr-only' }, label));
    }
    if (d.status === 'failed') {
      const error = typeof d.error === 'string' && d.error.trim() ? d.error.trim() : '';
      return el('p', { class: 'dlv dlv-failed', testid: 'delivery-failed', 'data-status': 'failed' },
        el('span', { 'aria-hidden': 'true' }, '✕ '),
        error ? t('dlv_failed', { error }) : t('dlv_failed_bare'));
    }
    const tries = Number(d.attempts) > 1 ? ` (${t('dlv_attempts', { n: d.attempts })})` : '';
    return el('p', { class: 'dlv dlv-pending', testid: 'delivery', 'data-status': 'pending', title: d.error || null },
      t('dlv_pending') + tries);
  }

  function parseInfo(parse) {
    const intent = parse && parse.intent;
    const sent = parse && parse.sentiment;
    if (!intent && !sent) return el('p', { class: 'msg-parse', testid: 'msg-parse' }, t('not_parsed'));
    const conf = intent && typeof intent.confidence === 'number' ? intent.confidence.toFixed(2) : '?';
    return el('p', { class: 'msg-parse', testid: 'msg-parse' },
      intent ? el('span', { class: 'intent' }, `${t('intent')}: ${intent.name} (${conf})`) : null,
      intent && sent ? ' · ' : null,
      sent ? el('span', { class: `sent sent-${sent.label}` }, `${t('sentiment')}: ${tc('sent', sent.label)}`) : null);
  }

  // ---------------------------------------------------------------- reply box
  function insertIntoReply(text) {
    const ta = $('reply-input');
    const start = ta.selectionStart ?? ta.value.length, end = ta.selectionEnd ?? ta.value.length;
    ta.value = ta.value.slice(0, start) + text + ta.value.slice(end);
    const caret = start + text.length;
    ta.focus();
    ta.setSelectionRange(caret, caret);
  }

  function renderCite() {
    const c = S.cite;
    $('reply-cite').hidden = !c;
    setText($('reply-cite-text'), c ? t('cites', { id: c.article_id, version: c.version }) : '');
  }

  async function sendReply(ev) {
    if (ev) ev.preventDefault();
    const ta = $('reply-input');
    const text = ta.value;
    if (!text.trim() || !S.openCid || S.busy || windowClosed() || lockReason()) return;
    const cid = S.openCid;
    S.busy = true;
    stopTyping();
    let refused = null;
    await act($('reply-send'), async () => {
      let data;
      try {
        // The protocol's send body is {"text"} only; the citation is shown to the agent, not sent.
        data = await post(convPath(cid, '/send'), { text });
      } catch (e) {
        // WeChat's window is closed or used up: the reason goes by the reply box, and the
        // agent's text stays in it.
        if (e.status === 409 && e.data && e.data.channel_window) { refused = e; return; }
        // The server is away (restarting, the network is down): the text stays in the box.
        if (e.status === 0 || e.status === 502 || e.status === 503) throw Object.assign(e, { data: { code: 'send_down' } });
        throw e;
      }
      if (S.openCid === cid) {
        if (ta.value === text) ta.value = '';
        S.cite = null;
        renderCite();
        if (data && data.message) addMessage(data.message);
        // Telegram and WeChat: fetch the delivery state shortly, even if no frame comes.
        if (PUSHED.has(S.conv && S.conv.channel)) { S.pollN = 0; scheduleReload(800); }
      }
    }, true);
    S.busy = false;
    if (refused && S.openCid === cid) {
      S.window = refused.data.channel_window;
      S.replyNote = t('reply_blocked', { why: windowWhy() });
      renderWindow();
      $('reply-note').focus(); // the reply box is off now: keep keyboard focus near it
      loadConversation(cid, false); // the header, from the server's current view
      return;
    }
    renderWindow(); // act() re-enabled the send button; a closed window keeps it off
    if (!ta.disabled) ta.focus();
  }

  function onReplyKey(e) {
    // isComposing: Enter that confirms a Chinese IME candidate must not send the message.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendReply();
    }
  }

  let cannedShown = [];   // the canned responses currently in the picker, by option index

  function renderCanned() {
    const sel = $('canned');
    // The conversation's language decides; the UI language only when the conversation has none.
    const convLang = pickLang(S.conv && S.conv.language ? S.conv.language : lang);
    cannedShown = (S.canned && (S.canned[convLang] || S.canned[lang])) || [];
    sel.replaceChildren(el('option', { value: '' }, t('canned_pick')),
      ...cannedShown.map((c, i) => el('option', { value: String(i), title: c.text }, c.title)));
    sel.disabled = cannedShown.length === 0 || windowClosed() || !!lockReason();
  }

  function onCanned() {
    const sel = $('canned');
    if (sel.value === '') return;
    const item = cannedShown[Number(sel.value)];
    sel.value = '';  // back to the prompt so the same response can be inserted twice
    if (item) insertIntoReply(item.text);
  }

  function renderSuggestions() {
    const list = $('suggestions');
    list.replaceChildren(...S.suggestions.map((s) => el('li', {},
      el('button', {
        type: 'button', class: 'suggestion', testid: 'suggestion',
        'data-article-id': s.article_id, 'data-version': String(s.version),
        onclick: () => {
          insertIntoReply(s.snippet || '');
          S.cite = { article_id: s.article_id, version: s.version };
          renderCite();
        },
      },
      el('strong', {}, s.title || s.article_id),
      el('span', { class: 'meta' }, ` ${s.article_id} v${s.version}${typeof s.score === 'number' ? ` · ${s.score.toFixed(2)}` : ''}`),
      el('span', { class: 'snippet' }, s.snippet || '')))));
    $('sugg-empty').hidden = S.suggestions.length > 0;
  }

  // ---------------------------------------------------------------- notes
  function renderNotes() {
    $('notes').replaceChildren(...S.notes.map((n) => el('li', { class: 'note' },
      el('p', { class: 'note-text' }, n.text),
      el('p', { class: 'meta', testid: 'note-meta' },
        [n.author_name || (n.agent_id ? t('sender_agent') : ''), fmtTime(n.created_at, true)].filter(Boolean).join(' · ')))));
    if (!S.notes.length) $('notes').append(el('li', { class: 'empty' }, t('no_notes')));
  }

  async function addNote(ev) {
    ev.preventDefault();
    const input = $('note-input');
    const text = input.value.trim();
    const cid = S.openCid;
    if (!text || !cid) return;
    await act($('note-add'), async () => {
      const data = await post(convPath(cid, '/notes'), { text });
      if (S.openCid !== cid) return;
      input.value = '';
      // Written by this agent: signed with their name even before the server says it.
      if (data && data.note) { S.notes.push({ author_name: S.agent && S.agent.display_name, ...data.note }); renderNotes(); }
    });
  }

  // ---------------------------------------------------------------- actions
  // One list to transfer to: the skill groups, then the colleagues online or away (display
  // name, status, load), from GET /api/agent/colleagues.
  function renderGroups() {
    const sel = $('transfer-group');
    const keep = sel.value;
    const groups = el('optgroup', { label: t('og_groups') },
      ...S.groups.map((g) => el('option', { value: `group:${g}`, 'data-kind': 'group' }, tc('grp', g))));
    const people = S.colleagues.length ? el('optgroup', { label: t('og_agents') },
      ...S.colleagues.map((a) => el('option', {
        value: `agent:${a.username}`, 'data-kind': 'agent', 'data-status': a.status,
        disabled: a.status !== 'online' || (a.max_concurrent && a.load >= a.max_concurrent) ? true : null,
      }, t('colleague_opt', {
        name: a.display_name || a.username, status: tc('status', a.status), load: a.load ?? 0, max: a.max_concurrent ?? '?',
      })))) : null;
    sel.replaceChildren(el('option', { value: '' }, t('pick_target')), groups, people);
    if ([...sel.options].some((o) => o.value === keep && !o.disabled)) sel.value = keep;
  }

  async function loadColleagues() {
    if (!S.agent) return;
    try {
      const data = await api('GET', '/api/agent/colleagues');
      S.colleagues = (data && Array.isArray(data.agents)) ? data.agents : [];
    } catch (e) {
      if (e.status === 401) return;
      S.colleagues = []; // an older server without the list: groups only
    }
    renderGroups();
  }

  // After an action the conversation changed state: reload it and the lists.
  async function afterAction(cid) {
    refreshLists();
    if (S.openCid === cid) await loadConversation(cid, false);
  }

  async function transfer() {
    const sel = $('transfer-group');
    const value = sel.value;
    const cid = S.openCid;
    if (!cid) return;
    if (!value) { replyError(t('pick_target')); sel.focus(); return; }
    const [kind, ...rest] = value.split(':');
    const target = rest.join(':');
    const body = kind === 'agent' ? { agent: target } : { skill_group: target };
    const ok = await act($('transfer'), async () => { await post(convPath(cid, '/transfer'), body); return true; }, true);
    if (ok && S.openCid === cid) {
      sel.value = '';
      if (kind === 'agent') {
        // The colleague holds it now: this agent may no longer read it; the page keeps what it
        // shows and says who has it.
        const c = S.colleagues.find((a) => a.username === target);
        S.holder = { username: target, display_name: (c && c.display_name) || target };
        if (S.handoff) S.handoff = { ...S.handoff, status: 'assigned' };
        renderConvHead();
      }
    }
    afterAction(cid);
    loadColleagues();
  }

  async function simpleAction(button, tail) {
    const cid = S.openCid;
    if (!cid) return;
    await act(button, () => post(convPath(cid, tail)), true);
    afterAction(cid);
  }

  function lastText(sender) {
    const all = [...S.msgs.values()].sort((a, b) => a.id - b.id);
    for (let i = all.length - 1; i >= 0; i--) if (all[i].sender === sender && all[i].text) return all[i].text;
    return '';
  }

  function toggleDraft() {
    const form = $('draft-form');
    const open = form.hidden;
    form.hidden = !open;
    $('draft-open').setAttribute('aria-expanded', String(open));
    if (!open) return;
    // Prefill from the conversation: the customer's last question and the agent's last answer.
    $('draft-question').value = lastText('customer');
    $('draft-answer').value = lastText('agent');
    setText($('draft-result'), '');
    $('draft-question').focus();
  }

  async function saveDraft(ev) {
    ev.preventDefault();
    const cid = S.openCid;
    const question = $('draft-question').value.trim();
    const answer = $('draft-answer').value.trim();
    const category = $('draft-category').value.trim();
    if (!cid) return;
    if (!question || !answer) { setText($('draft-result'), t('draft_need')); return; }
    const body = { question, answer };
    if (category) body.category = category;
    await act($('draft-save'), async () => {
      const data = await post(convPath(cid, '/draft'), body);
      const d = (data && data.draft) || {};
      setText($('draft-result'), t('draft_saved', { id: d.id ?? '?', version: d.version ?? '?', status: d.status ?? '' }));
    });
  }

  // ---------------------------------------------------------------- customer panel
  const custPath = (id, tail) => `/api/agent/customers/${encodeURIComponent(id)}${tail || ''}`;

  async function loadCustomer(cid, customerId) {
    try {
      // The history (agent API) and the profile with fresh segments, orders and edits.
      const [data, prof] = await Promise.all([
        api('GET', custPath(customerId)),
        api('GET', custPath(customerId, '/profile')).catch((e) => { if (e.status === 401) throw e; return null; }),
      ]);
      if (S.openCid !== cid || !data) return;
      S.customer = (prof && prof.customer) || data.customer || S.customer;
      S.profile = {
        conversations: data.conversations || [], tickets: data.tickets || [], events: data.events || [],
        orders: (prof && prof.orders) || [], changes: (prof && prof.changes) || [],
        identities: (prof && prof.identities) || [],
      };
      renderCustomer();
      renderConvHead();
    } catch (e) { if (e.status !== 401 && S.openCid === cid) notify(errText(e)); }
  }

  // After an edit: the profile again (segments, the change just recorded).
  async function reloadProfile() {
    const c = S.customer;
    if (!c) return;
    const prof = await api('GET', custPath(c.id, '/profile'));
    if (!prof || !S.customer || S.customer.id !== c.id) return;
    S.customer = prof.customer;
    S.profile = { ...(S.profile || { conversations: [], tickets: [] }),
      orders: prof.orders || [], changes: prof.changes || [], identities: prof.identities || [] };
    renderCustomer();
    renderConvHead();
  }

  function fmtDate(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return iso ? String(iso) : '';
    return d.toLocaleDateString(lang === 'zh' ? 'zh-CN' : 'en', { year: 'numeric', month: 'short', day: 'numeric' });
  }

  function fmtMoney(cents, currency) {
    const n = (Number(cents) || 0) / 100;
    try {
      return new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en', { style: 'currency', currency: currency || 'CNY' }).format(n);
    } catch { return `${n.toFixed(2)} ${currency || ''}`.trim(); }
  }

  function renderCustomer() {
    const c = S.customer;
    $('cust-empty').hidden = !!c;
    $('cust-body').hidden = !c;
    if (!c) { toggleProfileForm(false); return; }
    if (S.profileFormFor && S.profileFormFor !== c.id) toggleProfileForm(false);
    setText($('cust-name'), c.name || customerLabel(c.id));
    setText($('cust-lang'), t('lang_label', { lang: c.language || (S.conv && S.conv.language) || '?' }));
    $('cust-segments').replaceChildren(...segmentBadges(c, 'customer').map((b) => el('li', {}, b)));
    $('cust-tags').replaceChildren(...(c.tags || []).map((tag) =>
      el('li', {}, el('span', { class: `badge tag tag-${cssSafe(tag)}`, testid: 'customer-tag', 'data-tag': tag },
        tag,
        el('button', {
          type: 'button', class: 'tag-remove', testid: 'tag-remove', 'aria-label': t('tag_remove', { tag }),
          title: t('tag_remove', { tag }), onclick: (e) => removeTag(tag, e.currentTarget),
        }, '×')))));
    const p = S.profile || { conversations: [], tickets: [], orders: [], changes: [], identities: [] };
    const contact = S.contact || {};
    const facts = [
      ['pf_email', c.email || contact.email], ['pf_phone', c.phone || contact.phone], ['pf_region', c.region],
      ['pf_ref', c.external_ref],
      ['pf_since', (c.customer_since || c.created_at) ? fmtDate(c.customer_since || c.created_at) : null],
      ['pf_spend', c.yearly_spend_cents != null ? fmtMoney(c.yearly_spend_cents, 'CNY') : null],
      ['pf_channels', (p.identities || []).map((i) => `${i.channel}:${i.external_id}`).join(', ') || null],
    ].filter(([, v]) => v);
    $('cust-profile').replaceChildren(...(facts.length ? facts.flatMap(([k, v]) => [
      el('dt', {}, t(k)), el('dd', { testid: `fact-${k.slice(3)}` }, v),
    ]) : [el('dd', { class: 'empty' }, t('none'))]));
    $('cust-orders').replaceChildren(...((p.orders || []).length ? p.orders.map((o) => el('li', { testid: 'customer-order' },
      el('strong', {}, o.order_id), ' ', o.items || '', ' · ',
      badge(tc('ord', o.status), `ord ord-${cssSafe(o.status)}`), ' ',
      el('span', { class: 'order-amount' }, fmtMoney(o.amount_cents, o.currency)), ' · ',
      fmtDate(o.ordered_at))) : [el('li', { class: 'empty' }, t('none'))]));
    const attrs = Object.entries(c.attributes || {});
    $('cust-attrs').replaceChildren(...(attrs.length ? attrs.flatMap(([k, v]) => [
      el('dt', {}, k),
      el('dd', {}, v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)),
    ]) : [el('dd', { class: 'empty' }, t('none'))]));
    // Each past conversation opens read-only (console-history.js); the open one is marked.
    $('cust-convs').replaceChildren(...(p.conversations.length ? p.conversations.map((cv) => {
      const when = fmtTime(cv.created_at, true);
      const label = `${cv.channel ? tc('ch', cv.channel) : '?'} · ${cv.status ? tc('cst', cv.status) : '?'} · ${when}`;
      return el('li', {},
        cv.id === S.openCid ? el('span', {}, label) : el('button', {
          type: 'button', class: 'link past-conv', testid: 'past-conversation', 'data-conversation-id': cv.id,
          'aria-label': t('open_past', { when }), onclick: () => openPast(cv.id),
        }, label),
        cv.id === S.openCid ? badge(t('current'), 'current') : null);
    }) : [el('li', { class: 'empty' }, t('none'))]));
    renderWebContext();
    $('cust-tickets').replaceChildren(...(p.tickets.length ? p.tickets.map((tk) => el('li', {},
      el('strong', {}, tk.number || String(tk.id ?? '')), ' ', tk.subject || '', ' ',
      badge(tk.status || '?', `tk tk-${tk.status}`))) : [el('li', { class: 'empty' }, t('none'))]));
    // What the shop's systems and the widget reported (POST /api/events), newest first.
    const evs = p.events || [];
    $('cust-events').replaceChildren(...(evs.length ? evs.map((ev) => el('li', { testid: 'customer-event' },
      el('span', { class: 'meta' }, fmtTime(ev.occurred_at, true)), ' ', el('strong', {}, ev.type || '?'),
      Object.keys(ev.data || {}).length ? ` ${JSON.stringify(ev.data).slice(0, 120)}` : ''))
      : [el('li', { class: 'empty' }, t('none'))]));
    const shown = (v) => (v == null || v === '' ? t('empty_value') : v);
    $('cust-changes').replaceChildren(...((p.changes || []).length ? p.changes.map((ch) => el('li', { testid: 'customer-change' },
      el('span', { class: 'meta' }, fmtTime(ch.at, true)), ' ',
      t('change_line', { who: ch.actor_name || ch.actor, field: tc('fld', ch.field), old: shown(ch.old), new: shown(ch.new) })))
      : [el('li', { class: 'empty' }, t('none'))]));
  }

  // Where a web customer is (C5, the widget's hello): the page as a link with its title, the
  // browser, where they came from, who the site says they are, their time zone and screen.
  function renderWebContext() {
    const w = S.webContext;
    const box = $('cust-web');
    if (!w || typeof w !== 'object') { box.hidden = true; $('cust-web-facts').replaceChildren(); return; }
    const link = (url, text) => {
      const href = url && safeUrl(url);
      return href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer', title: url }, text || url) : (text || url || null);
    };
    const rows = [
      ['page', w.page_url || w.page_title ? link(w.page_url, w.page_title || w.page_url) : null],
      ['browser', w.browser || w.user_agent],
      ['referrer', w.referrer ? link(w.referrer, w.referrer) : null],
      ['identity', w.identity],
      ['timezone', w.timezone],
      ['language', w.language],
      ['screen', w.screen],
      ['seen', w.seen_at ? fmtTime(w.seen_at, true) : null],
    ].filter(([, v]) => v);
    $('cust-web-facts').replaceChildren(...rows.flatMap(([k, v]) => [
      el('dt', {}, t(`wc_${k}`)), el('dd', { testid: `web-${k}` }, v),
    ]));
    box.hidden = rows.length === 0;
  }

  async function addTag(ev) {
    ev.preventDefault();
    const input = $('tag-input');
    const tag = input.value.trim();
    const c = S.customer;
    if (!tag || !c) return;
    await act($('tag-add'), async () => {
      await post(custPath(c.id, '/tags'), { add: [tag] });
      input.value = '';
      await reloadProfile();
    });
  }

  async function removeTag(tag, button) {
    const c = S.customer;
    if (!c) return;
    await act(button, async () => {
      await post(custPath(c.id, '/tags'), { remove: [tag] });
      await reloadProfile();
      $('tag-input').focus(); // the button that had focus is gone
    });
  }

  const PROFILE_INPUTS = [['name', 'pf-name'], ['email', 'pf-email'], ['phone', 'pf-phone'],
    ['region', 'pf-region'], ['language', 'pf-language']];

  function toggleProfileForm(open) {
    const form = $('profile-form');
    const show = open === undefined ? form.hidden : open;
    form.hidden = !show;
    $('profile-edit').setAttribute('aria-expanded', String(show));
    S.profileFormFor = show && S.customer ? S.customer.id : null;
    if (show && S.customer) {
      for (const [key, id] of PROFILE_INPUTS) $(id).value = S.customer[key] || '';
      $('pf-name').focus();
    }
  }

  async function saveProfile(ev) {
    ev.preventDefault();
    const c = S.customer;
    if (!c) return;
    const body = {};
    for (const [key, id] of PROFILE_INPUTS) {
      const value = $(id).value.trim();
      if (value !== (c[key] || '')) body[key] = value || null;
    }
    if (!Object.keys(body).length) { toggleProfileForm(false); return; }
    await act($('profile-save'), async () => {
      await post(custPath(c.id, '/profile'), body);
      toggleProfileForm(false);
      await reloadProfile();
      $('profile-edit').focus();
    });
  }

  // ---------------------------------------------------------------- language switch
  function setLang(next) {
    lang = next === 'zh' ? 'zh' : 'en';
    applyStatic();
    if (!S.agent) return;
    renderMe();
    setConn(!!(S.ws && S.ws.readyState === WebSocket.OPEN));
    renderQueue();
    renderMine();
    renderSupervisor();
    renderGroups();
    renderCanned();
    renderCite();
    if (S.conv) {
      renderConvHead();
      renderWindow();
      if (!$('typing').hidden) showCustomerTyping(true);
      if ($('reply-error').textContent) replyError(''); // its language has gone: the next error comes in the new one
      renderNotes();
      renderSuggestions();
      // Sender labels are translated: rebuild the transcript quietly.
      const log = $('transcript');
      log.setAttribute('aria-busy', 'true');
      log.replaceChildren(...[...S.msgs.values()].sort((a, b) => a.id - b.id).map(renderMessage));
      log.removeAttribute('aria-busy');
    }
    renderCustomer();
  }

  // ---------------------------------------------------------------- start
  function wire() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', logout);
    $('status-toggle').addEventListener('click', toggleStatus);
    $('lang-select').addEventListener('change', (e) => setLang(e.target.value));
    $('notice-close').addEventListener('click', () => notify(''));
    $('reply-form').addEventListener('submit', sendReply);
    $('reply-file').addEventListener('change', sendAttachment);
    $('reply-input').addEventListener('keydown', onReplyKey);
    $('reply-input').addEventListener('input', () => {
      if (!$('reply-input').value && S.cite) { S.cite = null; renderCite(); }
      agentTyping();
    });
    $('reply-input').addEventListener('blur', () => { if (!$('reply-input').value) stopTyping(); });
    $('notify-toggle').addEventListener('click', toggleNotify);
    $('sound-toggle').addEventListener('click', toggleSound);
    document.addEventListener('visibilitychange', onAttention);
    window.addEventListener('focus', onAttention);
    window.addEventListener('offline', () => { if (S.agent) setConn(false); });
    $('reply-cite-clear').addEventListener('click', () => { S.cite = null; renderCite(); $('reply-input').focus(); });
    $('canned').addEventListener('change', onCanned);
    $('note-form').addEventListener('submit', addNote);
    $('transfer').addEventListener('click', transfer);
    $('return-to-bot').addEventListener('click', (e) => simpleAction(e.currentTarget, '/return'));
    $('resolve').addEventListener('click', (e) => simpleAction(e.currentTarget, '/resolve'));
    $('conv-claim').addEventListener('click', (e) => { if (S.openCid) claim(S.openCid, e.currentTarget, true); });
    $('draft-open').addEventListener('click', toggleDraft);
    $('draft-form').addEventListener('submit', saveDraft);
    $('tag-form').addEventListener('submit', addTag);
    $('profile-edit').addEventListener('click', () => toggleProfileForm());
    $('profile-cancel').addEventListener('click', () => { toggleProfileForm(false); $('profile-edit').focus(); });
    $('profile-form').addEventListener('submit', saveProfile);
    setInterval(() => { if (S.agent) tick(); }, 1000);
  }

  async function init() {
    applyStatic();
    wire();
    try {
      const me = await api('GET', '/api/console/me');
      if (me && me.agent) startSession(me);
      else showLogin('');
    } catch (e) {
      showLogin(e.status === 401 ? '' : e.message);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
