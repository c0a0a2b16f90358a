// The dashboard's proactive-contact panel (loaded by dashboard.html beside dashboard.js): the
// messages the bot sent first in the dashboard's period, the ones it held back by reason, and
// what came of those that went out. Data: GET /api/dashboard/proactive?from&to, shaped by
// bot/analytics/proactive.py (the same figures as `relaydesk report`).
// SECURITY: server data reaches the DOM only as text (RD.el); no innerHTML, no inline style.
(() => {
  'use strict';

  const STRINGS = {
    en: {
      heading: 'Proactive contact',
      help: 'Messages the bot sent first, from the shop’s events (abandoned carts, failed payments, delays, deliveries, time on a product page), in the period.',
      sent: 'Sent', delivered: 'Delivered', replied: 'Replied', converted: 'Converted',
      participation: 'Participation rate', suppressed: 'Held back', opted_out: 'Opted out',
      sub_sent: 'conversion {v}', sub_delivered: 'reached the customer', sub_replied: 'answered by the customer',
      sub_converted: 'paid after a cart or payment reminder', sub_participation: 'replied ÷ delivered',
      sub_suppressed: 'not sent, for a reason below', sub_opted_out: 'customers who unsubscribed in the period',
      reasons: 'Held back, by reason', col_reason: 'Reason', col_count: 'Messages',
      r_opt_out: 'Customer opted out', r_expired: 'Expired (e.g. the cart was bought)',
      r_conditions: 'Rule’s conditions not met', r_cooldown: 'Same reminder sent recently (cool-down)',
      r_cap: 'Weekly cap reached', r_quiet_hours: 'Postponed for quiet hours (not counted above)',
      r_duplicate: 'Duplicate event', r_unreachable: 'No channel could reach the customer',
      none: 'No proactive message was due in this period.',
      by_rule: 'Sent, by rule', col_rule: 'Rule (config.yml)',
      defs: 'Sent: proactive messages that went out in the period. Delivered: of those, the ones the channel confirmed (a pushed channel’s delivery, or the widget’s receipt). Replied: the customer wrote back within 72 hours, in any conversation. Converted: an order was paid after a cart or payment reminder. Participation rate = replied ÷ delivered.',
    },
    zh: {
      heading: '主动触达',
      help: '本时间段内机器人根据商城事件（弃购、支付失败、物流延误、签收、商品页停留）主动发出的消息。',
      sent: '已发送', delivered: '已送达', replied: '已回复', converted: '已转化',
      participation: '参与率', suppressed: '未发送', opted_out: '已退订',
      sub_sent: '转化率 {v}', sub_delivered: '已到达客户', sub_replied: '客户已回复',
      sub_converted: '购物车或支付提醒后完成付款', sub_participation: '回复数 ÷ 送达数',
      sub_suppressed: '因下列原因未发送', sub_opted_out: '本时间段内退订的客户',
      reasons: '未发送原因', col_reason: '原因', col_count: '条数',
      r_opt_out: '客户已退订', r_expired: '已过期（如购物车已下单）',
      r_conditions: '不满足规则条件', r_cooldown: '近期已发过同一提醒（冷却期）',
      r_cap: '已达每周上限', r_quiet_hours: '免打扰时段顺延（不计入上方合计）',
      r_duplicate: '重复事件', r_unreachable: '没有可触达客户的渠道',
      none: '本时间段内没有需要发送的主动消息。',
      by_rule: '按规则的发送数', col_rule: '规则（config.yml）',
      defs: '已发送：本时间段内发出的主动消息。已送达：其中渠道确认送达的（推送渠道的投递成功，或网页插件的已收回执）。已回复：客户在 72 小时内回复（任一会话）。已转化：购物车或支付提醒之后完成付款。参与率 = 回复数 ÷ 送达数。',
    },
  };
  const { $, el } = window.RD;  // console-common.js: el() sets text only, never HTML
  const lang = () => (($('lang-select') && $('lang-select').value) === 'zh' ? 'zh' : 'en');
  const has = (k) => k in STRINGS.en;
  const t = (k, v) => (STRINGS[lang()][k] || STRINGS.en[k] || k).replace(/\{(\w+)\}/g, (m, x) => (v && x in v ? String(v[x]) : m));
  const locale = () => (lang() === 'zh' ? 'zh-CN' : 'en');
  const int = (n) => new Intl.NumberFormat(locale()).format(Number(n) || 0);
  const pct = (r) => (r === null || r === undefined ? '—'
    : new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 1 }).format(r));

  function render(data) {
    const box = $('proactive');
    if (!box) return;
    const card = (metric, label, value, sub, raw) => el('div', { class: 'card', testid: 'proactive-card', 'data-metric': metric, 'data-value': raw ?? '' },
      el('div', { class: 'card-label', text: label }),
      el('div', { class: 'card-value', text: value }),
      el('div', { class: 'card-sub', text: sub }));
    const reasons = data.suppressed_by_reason || [];
    const rules = data.sent_by_rule || [];
    const nothing = !data.sent && !reasons.some((r) => r.count);
    // (replaceChildren would write a null out as the text "null": the optional parts are filtered)
    box.replaceChildren(...[
      el('h2', { id: 'proactive-h', text: t('heading') }),
      el('p', { class: 'meta', text: t('help') }),
      el('div', { class: 'cards' },
        card('sent', t('sent'), int(data.sent), t('sub_sent', { v: pct(data.conversion_rate) }), data.sent),
        card('delivered', t('delivered'), int(data.delivered), t('sub_delivered'), data.delivered),
        card('replied', t('replied'), int(data.replied), t('sub_replied'), data.replied),
        card('converted', t('converted'), int(data.converted), t('sub_converted'), data.converted),
        card('participation_rate', t('participation'), pct(data.participation_rate), t('sub_participation'), data.participation_rate),
        card('suppressed', t('suppressed'), int(data.suppressed), t('sub_suppressed'), data.suppressed),
        card('opt_outs', t('opted_out'), int(data.opt_outs), t('sub_opted_out'), data.opt_outs)),
      nothing ? el('p', { class: 'meta', testid: 'proactive-empty', text: t('none') }) : null,
      el('div', { class: 'table-wrap' },
        el('table', { class: 'grid data', testid: 'proactive-reasons' },
          el('caption', { text: t('reasons') }),
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col', text: t('col_reason') }),
            el('th', { scope: 'col', class: 'num', text: t('col_count') }))),
          el('tbody', {}, ...reasons.map((r) => el('tr', { 'data-reason': r.reason },
            el('td', { text: has(`r_${r.reason}`) ? t(`r_${r.reason}`) : r.reason }),
            el('td', { class: 'num', text: int(r.count) })))))),
      rules.length ? el('div', { class: 'table-wrap' },
        el('table', { class: 'grid data', testid: 'proactive-rules' },
          el('caption', { text: t('by_rule') }),
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col', text: t('col_rule') }),
            el('th', { scope: 'col', class: 'num', text: t('sent') }))),
          el('tbody', {}, ...rules.map((r) => el('tr', { 'data-rule': r.rule },
            el('td', { text: r.rule }), el('td', { class: 'num', text: int(r.sent) })))))) : null,
      el('p', { class: 'meta', text: t('defs') }),
    ].filter((n) => n !== null));
    box.setAttribute('aria-labelledby', 'proactive-h');
    box.hidden = false;
  }

  window.RD.followDashboardPeriod('/api/dashboard/proactive', render);
})();
