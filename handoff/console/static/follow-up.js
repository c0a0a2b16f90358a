// The customer's follow-up after a resolved ticket: solved? fast enough? suggestions?
// The token in the address is the only credential; the page never shows it elsewhere.
(() => {
  'use strict';

  const STRINGS = {
    zh: {
      title: '工单 {n} 回访', solved: '您的问题解决了吗？', fast: '处理得够快吗？', suggestions: '有什么建议吗？（选填）',
      yes: '是', no: '否', send: '提交', thanks: '感谢您的反馈！', answered: '这份回访已经提交过了，谢谢！',
      expired: '这份回访已过期。', invalid: '这个回访链接无效。', pick: '请回答前两个问题。', error: '提交失败，请稍后再试。',
    },
    en: {
      title: 'Follow-up on ticket {n}', solved: 'Was your problem solved?', fast: 'Was it handled fast enough?',
      suggestions: 'Any suggestions? (optional)', yes: 'Yes', no: 'No', send: 'Send', thanks: 'Thank you for your feedback!',
      answered: 'This follow-up was answered already. Thank you!', expired: 'This follow-up has expired.',
      invalid: 'This follow-up link is not valid.', pick: 'Please answer the first two questions.',
      error: 'Could not send; please try again later.',
    },
  };
  let lang = 'zh';
  const t = (k, v) => (STRINGS[lang][k] || k).replace(/\{(\w+)\}/g, (m, x) => (v && x in v ? String(v[x]) : m));
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(location.pathname.split('/').pop() || '');
  const api = `/api/follow-up/${encodeURIComponent(token)}`;

  function done(key) {
    $('fu-form').hidden = true;
    $('fu-done').hidden = false;
    $('fu-done').textContent = t(key);
  }

  function render(state) {
    lang = state.language === 'en' ? 'en' : 'zh';
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title', { n: state.ticket });
    $('fu-title').textContent = t('title', { n: state.ticket });
    $('fu-subject').textContent = state.subject;
    $('q-solved').textContent = t('solved');
    $('q-fast').textContent = t('fast');
    $('q-suggestions').textContent = t('suggestions');
    for (const n of document.querySelectorAll('.yes')) n.textContent = t('yes');
    for (const n of document.querySelectorAll('.no')) n.textContent = t('no');
    $('fu-submit').textContent = t('send');
    if (state.answered) done('answered');
    else if (state.expired) done('expired');
    else $('fu-form').hidden = false;
  }

  async function init() {
    let res;
    try { res = await fetch(api, { headers: { Accept: 'application/json' } }); } catch { $('fu-error').textContent = t('error'); return; }
    if (!res.ok) { lang = navigator.language && navigator.language.startsWith('en') ? 'en' : 'zh'; $('fu-error').textContent = t('invalid'); return; }
    render(await res.json());
    $('fu-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const solved = document.querySelector('input[name="solved"]:checked');
      const fast = document.querySelector('input[name="fast"]:checked');
      if (!solved || !fast) { $('fu-error').textContent = t('pick'); return; }
      $('fu-error').textContent = '';
      $('fu-submit').disabled = true;
      try {
        const r = await fetch(api, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ solved: solved.value === 'yes', fast_enough: fast.value === 'yes', suggestions: $('fu-suggestions').value.trim() }),
        });
        if (r.ok) done('thanks');
        else if (r.status === 409) render(await (await fetch(api, { headers: { Accept: 'application/json' } })).json());
        else { $('fu-error').textContent = t('error'); $('fu-submit').disabled = false; }
      } catch { $('fu-error').textContent = t('error'); $('fu-submit').disabled = false; }
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
