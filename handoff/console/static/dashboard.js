// relaydesk supervisor dashboard: vanilla ES2020, no dependencies, no build step.
// Data: GET /api/supervisor/analytics (JSON) and /api/supervisor/analytics.csv (the CSV links);
// the shape is bot/analytics/summary.py summarize(), the definitions bot/analytics/metrics.py.
// SECURITY: server data reaches the DOM only through textContent / createTextNode (el(), svg()).
// There is deliberately no innerHTML anywhere in this file, and no inline style (the page's CSP).
'use strict';

(() => {
  // ---------------------------------------------------------------- strings
  const STRINGS = {
    en: {
      title: 'relaydesk supervisor dashboard', brand: 'relaydesk supervisor dashboard',
      skip: 'Skip to the figures', language: 'Language', to_console: 'Agent console',
      checking: 'Checking who is signed in…',
      login_heading: 'Please sign in', login_text: 'The dashboard uses your agent console session.',
      login_link: 'Sign in at the console', login_after: 'Then come back to this page.',
      forbidden_heading: 'Supervisors only',
      forbidden_text: 'This dashboard is for supervisors and admins only. Your account is an agent account.',
      back_to_console: 'Back to the agent console',
      role_agent: 'Agent', role_supervisor: 'Supervisor', role_admin: 'Admin',
      filters: 'Filters', period: 'Period (dates in UTC)', from: 'From', to: 'To',
      presets: 'Quick periods', last_7: 'Last 7 days', last_30: 'Last 30 days',
      this_month: 'This month', last_month: 'Last month',
      breakdown: 'Breakdown and slices', granularity: 'Trend by',
      gran_day: 'Day', gran_week: 'Week', gran_month: 'Month',
      dim_channel: 'Channel', dim_skill_group: 'Skill group', dim_agent: 'Agent', dim_language: 'Language',
      all: 'All', apply: 'Apply', reset: 'Reset',
      main_heading: 'Service analytics', headline: 'Headline figures',
      loading: 'Loading…',
      showing: 'Showing {from} to {to} (UTC), by {gran}{filters}. Updated {time}; figures are cached for up to a minute.',
      filtered: '; only {list}',
      err_dates: 'Enter both dates as YYYY-MM-DD.',
      err_order: '“To” is before “From”.',
      err_span: 'A period is at most 366 days.',
      err_load: 'Could not load the figures: {msg}',
      network_error: 'Cannot reach the server.',
      session_lost: 'Your session has ended.',
      no_data: 'no data',
      // cards
      m_conversations: 'Conversations', m_open: 'Still open', m_containment_rate: 'Containment',
      m_escalation_rate: 'Escalation rate', m_human_first_response_p50_s: 'Human first response (p50)',
      m_human_within_sla_rate: 'First replies within SLA', m_sla_breaches: 'SLA breaches',
      m_resolution_p50_s: 'Time to resolution (p50)', m_first_contact_resolution_rate: 'First-contact resolution',
      m_csat_rate: 'CSAT (4–5 stars)', m_csat_mean_100: 'CSAT mean (0–100)',
      sub_conversations: '{n} closed', sub_open: 'not yet in the outcome figures',
      sub_containment: '{n} of {closed} closed kept by the bot',
      sub_escalation: '{n} handoffs', sub_p90: 'p90 {v}', sub_sla: 'SLA {v}',
      sub_breaches_none: 'none over SLA', sub_breaches: 'handoffs over SLA',
      sub_resolution: 'start to close, closed ones', sub_fcr: 'no return within {n} days',
      sub_fcr_pending: 'no return within {n} days; {p} closed too recently to tell',
      sub_ratings: '{n} ratings', sub_ratings_one: '1 rating',
      sub_mean: 'mean of {n} ratings', sub_mean_one: 'mean of 1 rating',
      sub_escalation_one: '1 handoff', comments_count_one: '1 rating with a comment.',
      // charts
      trend: 'Conversations, containment and CSAT over time',
      frt: 'Human first response times', reasons: 'Escalation reasons',
      problems: 'Top problems (intents)', categories: 'Knowledge categories answered',
      legend_conv: 'Conversations (left axis)', legend_cont: 'Containment (right axis)',
      legend_csat: 'CSAT, share 4–5 (right axis)',
      trend_point: '{bucket}: {n} conversations, containment {cont}, CSAT {csat}',
      trend_desc: 'Per {gran}, from {first} to {last}: {points}.', trend_more: ' (first {n} shown)',
      no_conversations: 'No conversations in this period.',
      frt_desc: 'Handoffs by time to the first agent reply (SLA {sla}): {bins}.',
      frt_none: 'No agent has replied to a handoff in this period.',
      sla_mark: 'SLA {v}', within_sla: 'within SLA', over_sla: 'over SLA',
      frt_axis: 'handoffs', bars_desc: '{rows}.', nothing: 'Nothing in this period.',
      share_of: '{n} ({share})',
      // tables
      csv: 'Download CSV', csv_label: 'Download CSV: {what}', csv_short: 'CSV: {what}',
      gaps: 'Knowledge gaps',
      gaps_help: 'Questions the bot replied to without a knowledge-base answer, grouped by meaning.',
      col_label: 'Typical question', col_language: 'Language', col_count: 'Count', col_examples: 'Examples',
      gaps_empty: 'No knowledge gaps in this period: every question got a knowledge-base answer.',
      slices: 'By channel, skill group, agent and language',
      col_slice: 'Slice', col_conv: 'Conversations', col_cont: 'Containment', col_esc: 'Escalation',
      col_frt: 'First response p50', col_sla: 'Within SLA', col_breaches: 'SLA breaches',
      col_ttr: 'Resolution p50', col_fcr: 'FCR', col_csat: 'CSAT', col_mean: 'CSAT mean', col_ratings: 'Ratings',
      slices_empty: 'No conversations.',
      breaches: 'SLA breaches',
      breaches_help: 'Handoffs whose first agent reply came later than the SLA ({sla}), or never came while the customer waited longer. Longest first; open a row to read the transcript.',
      breaches_capped: 'Showing the {shown} longest of {total}.',
      col_conversation: 'Conversation', col_customer: 'Customer', col_queued_at: 'Queued at', col_first_response: 'First response',
      no_reply: 'no reply', still_waiting: 'still waiting', breaches_empty: 'No SLA breaches in this period.',
      anonymous: 'Customer', open_transcript: 'Open the transcript of {who} ({channel}, {time})',
      unassigned: 'Unassigned',
      low: 'Low ratings', low_help: 'Ratings of 1 or 2 stars, newest first; open a row to read the transcript.',
      col_rated_at: 'Rated at', col_score: 'Rating', col_comment: 'Comment', low_empty: 'No rating of 1 or 2 stars in this period.',
      stars: '{n} ★',
      comments: 'Rating comments', comments_count: '{n} ratings with a comment.',
      sentiment: 'Sentiment', col_sentiment: 'Sentiment', col_phrase: 'Phrase',
      phrases_zh: 'Key phrases (Chinese comments)', phrases_en: 'Key phrases (English comments)',
      phrases_empty: 'No comments.',
      sent_positive: 'Positive', sent_neutral: 'Neutral', sent_negative: 'Negative',
      // codes
      ch_rest: 'REST API', ch_web: 'Web widget', ch_telegram: 'Telegram', ch_wechat: 'WeChat',
      lang_zh: 'Chinese (zh)', lang_en: 'English (en)',
      sg_bot: 'Bot only (no handoff)', sg_after_sales: 'After-sales', sg_pre_sales: 'Pre-sales',
      sg_billing: 'Billing', sg_tech_support: 'Tech support', sg_complaints: 'Complaints',
      ag_bot: 'Bot only (no handoff)', ag_unassigned: 'Unassigned (never claimed)',
      rs_explicit_request: 'Asked for a person', rs_failed_turns: 'Bot did not understand',
      rs_negative_sentiment: 'Negative sentiment', rs_complaint: 'Complaint', rs_transfer: 'Transferred',
      // units
      u_s: '{n} s', u_min: '{n} min', u_min_s: '{m} min {s} s', u_h_min: '{h} h {m} min', u_d_h: '{d} d {h} h',
      // definitions
      definitions: 'How the figures are defined',
      d_conversations: 'Conversations started in the period (UTC dates). A conversation is closed when an agent resolved it, or when the bot’s session ended: the store closed it, or it has been idle longer than the session expiry ({expiry}). All others are open.',
      d_open: 'Conversations still going (with the bot, queued or with an agent): left out of containment, escalation rate, time to resolution and first-contact resolution until they close.',
      d_containment_rate: 'Share of closed conversations with no handoff to a person.',
      d_escalation_rate: 'Share of closed conversations with at least one handoff; reasons are counted per handoff, open conversations included.',
      d_human_first_response_p50_s: 'From a handoff being queued to the agent’s first reply; p50 is the median, p90 the 90th percentile.',
      d_human_within_sla_rate: 'Share of first agent replies that came within the SLA ({sla}).',
      d_sla_breaches: 'Handoffs whose first agent reply came later than the SLA, or never came while the customer waited longer than the SLA.',
      d_resolution_p50_s: 'Median time from a closed conversation’s start to its close; open conversations are left out, never timed to now.',
      d_first_contact_resolution_rate: 'Share of closed conversations after which the same customer opened no conversation on the same topic within {fcr} days; counted once those days have passed.',
      d_csat_rate: 'Share of ratings that are 4 or 5 stars.',
      d_csat_mean_100: 'Mean rating on a 0–100 scale: (score − 1) ÷ 4 × 100.',
      d_gaps: 'Customer questions the bot replied to without a knowledge-base answer, grouped by meaning.',
    },
    zh: {
      title: 'relaydesk 主管数据看板', brand: 'relaydesk 主管数据看板',
      skip: '跳到数据', language: '语言', to_console: '坐席工作台',
      checking: '正在确认登录状态…',
      login_heading: '请先登录', login_text: '数据看板使用坐席工作台的登录会话。',
      login_link: '前往工作台登录', login_after: '登录后再回到本页。',
      forbidden_heading: '仅限主管',
      forbidden_text: '数据看板仅对主管和管理员开放，您的账号是坐席账号。',
      back_to_console: '返回坐席工作台',
      role_agent: '坐席', role_supervisor: '主管', role_admin: '管理员',
      filters: '筛选', period: '时间段（UTC 日期）', from: '开始', to: '结束',
      presets: '快捷时间段', last_7: '最近 7 天', last_30: '最近 30 天',
      this_month: '本月', last_month: '上月',
      breakdown: '粒度与维度', granularity: '趋势粒度',
      gran_day: '按天', gran_week: '按周', gran_month: '按月',
      dim_channel: '渠道', dim_skill_group: '技能组', dim_agent: '坐席', dim_language: '语言',
      all: '全部', apply: '应用', reset: '重置',
      main_heading: '服务数据', headline: '核心指标',
      loading: '加载中…',
      showing: '当前：{from} 至 {to}（UTC），{gran}{filters}。更新于 {time}；数据最多缓存一分钟。',
      filtered: '；仅 {list}',
      err_dates: '请按 YYYY-MM-DD 填写两个日期。',
      err_order: '“结束”早于“开始”。',
      err_span: '时间段最长 366 天。',
      err_load: '数据加载失败：{msg}',
      network_error: '无法连接服务器。',
      session_lost: '登录已失效。',
      no_data: '无数据',
      m_conversations: '会话数', m_open: '尚未结束', m_containment_rate: '机器人独立解决率',
      m_escalation_rate: '转人工率', m_human_first_response_p50_s: '人工首次响应（中位数）',
      m_human_within_sla_rate: 'SLA 内首次回复占比', m_sla_breaches: 'SLA 超时',
      m_resolution_p50_s: '解决时长（中位数）', m_first_contact_resolution_rate: '首次接触解决率',
      m_csat_rate: '满意度（4–5 星占比）', m_csat_mean_100: '满意度均值（0–100）',
      sub_conversations: '已结束 {n} 个', sub_open: '暂不计入结果类指标',
      sub_containment: '已结束的 {closed} 个中 {n} 个由机器人完成',
      sub_escalation: '{n} 次转人工', sub_p90: 'p90 {v}', sub_sla: 'SLA {v}',
      sub_breaches_none: '无超时', sub_breaches: '次转人工超出 SLA',
      sub_resolution: '已结束会话，从开始到结束', sub_fcr: '{n} 天内未因同一问题再来',
      sub_fcr_pending: '{n} 天内未因同一问题再来；{p} 个刚结束，尚待观察',
      sub_ratings: '{n} 个评价', sub_mean: '{n} 个评价的均值',
      trend: '会话数、机器人解决率和满意度趋势',
      frt: '人工首次响应时间分布', reasons: '转人工原因',
      problems: '热门问题（意图）', categories: '知识库回答的分类',
      legend_conv: '会话数（左轴）', legend_cont: '机器人解决率（右轴）', legend_csat: '满意度 4–5 星占比（右轴）',
      trend_point: '{bucket}：{n} 个会话，解决率 {cont}，满意度 {csat}',
      trend_desc: '按{gran}，{first} 至 {last}：{points}。', trend_more: '（仅列出前 {n} 个）',
      no_conversations: '该时间段没有会话。',
      frt_desc: '按首次人工回复用时统计的转人工次数（SLA {sla}）：{bins}。',
      frt_none: '该时间段内没有坐席回复过转人工会话。',
      sla_mark: 'SLA {v}', within_sla: 'SLA 内', over_sla: '超出 SLA',
      frt_axis: '次转人工', bars_desc: '{rows}。', nothing: '该时间段没有数据。',
      share_of: '{n}（{share}）',
      csv: '下载 CSV', csv_label: '下载 CSV：{what}', csv_short: 'CSV：{what}',
      gaps: '知识缺口',
      gaps_help: '机器人未能用知识库回答的问题，按语义归类。',
      col_label: '典型问题', col_language: '语言', col_count: '次数', col_examples: '示例',
      gaps_empty: '该时间段没有知识缺口：每个问题都得到了知识库的回答。',
      slices: '按渠道、技能组、坐席和语言',
      col_slice: '维度值', col_conv: '会话数', col_cont: '机器人解决率', col_esc: '转人工率',
      col_frt: '首次响应 p50', col_sla: 'SLA 内', col_breaches: 'SLA 超时',
      col_ttr: '解决时长 p50', col_fcr: '首次解决率', col_csat: '满意度', col_mean: '满意度均值', col_ratings: '评价数',
      slices_empty: '没有会话。',
      breaches: 'SLA 超时明细',
      breaches_help: '首次人工回复晚于 SLA（{sla}），或客户等待超过 SLA 仍未得到回复的转人工。按等待时长从长到短；点击一行查看会话记录。',
      breaches_capped: '仅显示最长的 {shown} 条，共 {total} 条。',
      col_conversation: '会话', col_customer: '客户', col_queued_at: '排队时间', col_first_response: '首次响应',
      no_reply: '未回复', still_waiting: '仍在等待', breaches_empty: '该时间段没有 SLA 超时。',
      anonymous: '客户', open_transcript: '查看 {who} 的会话记录（{channel}，{time}）',
      unassigned: '未分配',
      low: '差评', low_help: '1 星或 2 星评价，最新的在前；点击一行查看会话记录。',
      col_rated_at: '评价时间', col_score: '评分', col_comment: '留言', low_empty: '该时间段没有 1 星或 2 星评价。',
      stars: '{n} ★',
      comments: '评价留言', comments_count: '{n} 个评价附有留言。',
      sentiment: '情绪', col_sentiment: '情绪', col_phrase: '关键词',
      phrases_zh: '关键词（中文留言）', phrases_en: '关键词（英文留言）',
      phrases_empty: '没有留言。',
      sent_positive: '正面', sent_neutral: '中性', sent_negative: '负面',
      ch_rest: 'REST 接口', ch_web: '网页插件', ch_telegram: 'Telegram', ch_wechat: '微信',
      lang_zh: '中文 (zh)', lang_en: '英文 (en)',
      sg_bot: '仅机器人（未转人工）', sg_after_sales: '售后', sg_pre_sales: '售前',
      sg_billing: '账务', sg_tech_support: '技术支持', sg_complaints: '投诉',
      ag_bot: '仅机器人（未转人工）', ag_unassigned: '未分配（无人接入）',
      rs_explicit_request: '客户要求人工', rs_failed_turns: '机器人多次未理解',
      rs_negative_sentiment: '负面情绪', rs_complaint: '投诉', rs_transfer: '技能组转接',
      u_s: '{n} 秒', u_min: '{n} 分钟', u_min_s: '{m} 分 {s} 秒', u_h_min: '{h} 小时 {m} 分', u_d_h: '{d} 天 {h} 小时',
      definitions: '指标定义',
      d_conversations: '该时间段（UTC 日期）内开始的会话。坐席已结束的会话，或机器人会话已结束（系统已关闭，或闲置超过会话有效期 {expiry}）的会话算作已结束，其余为未结束。',
      d_open: '仍在进行的会话（机器人接待中、排队中或坐席处理中）：结束前不计入机器人解决率、转人工率、解决时长和首次接触解决率。',
      d_containment_rate: '已结束会话中没有转人工的占比。',
      d_escalation_rate: '已结束会话中至少转过一次人工的占比；原因按每次转人工统计，包括未结束的会话。',
      d_human_first_response_p50_s: '从转人工排队到坐席首次回复的时长；p50 为中位数，p90 为 90 分位。',
      d_human_within_sla_rate: '在 SLA（{sla}）内完成的首次人工回复占比。',
      d_sla_breaches: '首次人工回复晚于 SLA，或客户等待超过 SLA 仍未得到回复的转人工次数。',
      d_resolution_p50_s: '已结束会话从开始到结束的时长中位数；未结束的会话不计入，也不以当前时间计算。',
      d_first_contact_resolution_rate: '已结束会话中，同一客户 {fcr} 天内没有因同一问题再次咨询的占比；满 {fcr} 天后才计入。',
      d_csat_rate: '4 星或 5 星评价的占比。',
      d_csat_mean_100: '评价换算为 0–100 分后的平均值：(星级 − 1) ÷ 4 × 100。',
      d_gaps: '机器人未能用知识库回答的客户问题，按语义归类。',
    },
  };

  const pickLang = (tag) => (String(tag || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  let lang = pickLang(navigator.language);

  function t(key, vars) {
    const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
    return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
  }
  const has = (key) => key in STRINGS.en;
  // A count's sentence: the "_one" form for exactly one, where the language has one.
  const tn = (key, n, vars) => t(n === 1 && (STRINGS[lang][`${key}_one`] ?? null) !== null ? `${key}_one` : key, { n: fmtInt(n), ...vars });

  // ---------------------------------------------------------------- DOM helpers
  const $ = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';

  function build(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.setAttribute('class', v);
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
  // HTML and SVG elements; string/number children become text nodes, never markup.
  const el = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) => build(document.createElementNS(SVGNS, tag), attrs, children);
  const setText = (node, value) => { node.textContent = value == null ? '' : String(value); };

  // ---------------------------------------------------------------- formatting
  const locale = () => (lang === 'zh' ? 'zh-CN' : 'en');
  const DASH = '—';
  const fmtInt = (n) => (n == null ? DASH : new Intl.NumberFormat(locale()).format(n));
  const fmt1 = (n) => (n == null ? DASH : new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(n));
  const fmtPct = (r) => (r == null ? DASH
    : new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 1 }).format(r));

  function fmtSec(s) {
    if (s == null || Number.isNaN(Number(s))) return DASH;
    const v = Number(s);
    if (v < 10) return t('u_s', { n: new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(v) });
    if (v < 60) return t('u_s', { n: fmt1(v) });
    const total = Math.round(v);
    if (total < 3600) return t('u_min_s', { m: Math.floor(total / 60), s: total % 60 });
    if (total < 86400) return t('u_h_min', { h: Math.floor(total / 3600), m: Math.floor((total % 3600) / 60) });
    return t('u_d_h', { d: Math.floor(total / 86400), h: Math.floor((total % 86400) / 3600) });
  }

  // A histogram edge (seconds): "30 s", "2 min".
  const fmtEdge = (s) => (s < 60 ? t('u_s', { n: s }) : t('u_min', { n: fmt1(s / 60) }));

  // The server writes datetimes with str(): "2026-11-25 01:14:17.166274+00:00". Shown in the
  // viewer's own time zone and language (Intl), never as the raw UTC string.
  function parseWhen(raw) {
    const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(String(raw || '').trim());
    if (!m) return null;
    const d = new Date(`${m[1]}T${m[2]}${m[3] ? m[3].slice(0, 4) : ''}${m[4] || 'Z'}`);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  function fmtWhen(raw) {
    const d = parseWhen(raw);
    return d ? new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(d) : DASH;
  }
  // A <time> with the machine-readable instant, showing the local wording.
  function whenNode(raw) {
    const d = parseWhen(raw);
    return el('time', { datetime: d ? d.toISOString() : undefined }, fmtWhen(raw));
  }

  // ---------------------------------------------------------------- codes in words
  const DIMS = ['channel', 'skill_group', 'agent', 'language'];
  const CODE_PREFIX = { channel: 'ch', language: 'lang', skill_group: 'sg', agent: 'ag' };
  function sliceLabel(dim, key) {
    if (dim === 'agent' && S.names[key]) return S.names[key];   // people by the name colleagues know
    const code = String(key ?? '').replace(/^\((.*)\)$/, '$1');
    const k = `${CODE_PREFIX[dim]}_${code}`;
    return has(k) ? t(k) : String(key ?? '?');
  }
  const reasonLabel = (r) => (has(`rs_${r}`) ? t(`rs_${r}`) : String(r ?? '?'));
  const langLabel = (code) => (has(`lang_${code}`) ? t(`lang_${code}`) : String(code ?? '?'));

  // ---------------------------------------------------------------- dates (UTC, as the API)
  const DAY_MS = 86400000;
  const isoDate = (d) => d.toISOString().slice(0, 10);
  const addDays = (d, n) => new Date(d.getTime() + n * DAY_MS);
  function todayUtc() {
    const n = new Date();
    return new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth(), n.getUTCDate()));
  }
  function parseDate(text) {
    if (!/^\d{4}-\d\d-\d\d$/.test(text || '')) return null;
    const d = new Date(`${text}T00:00:00Z`);
    return Number.isNaN(d.getTime()) || isoDate(d) !== text ? null : d;
  }
  function presetRange(name) {
    const today = todayUtc();
    const y = today.getUTCFullYear(), m = today.getUTCMonth();
    if (name === '7') return [addDays(today, -6), today];
    if (name === '30') return [addDays(today, -29), today];
    if (name === 'this_month') return [new Date(Date.UTC(y, m, 1)), today];
    if (name === 'last_month') return [new Date(Date.UTC(y, m - 1, 1)), new Date(Date.UTC(y, m, 0))];
    return null;
  }
  function isoWeek(d) {
    const x = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
    x.setUTCDate(x.getUTCDate() + 4 - (x.getUTCDay() || 7));
    const year = x.getUTCFullYear();
    const week = Math.ceil(((x - Date.UTC(year, 0, 1)) / DAY_MS + 1) / 7);
    return `${year}-W${String(week).padStart(2, '0')}`;
  }
  // Every bucket of the period, so a quiet day shows as zero instead of being skipped.
  function bucketsOf(from, to, gran) {
    const a = parseDate(from), b = parseDate(to);
    if (!a || !b || b < a) return [];
    const out = [];
    for (let d = a; d <= b; d = addDays(d, 1)) {
      const key = gran === 'week' ? isoWeek(d) : gran === 'month' ? isoDate(d).slice(0, 7) : isoDate(d);
      if (out[out.length - 1] !== key) out.push(key);
    }
    return out;
  }

  // ---------------------------------------------------------------- state
  const S = {
    agent: null,
    data: null,        // the last answer
    applied: null,     // the query that answer is for (CSV links use it)
    known: Object.fromEntries(DIMS.map((d) => [d, new Set()])),   // slice values seen so far
    ctl: null,         // AbortController of the request in flight
    loadedAt: null,
    error: null,       // { key, vars } of the message in #dash-error
    names: {},         // agent username -> display name, from every answer so far
  };

  // ---------------------------------------------------------------- static text
  function applyStatic() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    $('lang-select').value = lang;
    for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll('[data-i18n-aria-label]')) n.setAttribute('aria-label', t(n.dataset.i18nAriaLabel));
  }

  function showOnly(id) {
    for (const v of ['boot', 'login-view', 'forbidden-view', 'dash']) $(v).hidden = v !== id;
  }

  function renderMe() {
    const a = S.agent;
    $('me').hidden = !a;
    if (!a) return;
    setText($('me-name'), a.display_name || a.username);
    setText($('me-role'), has(`role_${a.role}`) ? t(`role_${a.role}`) : a.role);
  }

  // ---------------------------------------------------------------- the query
  function readForm() {
    const q = {
      from: $('f-from').value, to: $('f-to').value, granularity: $('f-granularity').value || 'day',
    };
    for (const d of DIMS) q[d] = $(`f-${d}`).value || '';
    return q;
  }

  function writeForm(q) {
    $('f-from').value = q.from;
    $('f-to').value = q.to;
    $('f-granularity').value = q.granularity;
    for (const d of DIMS) {
      if (q[d]) S.known[d].add(q[d]);
    }
    renderSliceOptions(q);
    markPreset();
  }

  function defaultQuery() {
    const [a, b] = presetRange('30');
    return { from: isoDate(a), to: isoDate(b), granularity: 'day', channel: '', skill_group: '', agent: '', language: '' };
  }

  // The page's own address keeps the filters, so a reload or a bookmark shows the same view.
  function queryFromLocation() {
    const p = new URLSearchParams(location.search);
    const q = defaultQuery();
    if (parseDate(p.get('from'))) q.from = p.get('from');
    if (parseDate(p.get('to'))) q.to = p.get('to');
    if (['day', 'week', 'month'].includes(p.get('granularity'))) q.granularity = p.get('granularity');
    for (const d of DIMS) q[d] = (p.get(d) || '').slice(0, 100);
    return q;
  }

  function params(q, extra) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    p.set('from', q.from);
    p.set('to', q.to);
    p.set('granularity', q.granularity);
    for (const d of DIMS) if (q[d]) p.set(d, q[d]);
    return p.toString();
  }

  function validate(q) {
    const a = parseDate(q.from), b = parseDate(q.to);
    $('f-from').setAttribute('aria-invalid', a ? 'false' : 'true');
    $('f-to').setAttribute('aria-invalid', b ? 'false' : 'true');
    if (!a || !b) return { key: 'err_dates', field: a ? 'f-to' : 'f-from' };
    if (b < a) { $('f-to').setAttribute('aria-invalid', 'true'); return { key: 'err_order', field: 'f-to' }; }
    if ((b - a) / DAY_MS >= 366) return { key: 'err_span', field: 'f-from' };
    return null;
  }

  // An error: a string key and its values (translated again on a language switch), or ''.
  function setError(key, vars) {
    S.error = key ? { key, vars } : null;
    renderError();
  }
  function renderError() {
    const text = S.error ? t(S.error.key, S.error.vars) : '';
    setText($('dash-error'), text);
    $('dash-error').hidden = !text;
  }

  function markPreset() {
    const from = $('f-from').value, to = $('f-to').value;
    for (const b of document.querySelectorAll('.preset')) {
      const r = presetRange(b.dataset.preset);
      b.setAttribute('aria-pressed', String(!!r && isoDate(r[0]) === from && isoDate(r[1]) === to));
    }
  }

  function apply(ev) {
    if (ev) ev.preventDefault();
    const q = readForm();
    const bad = validate(q);
    if (bad) {
      setError(bad.key);
      $(bad.field).focus();
      return;
    }
    setError('');
    history.replaceState(null, '', `${location.pathname}?${params(q)}`);
    load(q);
  }

  // ---------------------------------------------------------------- loading
  async function load(q) {
    if (S.ctl) S.ctl.abort();
    const ctl = new AbortController();
    S.ctl = ctl;
    $('dash-main').setAttribute('aria-busy', 'true');
    setText($('dash-status'), t('loading'));
    try {
      const res = await fetch(`/api/supervisor/analytics?${params(q)}`, {
        credentials: 'same-origin', headers: { Accept: 'application/json' }, signal: ctl.signal,
      });
      let body = null;
      try { body = await res.json(); } catch { body = null; }
      if (ctl !== S.ctl) return;
      if (res.status === 401) { S.agent = null; renderMe(); showOnly('login-view'); return; }
      if (res.status === 403) { showOnly('forbidden-view'); return; }
      if (!res.ok || !body || !body.totals) {
        const msg = (body && body.message) || `HTTP ${res.status}`;
        setError('err_load', { msg });
        setText($('dash-status'), '');
        return;
      }
      S.data = body;
      S.applied = q;
      Object.assign(S.names, body.agents || {});
      S.loadedAt = new Date();
      for (const d of DIMS) for (const row of body.slices[d] || []) S.known[d].add(row.key);
      renderSliceOptions(q);
      renderAll();
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      if (ctl === S.ctl) { setError('network_error'); setText($('dash-status'), ''); }
    } finally {
      if (ctl === S.ctl) {
        S.ctl = null;
        $('dash-main').setAttribute('aria-busy', 'false');
      }
    }
  }

  // ---------------------------------------------------------------- filters' choices
  function renderSliceOptions(q) {
    for (const d of DIMS) {
      const select = $(`f-${d}`);
      const current = q ? q[d] || '' : select.value;
      const keys = [...S.known[d]].sort((a, b) => sliceLabel(d, a).localeCompare(sliceLabel(d, b), locale()));
      select.replaceChildren(
        el('option', { value: '' }, t('all')),
        ...keys.map((k) => el('option', { value: k }, sliceLabel(d, k))),
      );
      select.value = current;
    }
  }

  // ---------------------------------------------------------------- everything
  function renderAll() {
    if (!S.data) return;
    renderStatus();
    renderCards();
    renderCharts();
    renderGaps();
    renderSlices();
    renderBreaches();
    renderLowRatings();
    renderComments();
    renderDefinitions();
    renderCsvLinks();
  }

  const slaText = () => fmtSec(S.data ? S.data.settings.sla_seconds : 30);

  function renderStatus() {
    const q = S.applied;
    const list = DIMS.filter((d) => q[d]).map((d) => `${t(`dim_${d}`)} = ${sliceLabel(d, q[d])}`);
    const time = S.loadedAt.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' });
    setText($('dash-status'), t('showing', {
      from: q.from, to: q.to, gran: t(`gran_${q.granularity}`).toLowerCase(), time,
      filters: list.length ? t('filtered', { list: list.join(', ') }) : '',
    }));
  }

  // ---------------------------------------------------------------- cards
  const CARDS = [
    ['conversations', (v) => fmtInt(v.conversations), (v) => t('sub_conversations', { n: fmtInt(v.closed) })],
    ['open', (v) => fmtInt(v.open), () => t('sub_open')],
    ['containment_rate', (v) => fmtPct(v.containment_rate), (v) => t('sub_containment', { n: fmtInt(v.contained), closed: fmtInt(v.closed) })],
    ['escalation_rate', (v) => fmtPct(v.escalation_rate), (v) => tn('sub_escalation', v.handoffs)],
    ['human_first_response_p50_s', (v) => fmtSec(v.human_first_response_p50_s), (v) => t('sub_p90', { v: fmtSec(v.human_first_response_p90_s) })],
    ['human_within_sla_rate', (v) => fmtPct(v.human_within_sla_rate), () => t('sub_sla', { v: slaText() })],
    ['sla_breaches', (v) => fmtInt(v.sla_breaches), (v) => (v.sla_breaches ? t('sub_breaches') : t('sub_breaches_none'))],
    ['resolution_p50_s', (v) => fmtSec(v.resolution_p50_s), () => t('sub_resolution')],
    ['first_contact_resolution_rate', (v) => fmtPct(v.first_contact_resolution_rate), (v) => (v.first_contact_pending
      ? t('sub_fcr_pending', { n: fmt1(S.data.settings.fcr_days), p: fmtInt(v.first_contact_pending) })
      : t('sub_fcr', { n: fmt1(S.data.settings.fcr_days) }))],
    ['csat_rate', (v) => fmtPct(v.csat_rate), (v) => tn('sub_ratings', v.ratings)],
    ['csat_mean_100', (v) => fmt1(v.csat_mean_100), (v) => tn('sub_mean', v.ratings)],
  ];

  function valueNode(text) {
    if (text !== DASH) return el('span', { class: 'card-value' }, text);
    return el('span', { class: 'card-value' }, el('span', { 'aria-hidden': 'true' }, DASH), el('span', { class: 'sr-only' }, t('no_data')));
  }

  function renderCards() {
    const v = S.data.totals;
    $('cards').replaceChildren(...CARDS.map(([metric, value, sub]) => {
      const text = value(v);
      const bad = metric === 'sla_breaches' && v.sla_breaches > 0;
      return el('li', {
        class: `card${bad ? ' card-bad' : ''}`, testid: 'dash-card', 'data-metric': metric,
        'data-value': v[metric] == null ? '' : String(v[metric]),
      },
      el('span', { class: 'card-label' }, t(`m_${metric}`)),
      valueNode(text),
      el('span', { class: 'card-sub' }, sub(v)));
    }));
  }

  // ---------------------------------------------------------------- charts
  function niceStep(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  // A count axis: whole-number ticks, the top one at or above the largest value.
  function countScale(max, n) {
    const step = Math.max(1, Math.ceil(niceStep(Math.max(1, max) / n)));
    const top = Math.max(step, Math.ceil(Math.max(1, max) / step) * step);
    const ticks = [];
    for (let v = 0; v <= top; v += step) ticks.push(v);
    return { top, ticks };
  }
  function sizeOf(node, height) {
    const box = node.parentElement;
    const w = Math.max(320, Math.floor((box && box.clientWidth) || 600));
    node.replaceChildren();
    node.setAttribute('viewBox', `0 0 ${w} ${height}`);
    node.setAttribute('width', String(w));
    node.setAttribute('height', String(height));
    return w;
  }
  // Text width in px at the charts' 12px font: CJK characters are about twice as wide.
  const textWidth = (s) => [...String(s)].reduce((n, ch) => n + (/[\u2e80-\u9fff\uff00-\uffef]/.test(ch) ? 12 : 6.8), 0);
  function clip(s, px) {
    const str = String(s);
    if (textWidth(str) <= px) return str;
    let out = '';
    for (const ch of str) {
      if (textWidth(`${out + ch}…`) > px) break;
      out += ch;
    }
    return `${out}…`;
  }
  function emptyNote(node, w, h, text) {
    node.append(svg('text', { class: 'chart-empty', x: w / 2, y: h / 2, 'text-anchor': 'middle' }, text));
  }

  function renderCharts() {
    renderTrend();
    renderFrt();
    renderBars($('chart-reasons'), $('reasons-desc'), S.data.escalation_reasons.map((r) => ({
      label: reasonLabel(r.reason), value: r.count, note: t('share_of', { n: fmtInt(r.count), share: fmtPct(r.share) }),
    })));
    renderBars($('chart-problems'), $('problems-desc'), S.data.top_problems.intents.map((r) => ({
      label: r.intent, value: r.count, note: fmtInt(r.count),
    })));
    renderBars($('chart-categories'), $('categories-desc'), S.data.top_problems.categories.map((r) => ({
      label: r.category, value: r.count, note: fmtInt(r.count),
    })));
  }

  function bucketLabel(key, gran, short) {
    if (gran === 'day' && short) return key.slice(5);
    if (gran === 'week' && short) return key.slice(5);
    return key;
  }

  function renderTrend() {
    const node = $('chart-trend');
    const H = 300;
    const W = sizeOf(node, H);
    const q = S.applied;
    const byKey = new Map(S.data.series.map((r) => [r.key, r]));
    const keys = bucketsOf(q.from, q.to, q.granularity);
    for (const k of byKey.keys()) if (!keys.includes(k)) keys.push(k);
    keys.sort();
    const rows = keys.map((k) => byKey.get(k) || { key: k, conversations: 0, containment_rate: null, csat_rate: null });
    const M = { l: 52, r: 56, t: 34, b: 42 };
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const n = rows.length;
    const x = (i) => M.l + (n <= 1 ? pw / 2 : (i * pw) / (n - 1));
    const cs = countScale(Math.max(...rows.map((r) => r.conversations), 0), 4);
    const yl = (v) => M.t + ph - (v / cs.top) * ph;
    const yr = (r) => M.t + ph - r * ph;

    const g = svg('g', { class: 'plot' });
    // Grid and axes.
    for (const v of cs.ticks) {
      g.append(svg('path', { class: 'grid-line', d: `M${M.l},${yl(v)}H${M.l + pw}` }));
      g.append(svg('text', { class: 'tick', x: M.l - 6, y: yl(v) + 4, 'text-anchor': 'end' }, fmtInt(v)));
    }
    for (const r of [0, 0.25, 0.5, 0.75, 1]) {
      g.append(svg('text', { class: 'tick', x: M.l + pw + 6, y: yr(r) + 4, 'text-anchor': 'start' }, fmtPct(r)));
    }
    g.append(svg('path', { class: 'axis', d: `M${M.l},${M.t}V${M.t + ph}H${M.l + pw}V${M.t}` }));
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / 64))));
    rows.forEach((r, i) => {
      if (i % every !== 0 && i !== n - 1) return;
      if (i !== n - 1 && n - 1 - i < every && i !== 0) return;   // keep the last label clear
      g.append(svg('path', { class: 'axis', d: `M${x(i)},${M.t + ph}v5` }));
      g.append(svg('text', { class: 'tick', x: x(i), y: M.t + ph + 18, 'text-anchor': 'middle' }, bucketLabel(r.key, q.granularity, n > 12)));
    });

    // Lines: broken where a rate has no value (a bucket with no conversations or no ratings).
    const line = (val, y) => {
      let d = '', pen = false;
      rows.forEach((r, i) => {
        const v = val(r);
        if (v == null) { pen = false; return; }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      return d;
    };
    const series = [
      { cls: 'conv', val: (r) => r.conversations, y: yl, label: t('legend_conv'), marker: 'square' },
      { cls: 'cont', val: (r) => r.containment_rate, y: yr, label: t('legend_cont'), marker: 'circle' },
      { cls: 'csat', val: (r) => r.csat_rate, y: yr, label: t('legend_csat'), marker: 'triangle' },
    ];
    const marker = (kind, cx, cy, cls) => {
      if (kind === 'square') return svg('rect', { class: `marker ${cls}`, x: cx - 3.5, y: cy - 3.5, width: 7, height: 7 });
      if (kind === 'circle') return svg('circle', { class: `marker ${cls}`, cx, cy, r: 4 });
      return svg('path', { class: `marker ${cls}`, d: `M${cx},${cy - 5}l4.5,8h-9z` });
    };
    for (const s of series) {
      const d = line(s.val, s.y);
      if (d) g.append(svg('path', { class: `line line-${s.cls}`, d }));
      if (n <= 62) {
        rows.forEach((r, i) => {
          const v = s.val(r);
          if (v != null) g.append(marker(s.marker, x(i), s.y(v), `line-${s.cls}`));
        });
      }
    }
    // A hover column per bucket with its figures (mouse users; the text below is for everyone).
    const colW = n <= 1 ? pw : pw / (n - 1);
    rows.forEach((r, i) => {
      const x0 = Math.max(M.l, x(i) - colW / 2);
      const x1 = Math.min(M.l + pw, x(i) + colW / 2);
      g.append(svg('rect', { class: 'hover-col', x: x0, y: M.t, width: Math.max(1, x1 - x0), height: ph },
        svg('title', {}, pointText(r))));
    });
    // Legend.
    let lx = M.l;
    for (const s of series) {
      g.append(svg('path', { class: `line legend-line line-${s.cls}`, d: `M${lx - 4},14h20` }));
      g.append(marker(s.marker, lx + 6, 14, `legend-marker line-${s.cls}`));
      g.append(svg('text', { class: 'legend', x: lx + 22, y: 18 }, s.label));
      lx += 30 + textWidth(s.label);
    }
    node.append(g);
    const total = rows.reduce((a, r) => a + r.conversations, 0);
    if (!total) emptyNote(node, W, M.t + ph / 2, t('no_conversations'));

    const shown = rows.filter((r) => r.conversations > 0);
    const cap = 40;
    setText($('trend-desc'), total ? t('trend_desc', {
      gran: t(`gran_${q.granularity}`), first: q.from, last: q.to,
      points: shown.slice(0, cap).map(pointText).join('; ') + (shown.length > cap ? t('trend_more', { n: cap }) : ''),
    }) : t('no_conversations'));
  }

  function pointText(r) {
    return t('trend_point', { bucket: r.key, n: fmtInt(r.conversations), cont: fmtPct(r.containment_rate), csat: fmtPct(r.csat_rate) });
  }

  function binLabel(bins, i) {
    const cur = bins[i].le, prev = i ? bins[i - 1].le : 0;
    if (cur == null) return `> ${fmtEdge(prev)}`;
    if (cur <= 60) return t('u_s', { n: `${prev}–${cur}` });
    if (prev >= 60) return t('u_min', { n: `${fmt1(prev / 60)}–${fmt1(cur / 60)}` });
    return `${fmtEdge(prev)}–${fmtEdge(cur)}`;
  }

  function renderFrt() {
    const node = $('chart-frt');
    const H = 260;
    const W = sizeOf(node, H);
    const bins = S.data.first_response.human;
    const sla = Number(S.data.first_response.sla_seconds);
    const M = { l: 44, r: 14, t: 30, b: 40 };
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const n = bins.length;
    const bw = pw / n;
    const cs = countScale(Math.max(...bins.map((b) => b.count), 0), 4);
    const y = (v) => M.t + ph - (v / cs.top) * ph;
    const g = svg('g', { class: 'plot' });
    for (const v of cs.ticks) {
      g.append(svg('path', { class: 'grid-line', d: `M${M.l},${y(v)}H${M.l + pw}` }));
      g.append(svg('text', { class: 'tick', x: M.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtInt(v)));
    }
    g.append(svg('path', { class: 'axis', d: `M${M.l},${M.t}V${M.t + ph}H${M.l + pw}` }));
    bins.forEach((b, i) => {
      const prev = i ? bins[i - 1].le : 0;
      const over = prev >= sla;
      const label = binLabel(bins, i);
      const bx = M.l + i * bw + 3;
      if (b.count > 0) {
        g.append(svg('rect', {
          class: `bar${over ? ' bar-over' : ''}`, x: bx, y: y(b.count), width: Math.max(1, bw - 6), height: M.t + ph - y(b.count),
        }, svg('title', {}, `${label}: ${fmtInt(b.count)} (${over ? t('over_sla') : t('within_sla')})`)));
        g.append(svg('text', { class: 'bar-value', x: bx + (bw - 6) / 2, y: y(b.count) - 4, 'text-anchor': 'middle' }, fmtInt(b.count)));
      }
      g.append(svg('text', { class: 'tick', x: M.l + (i + 0.5) * bw, y: M.t + ph + 16, 'text-anchor': 'middle' },
        clip(label, bw - 2)));
    });
    // The SLA: at its edge, or in proportion inside the bucket that holds it.
    let sx = null;
    for (let i = 0; i < n; i += 1) {
      const prev = i ? bins[i - 1].le : 0, cur = bins[i].le;
      if (cur == null) { sx = M.l + i * bw + bw * 0.1; break; }
      if (sla <= cur) { sx = M.l + i * bw + bw * ((sla - prev) / (cur - prev)); break; }
    }
    if (sx != null && Number.isFinite(sla)) {
      g.append(svg('path', { class: 'sla-mark', d: `M${sx},${M.t - 8}V${M.t + ph}` }));
      g.append(svg('text', { class: 'sla-label', x: sx + 4, y: M.t - 12 }, t('sla_mark', { v: fmtSec(sla) })));
      g.append(svg('text', { class: 'legend', x: sx - 6, y: M.t + 12, 'text-anchor': 'end' }, `← ${t('within_sla')}`));
      g.append(svg('text', { class: 'legend legend-over', x: sx + 6, y: M.t + 12 }, `${t('over_sla')} →`));
    }
    node.append(g);
    const total = bins.reduce((a, b) => a + b.count, 0);
    if (!total) emptyNote(node, W, M.t + ph / 2 + 10, t('frt_none'));
    setText($('frt-desc'), total
      ? t('frt_desc', { sla: fmtSec(sla), bins: bins.map((b, i) => `${binLabel(bins, i)}: ${fmtInt(b.count)}`).join('; ') })
      : t('frt_none'));
  }

  // Horizontal bars, largest first (the API sends them ranked).
  function renderBars(node, desc, rows) {
    const rowH = 26;
    const M = { t: 8, b: 8, r: 70 };
    const H = Math.max(90, M.t + M.b + rows.length * rowH);
    const W = sizeOf(node, H);
    const labelW = Math.min(Math.max(...rows.map((r) => textWidth(r.label)), 60) + 20, W * 0.42);
    const x0 = labelW;
    const pw = W - x0 - M.r;
    const max = Math.max(1, ...rows.map((r) => r.value));
    const g = svg('g', { class: 'plot' });
    g.append(svg('path', { class: 'axis', d: `M${x0},${M.t}V${H - M.b}` }));
    rows.forEach((r, i) => {
      const y = M.t + i * rowH;
      const w = Math.max(2, (r.value / max) * pw);
      g.append(svg('text', { class: 'bar-label', x: x0 - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end' },
        clip(r.label, labelW - 10), svg('title', {}, r.label)));
      g.append(svg('rect', { class: 'bar', x: x0, y: y + 4, width: w, height: rowH - 8 },
        svg('title', {}, `${r.label}: ${r.note}`)));
      g.append(svg('text', { class: 'bar-value', x: x0 + w + 6, y: y + rowH / 2 + 4 }, r.note));
    });
    node.append(g);
    if (!rows.length) emptyNote(node, W, H / 2 + 4, t('nothing'));
    setText(desc, rows.length ? t('bars_desc', { rows: rows.map((r) => `${r.label}: ${r.note}`).join('; ') }) : t('nothing'));
  }

  // ---------------------------------------------------------------- tables
  const emptyRow = (cols, text) => el('tr', {}, el('td', { class: 'empty', colspan: cols }, text));
  const num = (text) => el('td', { class: 'num' }, text);

  function renderGaps() {
    const gaps = S.data.knowledge_gaps;
    $('gaps-body').replaceChildren(...(gaps.length ? gaps.map((g) => el('tr', { 'data-label': g.label },
      el('td', { lang: g.language || undefined, class: 'wrap' }, g.label),
      el('td', {}, langLabel(g.language)),
      num(fmtInt(g.count)),
      el('td', {}, el('ul', { class: 'examples' }, ...(g.examples || []).map((e) => el('li', { lang: g.language || undefined }, e))))))
      : [emptyRow(4, t('gaps_empty'))]));
  }

  const SLICE_COLS = [
    ['col_conv', (r) => fmtInt(r.conversations)],
    ['col_cont', (r) => fmtPct(r.containment_rate)],
    ['col_esc', (r) => fmtPct(r.escalation_rate)],
    ['col_frt', (r) => fmtSec(r.human_first_response_p50_s)],
    ['col_sla', (r) => fmtPct(r.human_within_sla_rate)],
    ['col_breaches', (r) => fmtInt(r.sla_breaches)],
    ['col_ttr', (r) => fmtSec(r.resolution_p50_s)],
    ['col_fcr', (r) => fmtPct(r.first_contact_resolution_rate)],
    ['col_csat', (r) => fmtPct(r.csat_rate)],
    ['col_mean', (r) => fmt1(r.csat_mean_100)],
    ['col_ratings', (r) => fmtInt(r.ratings)],
  ];

  function renderSlices() {
    const table = $('slices-table');
    const cols = SLICE_COLS.length + 1;
    $('slices-head').replaceChildren(el('tr', {},
      el('th', { scope: 'col' }, t('col_slice')),
      ...SLICE_COLS.map(([k]) => el('th', { scope: 'col', class: 'num' }, t(k)))));
    for (const old of table.querySelectorAll('tbody')) old.remove();
    for (const d of DIMS) {
      const rows = S.data.slices[d] || [];
      table.append(el('tbody', { 'data-slice': d },
        el('tr', { class: 'group-row' }, el('th', { scope: 'rowgroup', colspan: cols }, t(`dim_${d}`))),
        ...(rows.length ? rows.map((r) => el('tr', { 'data-key': r.key },
          el('th', { scope: 'row', title: d === 'agent' && S.names[r.key] ? r.key : undefined }, sliceLabel(d, r.key)),
          ...SLICE_COLS.map(([, f]) => num(f(r)))))
          : [emptyRow(cols, t('slices_empty'))])));
    }
  }

  // A conversation named in a row: the customer (by name, else a short handle as the console
  // shows anonymous visitors), a link to its read-only transcript in the console
  // (/console#conversation=<cid>, opened by console-history.js), channel and time beside it.
  const customerLabel = (r) => r.customer_name || (r.customer_id ? `${t('anonymous')} ${String(r.customer_id).slice(0, 6)}` : t('anonymous'));
  function transcriptLink(r, when) {
    const who = customerLabel(r);
    return el('a', {
      class: 'transcript-link', testid: 'transcript-link', href: `/console#conversation=${encodeURIComponent(r.conversation_id)}`,
      'data-conversation': r.conversation_id,
      'aria-label': t('open_transcript', { who, channel: sliceLabel('channel', r.channel), time: fmtWhen(when) }),
    }, who);
  }
  // An agent by display name; the username only as the tooltip.
  function agentCell(r) {
    const label = t('dim_agent');
    if (!r.agent) return el('td', { 'data-label': label }, t('unassigned'));
    return el('td', { 'data-label': label, title: r.agent, 'data-username': r.agent }, r.agent_name || S.names[r.agent] || r.agent);
  }

  function renderBreaches() {
    const rows = S.data.sla_breaches;
    const total = S.data.totals.sla_breaches;
    setText($('breaches-help'), t('breaches_help', { sla: slaText() })
      + (total > rows.length ? ` ${t('breaches_capped', { shown: rows.length, total })}` : ''));
    const L = (k) => ({ 'data-label': t(k) });   // the column's name, shown above the value on a phone
    $('breaches-body').replaceChildren(...(rows.length ? rows.map((r) => el('tr', { 'data-conversation': r.conversation_id },
      el('td', L('col_customer'), transcriptLink(r, r.queued_at)),
      el('td', L('dim_channel'), sliceLabel('channel', r.channel)),
      el('td', L('col_queued_at'), whenNode(r.queued_at)),
      el('td', L('dim_skill_group'), sliceLabel('skill_group', r.skill_group)),
      agentCell(r),
      el('td', { class: 'num', ...L('col_first_response') }, r.first_response_s == null ? t(r.waiting ? 'still_waiting' : 'no_reply') : fmtSec(r.first_response_s))))
      : [emptyRow(6, t('breaches_empty'))]));
  }

  function renderLowRatings() {
    const rows = S.data.low_ratings || [];
    const L = (k) => ({ 'data-label': t(k) });
    $('low-body').replaceChildren(...(rows.length ? rows.map((r) => el('tr', { 'data-conversation': r.conversation_id },
      el('td', L('col_customer'), transcriptLink(r, r.rated_at)),
      el('td', L('dim_channel'), sliceLabel('channel', r.channel)),
      el('td', L('col_rated_at'), whenNode(r.rated_at)),
      el('td', { class: 'num', ...L('col_score') }, t('stars', { n: r.score })),
      el('td', { class: 'wrap', ...L('col_comment') }, r.comment || DASH),
      agentCell(r)))
      : [emptyRow(6, t('low_empty'))]));
  }

  function renderComments() {
    const c = S.data.comments;
    setText($('comments-count'), tn('comments_count', c.count));
    $('sentiment-body').replaceChildren(...['positive', 'neutral', 'negative'].map((k) => el('tr', { 'data-sentiment': k },
      el('td', {}, el('span', { class: `badge sent-${k}` }, t(`sent_${k}`))),
      num(fmtInt((c.sentiment || {})[k] || 0)))));
    for (const code of ['zh', 'en']) {
      const rows = (c.phrases || {})[code] || [];
      $(`phrases-${code}-body`).replaceChildren(...(rows.length ? rows.map((p) => el('tr', {},
        el('td', { lang: code }, p.phrase), num(fmtInt(p.count))))
        : [emptyRow(2, t('phrases_empty'))]));
    }
  }

  function renderDefinitions() {
    const expiry = S.data.settings.session_expiry_s;
    const vars = { sla: slaText(), fcr: fmt1(S.data.settings.fcr_days), expiry: expiry ? fmtSec(expiry) : DASH };
    const items = [...CARDS.map(([m]) => [t(`m_${m}`), t(`d_${m}`, vars)]), [t('gaps'), t('d_gaps')]];
    $('definitions').replaceChildren(...items.flatMap(([term, def]) => [el('dt', {}, term), el('dd', {}, def)]));
  }

  const TABLE_NAMES = {
    series: 'trend', reasons: 'reasons', intents: 'problems', categories: 'categories',
    gaps: 'gaps', breaches: 'breaches', low_ratings: 'low',
  };
  function renderCsvLinks() {
    for (const a of document.querySelectorAll('[data-testid="csv-link"]')) {
      const table = a.dataset.table;
      const what = DIMS.includes(table) ? t(`dim_${table}`) : t(TABLE_NAMES[table] || table);
      a.href = `/api/supervisor/analytics.csv?${params(S.applied, { table })}`;
      a.hidden = false;
      setText(a, DIMS.includes(table) ? t('csv_short', { what }) : t('csv'));
      a.setAttribute('aria-label', t('csv_label', { what }));
    }
  }

  // ---------------------------------------------------------------- language switch
  function setLang(next) {
    lang = next === 'zh' ? 'zh' : 'en';
    applyStatic();
    renderMe();
    renderSliceOptions(null);
    renderError();
    if (S.data) renderAll();
  }

  // ---------------------------------------------------------------- start
  function wire() {
    $('lang-select').addEventListener('change', (e) => setLang(e.target.value));
    $('filters').addEventListener('submit', apply);
    for (const b of document.querySelectorAll('.preset')) {
      b.addEventListener('click', () => {
        const r = presetRange(b.dataset.preset);
        $('f-from').value = isoDate(r[0]);
        $('f-to').value = isoDate(r[1]);
        markPreset();
        apply();
      });
    }
    for (const id of ['f-from', 'f-to']) $(id).addEventListener('input', markPreset);
    $('dash-reset').addEventListener('click', () => {
      writeForm(defaultQuery());
      apply();
    });
    let timer = null;
    window.addEventListener('resize', () => {
      clearTimeout(timer);
      timer = setTimeout(() => { if (S.data) renderCharts(); }, 150);
    });
  }

  async function init() {
    applyStatic();
    wire();
    for (const a of document.querySelectorAll('[data-testid="csv-link"]')) a.hidden = true;
    setError('');
    let me = null;
    try {
      const res = await fetch('/api/console/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (res.status === 401) { showOnly('login-view'); return; }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      me = await res.json();
    } catch (e) {
      $('boot').classList.add('error');
      setText($('boot'), `${t('network_error')} ${e && e.message ? `(${e.message})` : ''}`);
      return;
    }
    S.agent = me.agent;
    renderMe();
    if (!['supervisor', 'admin'].includes(S.agent.role)) { showOnly('forbidden-view'); return; }
    showOnly('dash');
    const q = queryFromLocation();
    writeForm(q);
    load(q);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
