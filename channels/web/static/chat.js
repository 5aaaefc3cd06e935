/*
 * 一事通 · 示例市政务服务助手 — citizen web chat.
 *
 * Plain ES2020, no dependencies. Talks to POST /api/chat.
 * Every piece of text that comes from the API or the citizen is inserted with
 * textContent; no API or citizen text is ever parsed as HTML.
 */
(() => {
  'use strict';

  const API_URL = '/api/chat';
  const MODE = 'standard';
  const STORAGE_KEY = 'yishi.sender';
  const SENDER_PREFIX = 'web:';
  const MAX_LEN = 500;
  const REQUEST_TIMEOUT_MS = 60000;

  const TEXT_NETWORK_ERROR = '网络连接失败，请检查网络后重试。';
  const TEXT_GENERIC_ERROR = '服务暂时不可用，请稍后再试。';
  const TEXT_TYPING = '正在输入…';
  const STATE_LABELS = {
    queued: '排队中…',
    agent: '人工客服服务中',
  };

  // ---------------------------------------------------------------- storage

  let memorySender = null; // used when localStorage is unavailable

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (_) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (_) {
      /* private mode or storage disabled: keep it in memory only */
    }
  }

  function storageRemove(key) {
    try {
      window.localStorage.removeItem(key);
    } catch (_) {
      /* ignore */
    }
  }

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    if (window.crypto && typeof window.crypto.getRandomValues === 'function') {
      window.crypto.getRandomValues(buf);
    } else {
      for (let i = 0; i < buf.length; i += 1) {
        buf[i] = Math.floor(Math.random() * 256);
      }
    }
    return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function newId() {
    // randomUUID exists only in secure contexts (https / localhost).
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      try {
        return window.crypto.randomUUID();
      } catch (_) {
        /* fall through */
      }
    }
    return randomHex(16);
  }

  function getSender() {
    if (memorySender) return memorySender;
    let stored = storageGet(STORAGE_KEY);
    if (typeof stored === 'string') stored = stored.trim();
    if (stored && stored.startsWith(SENDER_PREFIX) && stored.length > SENDER_PREFIX.length) {
      memorySender = stored;
    } else if (stored && !stored.includes(':')) {
      memorySender = SENDER_PREFIX + stored; // bare id: add the channel prefix
      storageSet(STORAGE_KEY, memorySender);
    } else {
      memorySender = SENDER_PREFIX + newId();
      storageSet(STORAGE_KEY, memorySender);
    }
    return memorySender;
  }

  function forgetSender() {
    memorySender = null;
    storageRemove(STORAGE_KEY);
  }

  // ---------------------------------------------------------------- DOM helpers

  let els = null;

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  let stickToBottom = true; // false while the citizen has scrolled up to read

  function scrollToBottom() {
    const list = els.messages;
    stickToBottom = true;
    list.scrollTop = list.scrollHeight;
    // Once more after layout settles (fonts, wrapping, mobile keyboards).
    window.requestAnimationFrame(() => {
      list.scrollTop = list.scrollHeight;
    });
  }

  function appendRow(row) {
    // The typing indicator, when shown, always stays last.
    const typing = document.getElementById('typing-indicator');
    if (typing && typing.parentNode === els.messages) {
      els.messages.insertBefore(row, typing);
    } else {
      els.messages.appendChild(row);
    }
    scrollToBottom();
    return row;
  }

  function avatar(kind) {
    // The glyph comes from CSS so rows' textContent holds only message text.
    const node = make('div', `avatar avatar-${kind}`);
    node.setAttribute('aria-hidden', 'true');
    return node;
  }

  function addUserMessage(text) {
    const row = make('div', 'row row-user');
    const stack = make('div', 'stack');
    const bubble = make('div', 'msg user', text);
    stack.appendChild(bubble);
    row.appendChild(avatar('user'));
    row.appendChild(stack);
    return appendRow(row);
  }

  function addSystemMessage(text) {
    const row = make('div', 'row row-system');
    row.appendChild(make('div', 'msg system', text));
    return appendRow(row);
  }

  function asText(value) {
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : String(value);
  }

  // The answer text already ends with its source line; under it we link the full guide.
  function sourceLine(source) {
    if (!source || typeof source !== 'object') return null;
    const name = asText(source.title).trim() || asText(source.service_id).trim();
    if (!name) return null;
    let line = `查看《${name}》完整办事指南`;
    const version = asText(source.guide_version).trim();
    if (version) line += `（版本 ${version}）`;
    return line + ' ›';
  }

  function sourceHref(source) {
    const id = asText(source && source.service_id);
    if (!/^[a-z][a-z0-9_]{1,63}$/.test(id)) return null;
    const aspect = asText(source.aspect);
    return `/guides/${id}` + (/^[a-z_]{2,20}$/.test(aspect) ? `#${aspect}` : '');
  }

  function addBotReply(reply, emergency) {
    if (!reply || typeof reply !== 'object') return null;
    const text = asText(reply.text);
    const buttons = Array.isArray(reply.buttons)
      ? reply.buttons.filter((b) => b && typeof b === 'object' && (asText(b.title) || asText(b.payload)))
      : [];
    const citation = sourceLine(reply.source);
    if (!text.trim() && buttons.length === 0 && !citation) return null;

    const row = make('div', 'row row-bot');
    const stack = make('div', 'stack');

    if (text.trim()) {
      const bubble = make('div', 'msg bot', text);
      if (emergency) {
        bubble.classList.add('emergency');
        bubble.dataset.emergency = 'true';
      }
      stack.appendChild(bubble);
    }

    if (citation) {
      const href = sourceHref(reply.source);
      const link = make(href ? 'a' : 'div', 'source', citation);
      if (href) {
        link.href = href;
        link.target = '_blank';
        link.rel = 'noopener';
      }
      stack.appendChild(link);
    }

    if (buttons.length) {
      const group = make('div', 'reply-buttons');
      group.setAttribute('role', 'group');
      group.setAttribute('aria-label', '可选操作');
      for (const b of buttons) {
        const title = asText(b.title) || asText(b.payload);
        const payload = asText(b.payload) || asText(b.title);
        const btn = make('button', 'reply-button', title);
        btn.type = 'button';
        btn.addEventListener('click', () => {
          sendMessage(payload, title, { fromInput: false });
        });
        group.appendChild(btn);
      }
      stack.appendChild(group);
    }

    row.appendChild(avatar('bot'));
    row.appendChild(stack);
    return appendRow(row);
  }

  function showTyping() {
    if (document.getElementById('typing-indicator')) return;
    const row = make('div', 'row row-bot row-typing');
    row.id = 'typing-indicator';
    const stack = make('div', 'stack');
    const bubble = make('div', 'msg typing');
    bubble.appendChild(make('span', 'typing-text', TEXT_TYPING));
    const dots = make('span', 'typing-dots');
    dots.setAttribute('aria-hidden', 'true');
    for (let i = 0; i < 3; i += 1) dots.appendChild(make('span', 'dot'));
    bubble.appendChild(dots);
    stack.appendChild(bubble);
    row.appendChild(avatar('bot'));
    row.appendChild(stack);
    els.messages.appendChild(row);
    scrollToBottom();
  }

  function hideTyping() {
    const typing = document.getElementById('typing-indicator');
    if (typing) typing.remove();
  }

  function clearMessages() {
    const list = els.messages;
    for (const child of Array.from(list.children)) {
      if (child !== els.hint) child.remove();
    }
  }

  // ---------------------------------------------------------------- state

  function setState(state) {
    if (typeof state !== 'string' || !state) return;
    document.body.dataset.state = state;
    const label = STATE_LABELS[state];
    const bar = els.stateBar;
    if (label) {
      bar.textContent = label;
      bar.dataset.state = state;
      bar.hidden = false;
    } else {
      bar.textContent = '';
      delete bar.dataset.state;
      bar.hidden = true;
    }
  }

  function resetState() {
    delete document.body.dataset.state;
    els.stateBar.textContent = '';
    delete els.stateBar.dataset.state;
    els.stateBar.hidden = true;
  }

  // ---------------------------------------------------------------- sending

  let busy = false;
  let generation = 0; // bumped by 新对话 so late answers of the old chat are dropped
  let controller = null;

  function setBusy(value) {
    busy = value;
    els.send.disabled = value;
    els.messages.setAttribute('aria-busy', value ? 'true' : 'false');
  }

  function restoreInput(text) {
    const current = els.input.value;
    els.input.value = current.trim() ? `${text} ${current}`.slice(0, MAX_LEN) : text;
  }

  async function postChat(text, signal) {
    const response = await fetch(API_URL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ sender: getSender(), text, mode: MODE }),
      signal,
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (response.ok && data && typeof data === 'object') {
      return { ok: true, data };
    }
    const detail = data && typeof data.detail === 'string' ? data.detail.trim() : '';
    return { ok: false, message: detail || TEXT_GENERIC_ERROR };
  }

  function renderAnswer(data) {
    setState(data.state);
    const emergency = Boolean(data.trace && data.trace.emergency);
    const replies = Array.isArray(data.replies) ? data.replies : [];
    for (const reply of replies) addBotReply(reply, emergency);
  }

  /**
   * Send `text` to the assistant, showing `display` as the citizen's bubble.
   * opts.fromInput: the text was typed, so give it back to the input on failure.
   */
  async function sendMessage(text, display, opts = {}) {
    const payload = asText(text).slice(0, MAX_LEN);
    if (busy || !payload.trim()) return false;

    const myGeneration = generation;
    const ctrl = new AbortController();
    controller = ctrl;
    setBusy(true);

    const userRow = addUserMessage(display || payload);
    showTyping();

    const timer = window.setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    let result;
    try {
      result = await postChat(payload, ctrl.signal);
    } catch (_) {
      result = { ok: false, message: TEXT_NETWORK_ERROR };
    } finally {
      window.clearTimeout(timer);
    }

    if (myGeneration !== generation) return false; // 新对话 was pressed meanwhile

    controller = null;
    hideTyping();
    setBusy(false);

    if (result.ok) {
      renderAnswer(result.data);
      return true;
    }
    userRow.classList.add('failed');
    addSystemMessage(result.message);
    if (opts.fromInput) restoreInput(payload);
    return false;
  }

  function submitFromInput() {
    if (busy) return;
    const text = els.input.value.trim();
    if (!text) {
      els.input.value = '';
      return;
    }
    els.input.value = '';
    sendMessage(text, text, { fromInput: true });
  }

  function startNewConversation() {
    generation += 1;
    if (controller) {
      controller.abort();
      controller = null;
    }
    hideTyping();
    setBusy(false);
    forgetSender();
    clearMessages();
    resetState();
    scrollToBottom();
    els.input.focus();
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    els = {
      messages: document.getElementById('messages'),
      hint: document.getElementById('chat-hint'),
      input: document.getElementById('chat-input'),
      send: document.getElementById('chat-send'),
      form: document.getElementById('chat-form'),
      stateBar: document.getElementById('state-bar'),
      newChat: document.getElementById('new-chat'),
      quick: document.getElementById('quick-replies'),
    };

    els.form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitFromInput();
    });

    els.input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      // Enter that confirms an IME candidate (拼音输入法) must not send.
      if (event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      submitFromInput();
    });

    els.quick.addEventListener('click', (event) => {
      const chip = event.target.closest('button.quick-chip');
      if (!chip || !els.quick.contains(chip)) return;
      const text = chip.dataset.text || chip.textContent.trim();
      sendMessage(text, text, { fromInput: false });
    });

    els.newChat.addEventListener('click', (event) => {
      event.preventDefault();
      startNewConversation();
    });
    els.newChat.addEventListener('keydown', (event) => {
      // role="button": Space activates it like a real button.
      if (event.key === ' ') {
        event.preventDefault();
        startNewConversation();
      }
    });

    els.messages.addEventListener('scroll', () => {
      const list = els.messages;
      stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    }, { passive: true });

    // Mobile keyboards resize the viewport; keep the latest message visible
    // unless the citizen has scrolled up on purpose.
    window.addEventListener('resize', () => {
      if (stickToBottom) scrollToBottom();
    });

    getSender(); // create and persist the id up front
    setBusy(false);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
