// The console's attention signals: browser notifications, a short sound and a count in the
// page title. Loaded before console.js, which decides *when* something deserves attention; this
// file only knows *how*. The agent's choices (notifications on/off, sound on/off) are kept in
// localStorage so they survive a reload; browser permission is only ever asked from a click
// (browsers ignore or penalise prompts without a user gesture).
'use strict';

(() => {
  const KEY = 'relaydesk.notify';

  function load() {
    try {
      const v = JSON.parse(localStorage.getItem(KEY) || '{}');
      return { desktop: v.desktop === true, sound: v.sound !== false };
    } catch { return { desktop: false, sound: true }; }
  }

  const prefs = load();
  const save = () => { try { localStorage.setItem(KEY, JSON.stringify(prefs)); } catch { /* private mode */ } };

  const supported = () => typeof window.Notification === 'function';
  const permission = () => (supported() ? window.Notification.permission : 'unsupported');

  /** Desktop notifications are on when the agent chose them and the browser allows them. */
  const desktopOn = () => prefs.desktop && permission() === 'granted';

  /**
   * Turn browser notifications on or off; call it from a click. Resolves to the state that
   * holds afterwards: 'on', 'off', 'denied' (the browser or the agent refused) or 'unsupported'.
   */
  async function setDesktop(on) {
    if (!on) { prefs.desktop = false; save(); return 'off'; }
    if (!supported()) return 'unsupported';
    let p = window.Notification.permission;
    if (p === 'default') {
      try { p = await window.Notification.requestPermission(); } catch { p = 'denied'; }
    }
    prefs.desktop = p === 'granted';
    save();
    return prefs.desktop ? 'on' : 'denied';
  }

  // One AudioContext, created (or resumed) on a click so later sounds may play.
  let audio = null;
  function audioContext() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audio) { try { audio = new Ctx(); } catch { audio = null; } }
    return audio;
  }

  function setSound(on) {
    prefs.sound = !!on;
    save();
    if (on) { const a = audioContext(); if (a && a.state === 'suspended') a.resume().catch(() => {}); }
    return prefs.sound;
  }

  /** Two short soft tones (about 0.3 s): enough to notice, not enough to annoy. */
  function beep() {
    if (!prefs.sound) return false;
    const a = audioContext();
    if (!a) return false;
    try {
      const now = a.currentTime;
      for (const [freq, at] of [[880, 0], [1320, 0.14]]) {
        const osc = a.createOscillator();
        const gain = a.createGain();
        osc.type = 'sine';
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, now + at);
        gain.gain.exponentialRampToValueAtTime(0.15, now + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.13);
        osc.connect(gain).connect(a.destination);
        osc.start(now + at);
        osc.stop(now + at + 0.14);
      }
      return true;
    } catch { return false; }
  }

  /**
   * A browser notification when they are on; `tag` replaces an older one about the same thing.
   * onclick focuses the console and runs `onclick`. Returns the Notification or null.
   */
  function show(title, body, tag, onclick) {
    if (!desktopOn()) return null;
    try {
      const n = new window.Notification(String(title).slice(0, 120), {
        body: String(body || '').slice(0, 200), tag: tag || undefined, lang: document.documentElement.lang,
      });
      n.onclick = () => { try { window.focus(); } catch { /* ignore */ } n.close(); if (onclick) onclick(); };
      return n;
    } catch { return null; } // e.g. Android Chrome: only a service worker may show them
  }

  /** The page title with "(n) " in front while n things wait for the agent. */
  function setCount(n, base) {
    const count = Math.max(0, Math.floor(Number(n) || 0));
    const title = count ? `(${count > 99 ? '99+' : count}) ${base}` : base;
    if (document.title !== title) document.title = title;
  }

  window.RDNotify = Object.freeze({
    prefs: () => ({ ...prefs }), permission, desktopOn, setDesktop, setSound, beep, show, setCount,
  });
})();
